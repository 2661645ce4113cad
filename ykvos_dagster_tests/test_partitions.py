"""The declared mapping from call days to statistics periods, per instance."""

import pytest
from dagster import DagsterInstance, MultiPartitionKey

from ykvos_dagster.partitions import cdr_partitions, days_to_period_mapping, statistics_partitions


@pytest.fixture(scope="module")
def dynamic_store():
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("vos_instances", ["gz-01", "sh-02"])
        yield instance


@pytest.mark.parametrize(
    ("period", "date_key", "first", "last", "days"),
    [
        ("day", "2024-02-29", "2024-02-29", "2024-02-29", 1),
        ("month", "2024-02-01", "2024-02-01", "2024-02-29", 29),
        ("quarter", "2024-10-01", "2024-10-01", "2024-12-31", 92),
        ("year", "2024", "2024-01-01", "2024-12-31", 366),
    ],
)
def test_period_maps_to_its_days(dynamic_store, period, date_key, first, last, days):
    downstream = statistics_partitions[period]
    subset = downstream.empty_subset().with_partition_keys(
        [MultiPartitionKey({"date": date_key, "instance": "gz-01"})]
    )
    result = days_to_period_mapping().get_upstream_mapped_partitions_result_for_partitions(
        subset, downstream, cdr_partitions, dynamic_partitions_store=dynamic_store
    )
    keys = sorted(result.partitions_subset.get_partition_keys())
    assert len(keys) == days
    assert keys[0] == f"{first}|gz-01"
    assert keys[-1] == f"{last}|gz-01"
    assert all(key.endswith("|gz-01") for key in keys)
