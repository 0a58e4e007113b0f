FROM debian:12
RUN useradd -u 1000000 -m app
# want 2:5
