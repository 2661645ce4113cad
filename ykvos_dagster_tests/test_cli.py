"""The `ykvos` command and the embedded engines' behaviour across processes."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ykvos_dagster.cli import main, parse_args

VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def cli_env(postgres_dsn, monkeypatch):
    monkeypatch.setenv("YKVOS_POSTGRES_DSN", postgres_dsn)
    return postgres_dsn


def test_instances_add_list_disable(cli_env, unique_slug, capsys):
    assert (
        main(
            [
                "instances",
                "add",
                unique_slug,
                "--base-url",
                "http://127.0.0.1:9",
                "--first-day",
                "2025-01-01",
                "--timezone",
                "Europe/Berlin",
                "--currency",
                "EUR",
            ]
        )
        == 0
    )
    assert main(["instances", "disable", unique_slug]) == 0
    capsys.readouterr()
    assert main(["instances", "list", "--format", "json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    mine = next(item for item in listed if item["slug"] == unique_slug)
    assert mine["enabled"] is False
    assert mine["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "--base-url",
                "http://127.0.0.1:9",
                "--first-day",
                "2025-01-01",
                "--timezone",
                "Mars/Base",
            ],
            "unknown time zone",
        ),
        (["--base-url", "ftp://host", "--first-day", "2025-01-01"], "not an http(s) URL"),
        (
            ["--base-url", "http://127.0.0.1:9", "--first-day", "2025-01-01", "--currency", "yuan"],
            "ISO 4217",
        ),
    ],
)
def test_instances_add_rejects_bad_config(cli_env, unique_slug, caplog, args, message):
    assert main(["instances", "add", unique_slug, *args]) == 2
    assert message in caplog.text


def test_instances_add_rejects_bad_slug(cli_env, caplog):
    assert (
        main(
            [
                "instances",
                "add",
                "Bad_Slug",
                "--base-url",
                "http://127.0.0.1:9",
                "--first-day",
                "2025-01-01",
            ]
        )
        == 2
    )
    assert "invalid instance slug" in caplog.text


def test_disable_unknown_instance(cli_env, caplog):
    assert main(["instances", "disable", "no-such-instance"]) == 2
    assert "not registered" in caplog.text


def test_sql_postgres_json(cli_env, capsys):
    assert main(["sql", "--postgres", "--format", "json", "SELECT 1 AS one, 'x' AS letter"]) == 0
    assert json.loads(capsys.readouterr().out) == {"one": 1, "letter": "x"}


def test_sql_clickhouse_csv(ykvos_home, capsys):
    assert main(["sql", "--format", "csv", "SELECT 1 AS one, 'x' AS letter"]) == 0
    assert capsys.readouterr().out.splitlines() == ["one,letter", "1,x"]


def test_sql_waits_for_a_running_load(ykvos_home):
    """A second process that needs the embedded engine waits for the lock, then returns rows."""
    from ykvos_dagster.warehouse.clickhouse import open_client

    env = {**os.environ, "YKVOS_HOME": str(ykvos_home)}
    with open_client() as client:
        client.command("SELECT 1")
        process = subprocess.Popen(
            [str(VENV_BIN / "ykvos"), "sql", "--format", "tsv", "SELECT 42 AS answer"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(4)
        still_waiting = process.poll() is None
    stdout, stderr = process.communicate(timeout=120)
    assert still_waiting
    assert process.returncode == 0, stderr
    assert stdout.splitlines()[-1] == "42"
    assert "Waiting up to" in stderr


def test_definitions_validate_without_engines(tmp_path):
    env = {
        **os.environ,
        "YKVOS_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(tmp_path),
        "YKVOS_POSTGRES_DSN": "postgresql://nobody@127.0.0.1:1/none",
        "YKVOS_CLICKHOUSE_URL": "http://127.0.0.1:1",
    }
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [str(VENV_BIN / "dagster"), "definitions", "validate", "-m", "ykvos_dagster.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "home").exists()


def test_malformed_dsn_fails_when_used(monkeypatch, caplog):
    monkeypatch.setenv("YKVOS_POSTGRES_DSN", "host=localhost port=notaport =broken")
    assert main(["sql", "--postgres", "SELECT 1"]) == 2
    assert "not a valid PostgreSQL DSN" in caplog.text


def test_unknown_clickhouse_scheme(monkeypatch, caplog):
    monkeypatch.setenv("YKVOS_CLICKHOUSE_URL", "mysql://host/db")
    assert main(["sql", "SELECT 1"]) == 2
    assert "scheme 'mysql'" in caplog.text


@pytest.mark.parametrize(
    "simulator_args",
    [
        ["--host", "0.0.0.0", "--allow-remote", "--port", "18080"],
        ["--allow-remote", "--host", "0.0.0.0"],
        ["--seed", "3", "--verbose"],
        ["--help"],
        [],
    ],
)
def test_simulator_options_passed_through(simulator_args):
    args = parse_args(["simulator", *simulator_args])
    assert args.command == "simulator"
    assert args.simulator_args == simulator_args


def test_global_option_before_simulator():
    args = parse_args(["-v", "simulator", "--port", "1"])
    assert args.verbose
    assert args.simulator_args == ["--port", "1"]


def test_unknown_option_rejected_outside_simulator():
    with pytest.raises(SystemExit):
        parse_args(["sql", "--no-such-option", "SELECT 1"])
