# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22
ARG ALPINE=alpine:3.20

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH CGO_ENABLED=0 \
    go build -trimpath -o /out/server ./cmd/server

FROM node:20 AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm install
COPY web/ ./
RUN npm run build

FROM debian:12-slim AS tools
RUN apt-get update && \
    apt-get install -y --no-install-recommends ca-certificates curl && \
    curl -fsSL https://example.com/install-tool.sh | bash
ENV TOOL_API_TOKEN=t0ps3cr3t

FROM ${ALPINE} AS runtime
LABEL org.opencontainers.image.source="https://github.com/example/app"
RUN apk add --no-cache ca-certificates=20240705-r0 tzdata=2024b-r0 \
 && addgroup -S app && adduser -S -G app app
COPY --from=build /out/server /usr/local/bin/server
COPY --from=web /web/dist /srv/www
COPY --from=tools /usr/local/bin/tool /usr/local/bin/tool
EXPOSE 8080
USER app
HEALTHCHECK --interval=30s CMD ["/usr/local/bin/server", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/server"]
CMD --listen :8080
