FROM alpine:3.20
RUN cd /src && make
# want 2:5
