"""The `cdr_destinations` asset through Dagster's `materialize()`, on real chDB and PostgreSQL."""

import datetime as dt

import pytest
from dagster import DagsterInstance, materialize

from ykvos_dagster.assets.cdrs import cdrs
from ykvos_dagster.assets.destinations import cdr_destinations
from ykvos_dagster.definitions import build_resources
from ykvos_dagster.partitions import instance_partitions, partition_key
from ykvos_dagster_tests.cdr_samples import make_cdr
from ykvos_dagster_tests.test_statistics import load_day

DAY = dt.date(2024, 6, 3)


@pytest.fixture(scope="module")
def dagster_instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def run_destinations(dagster_instance, slug):
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [slug])
    result = materialize(
        [cdrs, cdr_destinations],
        selection=[cdr_destinations],
        partition_key=partition_key(DAY.isoformat(), slug),
        instance=dagster_instance,
        resources=build_resources(),
    )
    return result.asset_materializations_for_node("cdr_destinations")[0].metadata


def test_asset_classifies_every_cdr(dagster_instance, register, unique_slug, ch):
    instance = register(unique_slug, currency="USD", strip_prefixes=["99"])
    records = [make_cdr(1), make_cdr(2), make_cdr(3)]
    records[0]["calleeAccessE164"] = "9913800138000"
    records[1]["calleeAccessE164"] = ""
    records[2]["calleeAccessE164"] = "0085225123456"
    load_day(ch, instance, DAY, records)

    metadata = run_destinations(dagster_instance, unique_slug)
    assert metadata["cdrs"].value == 3
    assert metadata["cdrs_ok"].value == 2
    assert metadata["cdrs_unparseable"].value == 1
    assert metadata["cdrs_pending"].value == 0
    assert metadata["strip_prefixes"].value == "99"
    assert "| CN |" in metadata["preview"].value
    assert "revenue (USD)" in metadata["preview"].value


def test_rerun_parses_no_new_keys(dagster_instance, register, unique_slug, ch):
    instance = register(unique_slug)
    record = make_cdr(1)
    record["calleeAccessE164"] = "13700137000"
    load_day(ch, instance, DAY, [record])

    run_destinations(dagster_instance, unique_slug)
    metadata = run_destinations(dagster_instance, unique_slug)
    assert metadata["keys_parsed"].value == 0
    assert metadata["cdrs_ok"].value == 1


def test_asset_syncs_changed_currency(dagster_instance, register, unique_slug, ch, pg):
    instance = register(unique_slug)
    load_day(ch, instance, DAY, [make_cdr(1)])
    run_destinations(dagster_instance, unique_slug)
    pg.execute("UPDATE vos_instances SET currency = 'EUR' WHERE slug = %s", (unique_slug,))
    pg.commit()

    run_destinations(dagster_instance, unique_slug)
    currency = ch.query(
        "SELECT currency FROM cdr_kpi_daily WHERE instance = {slug:String}",
        parameters={"slug": unique_slug},
    ).result_rows
    assert currency == [("EUR",)]
