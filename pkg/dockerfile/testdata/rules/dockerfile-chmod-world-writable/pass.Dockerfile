FROM alpine:3.20
RUN chmod 755 /app && chmod 1777 /tmp/x && chmod u+rwx,go+rx /bin/app && chmod o-w /x
