FROM alpine:3.20 AS build
CMD make
FROM alpine:3.20
ENTRYPOINT ["/app", "--serve"]
