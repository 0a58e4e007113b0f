ARG NPM_TOKEN=npm_default
FROM node:20
ARG DB_PASSWORD=changeme
ENV NPM_TOKEN=$NPM_TOKEN
ENV awsSecretAccessKey=x
# want 1:1
# want 3:1
# want 4:1
# want 5:1
