"""Run retention: deleting old runs keeps the run of each asset partition's latest event."""

import datetime as dt

import pytest
from dagster import (
    AssetKey,
    DagsterInstance,
    StaticPartitionsDefinition,
    asset,
    build_schedule_context,
    job,
    materialize,
    op,
)

from ykvos_dagster.maintenance import (
    RUN_RETENTION_ENV,
    purge_old_runs,
    purge_old_runs_schedule,
    run_retention_days,
)

letters = StaticPartitionsDefinition(["a", "b", "c"])


@asset(partitions_def=letters)
def letter(context) -> None:
    if context.partition_key == "c":
        raise RuntimeError("partition c always fails")


@op
def noop() -> None:
    pass


@job
def plain_job():
    noop()


@pytest.fixture
def dagster_instance():
    with DagsterInstance.ephemeral() as instance:
        yield instance


def materialize_letter(instance, key: str) -> str:
    result = materialize([letter], partition_key=key, instance=instance, raise_on_error=False)
    return result.run_id


def run_ids(instance) -> set[str]:
    return {record.dagster_run.run_id for record in instance.get_run_records()}


def test_purge_keeps_latest_partition_runs(dagster_instance):
    first_a = materialize_letter(dagster_instance, "a")
    second_a = materialize_letter(dagster_instance, "a")
    only_b = materialize_letter(dagster_instance, "b")
    first_c = materialize_letter(dagster_instance, "c")
    second_c = materialize_letter(dagster_instance, "c")
    plain = plain_job.execute_in_process(instance=dagster_instance).run_id

    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    result = purge_old_runs(dagster_instance, created_before=future)

    assert result.examined == 6
    assert result.deleted == 3
    assert result.kept == 3
    assert run_ids(dagster_instance) == {second_a, only_b, second_c}
    assert first_a not in run_ids(dagster_instance)
    assert first_c not in run_ids(dagster_instance)
    assert plain not in run_ids(dagster_instance)


def test_purge_keeps_materialized_partitions(dagster_instance):
    for key in ("a", "a", "b"):
        materialize_letter(dagster_instance, key)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    purge_old_runs(dagster_instance, created_before=future)
    materialized = dagster_instance.get_materialized_partitions(AssetKey("letter"))
    assert materialized == {"a", "b"}


def test_purge_skips_recent_runs(dagster_instance):
    materialize_letter(dagster_instance, "a")
    materialize_letter(dagster_instance, "a")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    result = purge_old_runs(dagster_instance, created_before=past)
    assert result.examined == 0
    assert len(run_ids(dagster_instance)) == 2


def test_purge_respects_limit(dagster_instance):
    for _ in range(3):
        plain_job.execute_in_process(instance=dagster_instance)
    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    result = purge_old_runs(dagster_instance, created_before=future, limit=2)
    assert result.deleted == 2
    assert len(run_ids(dagster_instance)) == 1


@pytest.mark.parametrize(("raw", "expected"), [("", None), ("0", None), ("90", 90)])
def test_retention_days_parsed(monkeypatch, raw, expected):
    monkeypatch.setenv(RUN_RETENTION_ENV, raw)
    assert run_retention_days() == expected


@pytest.mark.parametrize("raw", ["two weeks", "6", "-1"])
def test_invalid_retention_rejected(monkeypatch, raw):
    monkeypatch.setenv(RUN_RETENTION_ENV, raw)
    with pytest.raises(ValueError, match=RUN_RETENTION_ENV):
        run_retention_days()


def test_schedule_skips_without_retention(monkeypatch):
    monkeypatch.delenv(RUN_RETENTION_ENV, raising=False)
    result = purge_old_runs_schedule(build_schedule_context())
    assert "not set" in result.skip_message


def test_schedule_requests_run_with_retention(monkeypatch):
    monkeypatch.setenv(RUN_RETENTION_ENV, "90")
    result = purge_old_runs_schedule(build_schedule_context())
    assert result.run_key is None


def test_definitions_include_purge_schedule():
    from ykvos_dagster.definitions import defs

    schedule = defs.resolve_schedule_def("purge_old_runs_schedule")
    assert schedule.job_name == "purge_old_runs_job"
    assert defs.resolve_job_def("purge_old_runs_job").name == "purge_old_runs_job"
