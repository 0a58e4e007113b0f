FROM debian:12
RUN apt-get update
RUN apk upgrade --no-cache openssl
RUN yum -y update openssl && yum clean all
