FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends curl=8.5.0-2 && rm -rf /var/lib/apt/lists/*
RUN apt-get -o APT::Install-Recommends=false install -y curl=8.5.0-2 && rm -rf /var/lib/apt/lists/*
