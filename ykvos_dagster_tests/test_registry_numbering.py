"""Numbering rules in the instance registry: default region and routing prefixes to strip."""

import datetime as dt

import pytest

from ykvos_dagster import cli
from ykvos_dagster.warehouse.registry import add_instance, get_instance


def test_defaults_are_cn_without_prefixes(register, unique_slug):
    instance = register(unique_slug)
    assert instance.default_region == "CN"
    assert instance.strip_prefixes == ()


def test_rules_are_stored_longest_first(register, unique_slug, pg):
    register(unique_slug, default_region="VN", strip_prefixes=["9", "222", "2222"])
    instance = get_instance(pg, unique_slug)
    assert instance.default_region == "VN"
    assert instance.strip_prefixes == ("2222", "222", "9")


def test_update_replaces_rules(register, unique_slug, pg):
    register(unique_slug, strip_prefixes=["222"])
    add_instance(
        pg,
        slug=unique_slug,
        name="renamed",
        base_url="http://127.0.0.1:9",
        first_day=dt.date(2024, 1, 1),
        default_region="US",
        update_existing=True,
    )
    instance = get_instance(pg, unique_slug)
    assert instance.default_region == "US"
    assert instance.strip_prefixes == ()


def test_unknown_region_is_rejected(register, unique_slug):
    with pytest.raises(ValueError, match="unknown region 'XX'"):
        register(unique_slug, default_region="XX")


def test_invalid_strip_prefix_is_rejected(register, unique_slug):
    with pytest.raises(ValueError, match="invalid strip prefix '2-2'"):
        register(unique_slug, strip_prefixes=["2-2"])


def test_cli_add_with_region_and_prefixes(postgres_dsn, unique_slug, pg, capsys):
    code = cli.main(
        [
            "instances",
            "add",
            unique_slug,
            "--base-url",
            "http://127.0.0.1:9",
            "--first-day",
            "2024-01-01",
            "--region",
            "CN",
            "--strip-prefix",
            "222",
            "--strip-prefix",
            "17951",
        ]
    )
    assert code == 0
    instance = get_instance(pg, unique_slug)
    assert instance.strip_prefixes == ("17951", "222")

    assert cli.main(["instances", "list", "--format", "csv"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith(unique_slug)]
    assert '"17951,222"' in listed[0]


def test_cli_rejects_unknown_region(postgres_dsn, unique_slug, caplog):
    code = cli.main(
        [
            "instances",
            "add",
            unique_slug,
            "--base-url",
            "http://127.0.0.1:9",
            "--first-day",
            "2024-01-01",
            "--region",
            "Mars",
        ]
    )
    assert code == 2
    assert "unknown region 'Mars'" in caplog.text
