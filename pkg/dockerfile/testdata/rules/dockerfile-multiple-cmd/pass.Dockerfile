FROM alpine:3.20 AS build
CMD ["x"]
FROM alpine:3.20
ENTRYPOINT ["/a"]
CMD ["y"]
