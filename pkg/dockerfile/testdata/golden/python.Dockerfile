FROM python:3.12
MAINTAINER ops@example.com
ENV AWS_ACCESS_KEY=AKIAIOSFODNN7EXAMPLE \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR app
COPY requirements.txt .
RUN pip install -r requirements.txt && pip install gunicorn
# mamori:ignore=dockerfile-chmod-world-writable uploads dir shared with a sidecar
RUN mkdir -p /app/uploads && chmod 777 /app/uploads
# mamori:ignore=dockerfile-not-a-rule
COPY . .
EXPOSE 8000 22
CMD gunicorn app:app
