# want 3:1
ARG PY=3.12
FROM python:${PY}-slim
