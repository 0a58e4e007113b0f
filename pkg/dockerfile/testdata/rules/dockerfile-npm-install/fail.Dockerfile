FROM node:20
RUN npm install --omit=dev
RUN npm i
# want 2:5
# want 3:5
