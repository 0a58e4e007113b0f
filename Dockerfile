# The mamori image: a static binary on distroless, non-root. Kubernetes
# probes the webhook (/healthz), so the image declares no HEALTHCHECK.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/mamori ./cmd/mamori

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mamori /usr/local/bin/mamori
USER 65532:65532
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/mamori"]
