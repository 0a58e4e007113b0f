FROM alpine:3.20
RUN chmod 777 /app
RUN mkdir /data && chmod -R a+rwx /data
RUN chmod 0666 /etc/app.conf
# want 2:5
# want 3:20
# want 4:5
