FROM debian:12
RUN apt-get update && apt-get -y dist-upgrade
RUN apk upgrade --no-cache
RUN yum -y update && yum clean all
# want 2:23
# want 3:5
# want 4:5
