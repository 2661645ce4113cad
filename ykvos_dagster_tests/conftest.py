"""Shared fixtures: one embedded PostgreSQL server and one chDB folder per test session, both in
a temporary `YKVOS_HOME`, and VOS3000 simulators served over HTTP on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ykvos_dagster.warehouse import embedded_postgres

_slug_counter = itertools.count(1)


@pytest.fixture(scope="session")
def ykvos_home() -> Iterator:
    # Not under pytest's base temp folder: every pytest run as root resets that folder to mode
    # 0700, which locks the embedded server's system user out of a running session's data.
    home = Path(tempfile.mkdtemp(prefix="ykvos-test-home-"))
    previous = {key: os.environ.get(key) for key in ("YKVOS_HOME", "DAGSTER_HOME")}
    os.environ["YKVOS_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    (home / "dagster").mkdir()
    (home / "dagster" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    for key in ("YKVOS_CLICKHOUSE_URL", "YKVOS_POSTGRES_DSN", "YKVOS_CLICKHOUSE_CLUSTER"):
        os.environ.pop(key, None)
    yield home
    shutil.rmtree(home, ignore_errors=True)
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def postgres_dsn(ykvos_home) -> Iterator[str]:
    """The embedded server, started once for the session and stopped by PID at its end."""
    data_path = ykvos_home / "postgres"
    dsn = embedded_postgres.start(data_path)
    yield dsn
    embedded_postgres.stop(data_path)


@pytest.fixture
def pg(postgres_dsn):
    from ykvos_dagster.warehouse.postgres import connect

    with connect(postgres_dsn) as connection:
        yield connection


@pytest.fixture
def ch(ykvos_home):
    from ykvos_dagster.warehouse.clickhouse import open_client

    with open_client() as client:
        yield client


@pytest.fixture
def unique_slug() -> str:
    """A fresh instance slug, so that tests sharing the engines never see each other's rows."""
    return f"t{os.getpid()}-{next(_slug_counter)}"


@pytest.fixture(scope="session")
def simulator():
    """A default simulator (seed 7, 40 accounts, 1,500 CDRs a day, Shanghai time)."""
    from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig
    from ykvos_dagster.simulator.server import SimulatorServer

    switch = SimulatedSwitch(
        SimulatorConfig(seed=7, instance="test", accounts=40, daily_cdrs=1_500)
    )
    with SimulatorServer(switch) as server:
        yield server


@pytest.fixture
def register(pg):
    """Register an instance with no pause between requests, pointing at `server` (a
    SimulatorServer) or at a closed local port."""
    from ykvos_dagster.warehouse.registry import add_instance

    def _register(slug: str, server=None, **overrides):
        values = {
            "slug": slug,
            "name": f"test {slug}",
            "base_url": server.url if server else "http://127.0.0.1:9",
            "timezone": "Asia/Shanghai",
            "first_day": dt.date(2024, 1, 1),
            "pause_seconds": 0,
            "timeout_seconds": 30,
        }
        values.update(overrides)
        instance = add_instance(pg, **values)
        pg.commit()
        return instance

    return _register


@pytest.fixture(autouse=True)
def no_stale_defs_state_storage(monkeypatch):
    """Hide a Dagster definitions-state storage whose instance is gone.

    Entering a DagsterInstance sets a context variable to its storage, which keeps only a weak
    reference to the instance. When that instance has been garbage-collected, a later
    `materialize()` fails with "Attempted to resolve undefined DagsterInstance weakref" (seen
    with dagster 1.13.27, also in the middle of a test). So the variable is cleared before each
    test, and such a storage reads as none. The project stores no definitions state.
    """
    # NOTE: private Dagster API; remove this fixture once Dagster resets the variable itself.
    from dagster._core.storage.defs_state.base import DefsStateStorage, _current_storage

    def live_storage():
        storage = _current_storage.get()
        reference = getattr(storage, "_instance_weakref", None)
        if storage is not None and (reference is None or reference() is None):
            return None
        return storage

    monkeypatch.setattr(DefsStateStorage, "get", staticmethod(live_storage))
    token = _current_storage.set(None)
    yield
    try:
        _current_storage.reset(token)
    except ValueError:
        _current_storage.set(None)
