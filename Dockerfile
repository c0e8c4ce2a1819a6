# syntax=docker/dockerfile:1
# The churn pipelines in an image. Two targets:
#   docker build --target production  -t churn-mlops:latest .     slim: the pinned set and the project, run as a user
#   docker build --target development -t churn-mlops:dev .        + git tools, the test and lint set, make
# deploy/k8s runs churn-mlops:latest (the CronJobs and the local-mode model server).

FROM python:3.11-slim-bookworm AS base
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MLFLOW_DISABLE_TELEMETRY=true \
    DO_NOT_TRACK=true \
    DVC_NO_ANALYTICS=1 \
    HF_HUB_OFFLINE=1 \
    FEAST_USAGE=False \
    MLOPS_WORKSPACE=/workspace \
    PYTHONPATH=/app
# git: DVC's data registry and UC6's deployment repo are git repos
RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app

FROM base AS deps
COPY requirements.txt .
RUN pip install uv && uv pip install --system --compile-bytecode -r requirements.txt

FROM deps AS production
# the whole project (.dockerignore leaves out what a run writes and the caches): every use-case folder comes with
# it, whatever its name, so a new use case needs no line here (common.usecases finds it in /app)
COPY . .
# the scripts import common/ and the use cases from /app (PYTHONPATH), as `pip install -e .` does on a laptop
RUN useradd --uid 10001 --create-home mlops && mkdir -p /workspace && chown mlops /workspace
USER 10001
EXPOSE 8085
CMD ["python", "run_all.py"]

FROM production AS development
USER root
RUN apt-get update && apt-get install -y --no-install-recommends make postgresql-client redis-tools \
    && rm -rf /var/lib/apt/lists/*
USER 10001
CMD ["python", "-m", "pytest", "tests/unit"]
