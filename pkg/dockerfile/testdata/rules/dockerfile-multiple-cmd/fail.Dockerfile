FROM alpine:3.20
ENTRYPOINT ["/a"]
CMD ["x"]
ENTRYPOINT ["/b"]
CMD ["y"]
# want 2:1
# want 3:1
