ARG AWS_KEY
FROM alpine:3.20
ENV A=1 CLOUD_ACCESS=not-a-key
LABEL deploy.key="none"
