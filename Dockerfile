# The Hardship Monitor's image for docker-compose.yml: every `hardship` command (worker, serve, connector).
# Dependencies come from PyPI only (pip); the RocksDB table store via the `rocksdb` extra (rocksdict wheels).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HARDSHIP_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY models ./models
COPY scoring ./scoring
COPY streams ./streams
COPY connectors ./connectors
COPY workbench ./workbench
RUN pip install ".[rocksdb]" \
 && useradd --create-home --uid 10001 hardship \
 && mkdir -p /data /drop \
 && chown hardship:hardship /data /drop

USER hardship
VOLUME ["/data"]
# 6066 worker /metrics, 8080 workbench, 8088 HTTP push, 9101-9104 connector /metrics
EXPOSE 6066 8080 8088 9101 9102 9103 9104
ENTRYPOINT ["hardship"]
CMD ["--help"]
