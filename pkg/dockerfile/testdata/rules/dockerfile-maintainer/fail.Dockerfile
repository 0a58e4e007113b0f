FROM alpine:3.20
MAINTAINER someone@example.com
# want 2:1
