FROM alpine:3.20
WORKDIR /src
RUN make && (cd docs && make)
RUN make && cd /x && make install
RUN cd /src
