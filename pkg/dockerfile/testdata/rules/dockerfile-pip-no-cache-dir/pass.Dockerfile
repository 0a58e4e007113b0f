FROM python:3.12-slim AS base
RUN pip install --no-cache-dir flask==3.0.3
RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt
ENV PIP_NO_CACHE_DIR=1
RUN pip install -r requirements.txt
FROM base
RUN pip install -r requirements.txt
