# The ykvos-dagster image: the code location with Dagster's webserver and daemon. docker-compose.yml
# runs the webserver, the daemon, the code server and the simulator from it, each with its own
# command; Dagster runs also execute in it (in the code server's container by default).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    YKVOS_HOME=/var/lib/ykvos

WORKDIR /opt/ykvos

# Dependencies first, pinned by constraints.txt, so that a code change does not reinstall them.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; project = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(project['dependencies']))" > requirements.txt \
    && pip install -c constraints.txt -r requirements.txt

# Extra packages for another run launcher, for example
# --build-arg EXTRA_PIP_PACKAGES="dagster-docker==0.29.27" or "dagster-k8s==0.29.27".
ARG EXTRA_PIP_PACKAGES=""
RUN if [ -n "$EXTRA_PIP_PACKAGES" ]; then pip install -c constraints.txt $EXTRA_PIP_PACKAGES; fi

# The project itself, installed in place: the migrations in sql/ and clickhouse/ are read from
# next to the package.
# gcc builds the typed CDR decoder (ykvos_dagster/vos3000/_cdr_native.c) and is removed again; the
# import check fails the build if the extension is missing, because pulls would then decode with
# the slower SQL path alone.
COPY setup.py ./
COPY ykvos_dagster ./ykvos_dagster
COPY sql ./sql
COPY clickhouse ./clickhouse
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install --no-deps -e . \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/* \
    && python -c "import ykvos_dagster.vos3000._cdr_native" \
    && python -c "from ykvos_dagster.warehouse.migrations import schema_folder; schema_folder('sql'); schema_folder('clickhouse')"

COPY dagster.yaml /opt/dagster/home/dagster.yaml
COPY deploy/dagster/workspace.yaml /opt/dagster/workspace.yaml

RUN useradd --system --uid 10001 --home-dir /var/lib/ykvos --create-home ykvos \
    && mkdir -p /opt/dagster/home/storage \
    && chown -R ykvos:ykvos /opt/dagster/home /var/lib/ykvos
USER ykvos

EXPOSE 3000 4000 18080
CMD ["dagster", "code-server", "start", "--host", "0.0.0.0", "--port", "4000", \
     "--module-name", "ykvos_dagster.definitions", "--location-name", "ykvos_dagster"]
