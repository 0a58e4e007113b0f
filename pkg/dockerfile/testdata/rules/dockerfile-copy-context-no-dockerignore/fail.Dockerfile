FROM alpine:3.20
COPY . .
ADD ./ /app/
COPY ["*", "/src/"]
# want 2:1
# want 3:1
# want 4:1
