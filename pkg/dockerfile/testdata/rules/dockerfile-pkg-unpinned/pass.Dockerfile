FROM python:3.12-slim
RUN apt-get install -y --no-install-recommends curl=7.88.1-10 ./local.deb && rm -rf /var/lib/apt/lists/*
RUN apk add --no-cache --virtual .build-deps gcc=13.2.1-r0 musl-dev~1.2
RUN pip install --no-cache-dir -r requirements.txt && pip install --no-cache-dir --upgrade pip
RUN pip install --no-cache-dir . /wheels/app-1.0-py3-none-any.whl "flask>=3,<4" git+https://github.com/x/y@v1
RUN npm install -g typescript@5.4.5 @angular/cli@18.0.0
RUN gem install rails -v 7.1.3 && gem install bundler:2.5.6
RUN apt-get install -y --no-install-recommends $PACKAGES && rm -rf /var/lib/apt/lists/*
