FROM alpine:3.20 AS build
HEALTHCHECK CMD true
FROM alpine:3.20
USER 1000
# want 3:1
