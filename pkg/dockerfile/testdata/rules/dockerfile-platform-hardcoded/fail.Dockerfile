# want 2:1
FROM --platform=linux/amd64 alpine:3.20
