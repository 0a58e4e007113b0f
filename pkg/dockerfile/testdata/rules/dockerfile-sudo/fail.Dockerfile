FROM debian:12
RUN sudo apt-get update
RUN echo x && \
    sudo -u app touch /x
# want 2:5
# want 4:5
