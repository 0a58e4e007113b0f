FROM alpine:3.20 AS b
COPY src/ /app/src/
COPY go.mod go.sum ./
FROM alpine:3.20
COPY --from=b . .
