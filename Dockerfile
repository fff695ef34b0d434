# syntax=docker/dockerfile:1
# The broker's image: a build stage makes a virtual environment with the server (pgjobbroker) and
# the Python SDK (pgjobbroker-client, for `broker worker`, `broker stats` and friends), with the
# `otel` extra so that OTEL_EXPORTER_OTLP_ENDPOINT turns trace export on (docs/observability.md); the runtime
# stage copies only that environment and runs as an unprivileged user. It needs DATABASE_URL: the
# image carries no embedded PostgreSQL (compose.yaml brings one up beside it).
#
#   docker build -t pgjobbroker .
#   docker run -e DATABASE_URL=postgresql://user:pass@db:5432/broker -p 50051:50051 -p 8080:8080 pgjobbroker

ARG PYTHON_IMAGE=python:3.12-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
COPY clients/python ./clients/python
RUN python -m venv /opt/broker \
    && /opt/broker/bin/pip install --no-cache-dir ".[otel]" ./clients/python

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="pgjobbroker" \
      org.opencontainers.image.description="A PostgreSQL-backed job broker with a gRPC API" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 broker \
    && useradd --system --uid 10001 --gid broker --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin broker
COPY --from=build /opt/broker /opt/broker
ENV PATH=/opt/broker/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    BROKER_GRPC_ADDR=0.0.0.0:50051 \
    BROKER_HTTP_ADDR=0.0.0.0:8080
USER 10001:10001
EXPOSE 50051 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
ENTRYPOINT ["broker"]
CMD ["serve"]
