FROM debian:12
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y curl=8.5.0-2 \
 && rm -rf /var/lib/apt/lists/*
# want 3:5
