FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends curl=8.5.0-2
RUN rm -rf /var/lib/apt/lists/*
# want 2:23
