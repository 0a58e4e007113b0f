FROM debian:12
RUN useradd -l -u 1000000 -m app
RUN useradd --no-log-init --uid=1000000 app2
RUN useradd -u 10001 app3
