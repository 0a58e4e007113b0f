FROM alpine:3.20
EXPOSE 80 22
EXPOSE 20-25/tcp
# want 2:1
# want 3:1
