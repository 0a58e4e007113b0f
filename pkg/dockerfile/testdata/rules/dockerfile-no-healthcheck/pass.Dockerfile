FROM alpine:3.20 AS base
HEALTHCHECK --interval=30s CMD wget -q -O /dev/null http://localhost/
FROM base
FROM alpine:3.20
HEALTHCHECK NONE
