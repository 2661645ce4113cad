"""Partitions: call days and statistics periods, each crossed with the VOS instance.

Start dates are literals. `end_offset=1` makes the current day, month, quarter and year exist as
partitions: the date dimension is a plain calendar date, and the `cdrs` asset itself refuses a day
that has not yet ended in the instance's own zone.
"""

from __future__ import annotations

import datetime as dt

from dagster import (
    DailyPartitionsDefinition,
    DimensionPartitionMapping,
    DynamicPartitionsDefinition,
    IdentityPartitionMapping,
    MonthlyPartitionsDefinition,
    MultiPartitionKey,
    MultiPartitionMapping,
    MultiPartitionsDefinition,
    TimeWindowPartitionMapping,
    TimeWindowPartitionsDefinition,
)

PARTITIONS_START = "2024-01-01"
DATE_DIMENSION = "date"
INSTANCE_DIMENSION = "instance"

instance_partitions = DynamicPartitionsDefinition(name="vos_instances")

day_partitions = DailyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)
month_partitions = MonthlyPartitionsDefinition(start_date=PARTITIONS_START, end_offset=1)
quarter_partitions = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1,4,7,10 *", start=PARTITIONS_START, fmt="%Y-%m-%d", end_offset=1
)
year_partitions = TimeWindowPartitionsDefinition(
    cron_schedule="0 0 1 1 *", start=PARTITIONS_START[:4], fmt="%Y", end_offset=1
)

PERIOD_PARTITIONS = {
    "day": day_partitions,
    "month": month_partitions,
    "quarter": quarter_partitions,
    "year": year_partitions,
}


def by_instance(date_partitions) -> MultiPartitionsDefinition:
    return MultiPartitionsDefinition(
        {DATE_DIMENSION: date_partitions, INSTANCE_DIMENSION: instance_partitions}
    )


cdr_partitions = by_instance(day_partitions)
statistics_partitions = {period: by_instance(defn) for period, defn in PERIOD_PARTITIONS.items()}


def days_to_period_mapping() -> MultiPartitionMapping:
    """Map a statistics period to every call day inside it, on the same instance.

    Declared explicitly because Dagster would otherwise infer an identity mapping between two
    multi-partitioned assets. Days of the current period that do not exist yet are allowed.
    """
    return MultiPartitionMapping(
        {
            DATE_DIMENSION: DimensionPartitionMapping(
                DATE_DIMENSION,
                TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True),
            ),
            INSTANCE_DIMENSION: DimensionPartitionMapping(
                INSTANCE_DIMENSION, IdentityPartitionMapping()
            ),
        }
    )


def period_key(period_type: str, start: dt.date) -> str:
    """Return the date-dimension key of the period starting on `start`."""
    return str(start.year) if period_type == "year" else start.isoformat()


def period_start_from_key(period_type: str, key: str) -> dt.date:
    if period_type == "year":
        return dt.date(int(key), 1, 1)
    return dt.date.fromisoformat(key)


def partition_key(date_key: str, instance: str) -> MultiPartitionKey:
    return MultiPartitionKey({DATE_DIMENSION: date_key, INSTANCE_DIMENSION: instance})
