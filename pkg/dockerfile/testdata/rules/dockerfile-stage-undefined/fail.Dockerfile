FROM golang:1.22 AS build
COPY --from=biuld /out /out
COPY --from=3 /out /out
RUN --mount=type=bind,from=missing,target=/src make
FROM later AS early
FROM alpine:3.20 AS later
# want 2:1
# want 3:1
# want 4:1
# want 5:1
