FROM python:3.12-slim
RUN apt-get install -y --no-install-recommends curl git=1:2.39.2-1 && rm -rf /var/lib/apt/lists/*
RUN apk add --no-cache --virtual .build-deps gcc
RUN pip install --no-cache-dir flask requests==2.32.3
RUN npm install -g typescript @angular/cli@18.0.0 @scope/pkg
RUN gem install rails
# want 2:5
# want 3:5
# want 4:5
# want 5:5
# want 6:5
