FROM alpine:3.20
ENTRYPOINT /app --serve
CMD exec /app
# want 2:1
# want 3:1
