FROM alpine:3.20
WORKDIR app
# want 2:1
