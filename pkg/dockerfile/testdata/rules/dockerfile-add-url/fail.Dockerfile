FROM alpine:3.20
ADD https://example.com/tool /usr/local/bin/tool
ADD git@github.com:moby/buildkit.git#v0.31.2 /src
# want 2:1
# want 3:1
