FROM alpine:3.20
RUN apk add --no-cache curl=8.9.1-r2
RUN apk add curl=8.9.1-r2 && rm -rf /var/cache/apk/*
RUN --mount=type=cache,target=/var/cache/apk apk add curl=8.9.1-r2
