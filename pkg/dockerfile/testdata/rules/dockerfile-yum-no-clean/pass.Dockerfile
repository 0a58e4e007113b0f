FROM rockylinux:9
RUN dnf install -y httpd-2.4.57 && dnf clean all
RUN yum -y install nginx && rm -rf /var/cache/yum
RUN --mount=type=cache,target=/var/cache/dnf dnf install -y git
RUN zypper install -y git && zypper clean -a
