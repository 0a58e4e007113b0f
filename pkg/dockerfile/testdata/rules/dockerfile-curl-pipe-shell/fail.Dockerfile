FROM debian:12
RUN set -e; \
    curl -fsSL https://sh.example.com | sh
RUN bash <(curl -s https://x.example.com/i.sh)
RUN apk add curl && wget -qO- https://x.example.com | gunzip | sudo -E bash -s -- -y
RUN ["sh", "-c", "curl -sL https://x.example.com | bash"]
RUN sh -c "$(curl -fsSL https://x.example.com/install.sh)"
# want 3:5
# want 4:12
# want 5:21
# want 6:1
# want 7:5
RUN eval $(wget -qO- https://x.example.com/env)
# want 13:5
