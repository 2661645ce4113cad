"""Dagster UI metadata of the assets besides their data: column schemas, freshness policies and
the metadata of a materialization."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from dagster import FreshnessPolicy, MetadataValue, TableColumn, TableSchema

from ykvos_dagster.metadata import (
    CDR_STATISTICS_COLUMNS,
    CDRS_COLUMNS,
    DESTINATION_PREFIXES_COLUMNS,
    Column,
)

COLUMN_SCHEMA_KEY = "dagster/column_schema"
ROW_COUNT_KEY = "dagster/row_count"
PREVIEW_KEY = "preview"


def table_schema(columns: Sequence[Column]) -> TableSchema:
    return TableSchema(
        columns=[
            TableColumn(name=column.name, type=column.type, description=column.description)
            for column in columns
        ]
    )


CDRS_SCHEMA = table_schema(CDRS_COLUMNS)
CDR_STATISTICS_SCHEMA = table_schema(CDR_STATISTICS_COLUMNS)
DESTINATION_PREFIXES_SCHEMA = table_schema(DESTINATION_PREFIXES_COLUMNS)

# Each enabled instance's previous call day is pulled once its local time passes 01:30, and the
# daily statistics follow within minutes, so both assets normally materialize at least once every
# 24 hours. The margins leave room for a slow pull. Dagster 1.13 evaluates these policies per
# asset, not per partition: one instance that stops pulling while others go on does not show
# here, but its failed runs do (run_failure_webhook_sensor).
DAILY_FRESHNESS = FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=30), warn_window=dt.timedelta(hours=26)
)


def preview_metadata(markdown: str) -> dict:
    return {PREVIEW_KEY: MetadataValue.md(markdown)}
