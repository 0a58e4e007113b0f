FROM golang:1.22 AS build
FROM alpine:3.20
COPY --from=build /out /out
COPY --from=BUILD /out /out
COPY --from=0 /out /out
COPY --from=busybox:1.36 /bin/sh /bin/sh
COPY --from=ghcr.io/x/y /a /a
RUN --mount=type=bind,from=build,target=/src make
