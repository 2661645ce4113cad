#!/bin/sh
# Creates the database of Dagster's own storage ($DAGSTER_POSTGRES_DB) next to $POSTGRES_DB.
# The postgres image runs this only when it initialises an empty data volume.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v dagster_db="$DAGSTER_POSTGRES_DB" <<'SQL'
SELECT format('CREATE DATABASE %I', :'dagster_db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'dagster_db')\gexec
SQL
