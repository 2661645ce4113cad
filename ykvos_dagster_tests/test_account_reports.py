"""The account report asset and the reconciliation of `cdrs` partitions against it, on chDB,
the embedded PostgreSQL and the simulator over HTTP, and the comparison rules alone."""

import datetime as dt
from decimal import Decimal

import pytest
from dagster import DagsterInstance, materialize

from ykvos_dagster.assets.account_reports import account_detail_reports, cdrs_match_account_report
from ykvos_dagster.assets.cdrs import cdrs
from ykvos_dagster.definitions import build_resources, defs
from ykvos_dagster.partitions import instance_partitions, partition_key
from ykvos_dagster.reconciliation import (
    FEE_TOLERANCE_ENV,
    differences_markdown,
    fee_tolerance,
    reconcile,
)
from ykvos_dagster.warehouse.account_reports import AccountTotals

DAY = dt.date(2025, 3, 14)


def totals(count, fee, seconds):
    return AccountTotals(count, Decimal(fee), seconds)


# The comparison.


def test_reconcile_equal_totals_pass():
    cdrs_side = {"a": totals(3, "1.20", 180), "b": totals(1, "0", 0)}
    result = reconcile(cdrs_side, dict(cdrs_side))
    assert result.passed
    assert result.accounts_compared == 2
    assert result.cdr_totals == totals(4, "1.20", 180)


def test_reconcile_fee_within_tolerance():
    result = reconcile({"a": totals(3, "1.2000", 180)}, {"a": totals(3, "1.2049", 180)})
    assert result.passed


def test_reconcile_fee_beyond_tolerance():
    result = reconcile({"a": totals(3, "1.20", 180)}, {"a": totals(3, "1.22", 180)})
    assert [difference.account for difference in result.differences] == ["a"]
    assert result.differences[0].fee_difference == Decimal("-0.02")


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (totals(3, "1", 180), totals(4, "1", 180)),
        (totals(3, "1", 180), totals(3, "1", 181)),
    ],
)
def test_reconcile_counts_and_seconds_exact(ours, theirs):
    assert not reconcile({"a": ours}, {"a": theirs}).passed


def test_reconcile_account_missing_in_cdrs():
    result = reconcile({}, {"a": totals(2, "0.5", 60)})
    assert result.differences[0].cdrs == totals(0, "0", 0)


def test_reconcile_account_missing_in_report():
    result = reconcile({"a": totals(2, "0.5", 60)}, {})
    assert result.differences[0].report == totals(0, "0", 0)


def test_reconcile_idle_report_row_equal():
    assert reconcile({}, {"a": totals(0, "0", 0)}).passed


def test_differences_markdown_lists_accounts():
    result = reconcile(
        {"x|y": totals(1, "1", 60)}, {"x|y": totals(2, "1", 60), "z": totals(1, "0", 0)}
    )
    text = differences_markdown(result.differences)
    assert "x\\|y" in text
    assert "| z | 0 | 1 |" in text


def test_differences_markdown_limit():
    result = reconcile({}, {f"a{n}": totals(1, "0", 0) for n in range(5)})
    assert "3 more accounts differ" in differences_markdown(result.differences, limit=2)


def test_fee_tolerance_from_env(monkeypatch):
    monkeypatch.setenv(FEE_TOLERANCE_ENV, "0.5")
    assert fee_tolerance() == Decimal("0.5")
    monkeypatch.setenv(FEE_TOLERANCE_ENV, "-1")
    with pytest.raises(ValueError, match=FEE_TOLERANCE_ENV):
        fee_tolerance()


# Through Dagster.


@pytest.fixture(scope="module")
def dagster_instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def key(slug, day=DAY):
    return partition_key(day.isoformat(), slug)


def run_cdrs_and_check(dagster_instance, slug):
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [slug])
    return materialize(
        [cdrs, cdrs_match_account_report],
        partition_key=key(slug),
        instance=dagster_instance,
        resources=build_resources(),
    )


def run_reports_job(dagster_instance, slug):
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [slug])
    return defs.resolve_job_def("account_reports_job").execute_in_process(
        partition_key=str(key(slug)),
        instance=dagster_instance,
        resources=build_resources(),
    )


def run_report(dagster_instance, slug, day=DAY):
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [slug])
    return materialize(
        [account_detail_reports],
        partition_key=key(slug, day),
        instance=dagster_instance,
        resources=build_resources(),
    )


def evaluation_of(result):
    (evaluation,) = [
        evaluation
        for evaluation in result.get_asset_check_evaluations()
        if evaluation.check_name == "cdrs_match_account_report"
    ]
    return evaluation


def test_report_rows_match_simulator(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    result = run_report(dagster_instance, unique_slug)
    expected = simulator.switch.per_account(DAY)
    rows = pg.execute(
        "SELECT account, cdr_count, total_fee, total_time FROM account_detail_reports"
        " WHERE instance = %s AND report_day = %s",
        (unique_slug, DAY),
    ).fetchall()
    assert {account: (count, fee, seconds) for account, count, fee, seconds in rows} == {
        account: (t["calls"], t["fee"], t["billed_seconds"]) for account, t in expected.items()
    }
    metadata = result.asset_materializations_for_node("account_detail_reports")[0].metadata
    assert metadata["cdr_count"].value == sum(t["calls"] for t in expected.values())
    assert metadata["accounts_requested"].value == len(simulator.switch.accounts())


def test_report_bucket_is_local_day(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    run_report(dagster_instance, unique_slug)
    begin, end = pg.execute(
        "SELECT DISTINCT begin_time, end_time FROM account_detail_reports"
        " WHERE instance = %s AND report_day = %s",
        (unique_slug, DAY),
    ).fetchone()
    assert begin == dt.datetime(2025, 3, 13, 16, tzinfo=dt.UTC)
    assert end == dt.datetime(2025, 3, 14, 16, tzinfo=dt.UTC)


def test_report_rerun_replaces_rows(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    run_report(dagster_instance, unique_slug)
    run_report(dagster_instance, unique_slug)
    count, loads = pg.execute(
        "SELECT (SELECT count(*) FROM account_detail_reports WHERE instance = %s),"
        " (SELECT count(*) FROM account_detail_report_loads WHERE instance = %s)",
        (unique_slug, unique_slug),
    ).fetchone()
    assert count == len(simulator.switch.per_account(DAY))
    assert loads == 1


def test_report_replies_cached(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    run_report(dagster_instance, unique_slug)
    interfaces = pg.execute(
        "SELECT DISTINCT interface FROM vos_data_cache WHERE instance = %s ORDER BY 1",
        (unique_slug,),
    ).fetchall()
    assert interfaces == [("GetAllCustomers",), ("GetReportCustomerFee",)]


def test_check_passes_with_stored_report(dagster_instance, register, simulator, unique_slug):
    register(unique_slug, simulator)
    run_report(dagster_instance, unique_slug)
    evaluation = evaluation_of(run_cdrs_and_check(dagster_instance, unique_slug))
    assert evaluation.passed
    assert evaluation.metadata["report_source"].value == "account_detail_reports"
    assert evaluation.metadata["cdr_count"].value == simulator.switch.day_totals(DAY)["calls"]
    assert evaluation.metadata["differing_accounts"].value == 0


def test_check_asks_switch_without_stored_report(
    dagster_instance, register, simulator, unique_slug
):
    register(unique_slug, simulator)
    evaluation = evaluation_of(run_cdrs_and_check(dagster_instance, unique_slug))
    assert evaluation.passed
    assert evaluation.metadata["report_source"].value == "GetReportCustomerFee"


def test_check_fails_on_seeded_mismatch(dagster_instance, register, simulator, unique_slug, pg):
    register(unique_slug, simulator)
    run_report(dagster_instance, unique_slug)
    run_cdrs_and_check(dagster_instance, unique_slug)
    first, second = sorted(simulator.switch.per_account(DAY))[:2]
    pg.execute(
        "UPDATE account_detail_reports SET cdr_count = cdr_count + 1"
        " WHERE instance = %s AND account = %s",
        (unique_slug, first),
    )
    pg.execute(
        "UPDATE account_detail_reports SET total_fee = total_fee + 0.5"
        " WHERE instance = %s AND account = %s",
        (unique_slug, second),
    )
    pg.commit()
    evaluation = evaluation_of(run_cdrs_and_check(dagster_instance, unique_slug))
    assert not evaluation.passed
    assert evaluation.metadata["differing_accounts"].value == 2
    table = evaluation.metadata["differences"].value
    assert first in table
    assert second in table


def test_check_fails_without_cdrs(dagster_instance, register, simulator, unique_slug):
    register(unique_slug, simulator)
    evaluation = evaluation_of(run_reports_job(dagster_instance, unique_slug))
    assert not evaluation.passed
    assert evaluation.metadata["cdr_count"].value == 0


def test_reports_job_runs_report_and_check(dagster_instance, register, simulator, unique_slug):
    register(unique_slug, simulator)
    run_cdrs_and_check(dagster_instance, unique_slug)
    result = run_reports_job(dagster_instance, unique_slug)
    assert result.success
    evaluation = evaluation_of(result)
    assert evaluation.passed
    assert evaluation.metadata["report_source"].value == "account_detail_reports"


def test_cdrs_job_includes_check():
    job = defs.resolve_job_def("cdrs_job")
    names = {key.name for key in job.asset_layer.asset_graph.asset_check_keys}
    assert "cdrs_match_account_report" in names


def test_report_of_unfinished_day_rejected(dagster_instance, register, simulator, unique_slug):
    register(unique_slug, simulator, timezone="America/Los_Angeles")
    dagster_instance.add_dynamic_partitions(instance_partitions.name, [unique_slug])
    today = dt.datetime.now(dt.UTC).date()
    result = materialize(
        [account_detail_reports],
        partition_key=key(unique_slug, today),
        instance=dagster_instance,
        resources=build_resources(),
        raise_on_error=False,
    )
    assert not result.success
