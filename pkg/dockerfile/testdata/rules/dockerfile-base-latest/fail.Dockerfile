# want 4:1
# want 5:1
ARG VERSION=latest
FROM alpine AS a
FROM docker.io/library/nginx:${VERSION}
