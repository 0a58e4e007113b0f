FROM alpine:3.20
COPY app.conf /etc/app.conf
ADD rootfs.tar.gz /
ADD https://example.com/x.tgz /tmp/
ADD ${SRC} /src
