FROM rockylinux:9
RUN dnf install -y httpd-2.4.57
RUN yum -y install nginx && echo done
# want 2:5
# want 3:5
