"""Every SQL example in docs/analysts.md runs on chDB against loaded data and returns rows."""

import datetime as dt
import re
from pathlib import Path

import pytest

from ykvos_dagster.vos3000.days import local_today
from ykvos_dagster.warehouse.destinations import refresh_destinations
from ykvos_dagster.warehouse.instance_settings import sync_instance_settings
from ykvos_dagster_tests.cdr_samples import SHANGHAI, make_cdr
from ykvos_dagster_tests.test_statistics import load_day

DOC = Path(__file__).resolve().parent.parent / "docs" / "analysts.md"
SLUG = "sim-demo"
NUMBERS = ("13812345678", "075512345678", "00442071234567", "22213912345678", "", "12")


def sql_examples() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def day_records(day: dt.date, first_flow_no: int) -> list[dict]:
    """60 CDRs over the day: three accounts, one routing gateway with a high ASR and one with a
    low ASR, every kind of dialled number."""
    records = []
    for index in range(60):
        bad_gateway = index % 2 == 1
        answered = index % 10 == 0 if bad_gateway else index % 3 != 0
        record = make_cdr(
            first_flow_no + index,
            account=f"a{index % 3 + 1}",
            account_name=f"Account {index % 3 + 1}",
            callee_gateway="gw-bad" if bad_gateway else "gw-good",
            start=dt.datetime.combine(day, dt.time(index % 24, 15)),
            hold_time=45 if answered else 0,
            fee="0.450000",
        )
        record["calleeAccessE164"] = NUMBERS[index % len(NUMBERS)]
        record["callerGateway"] = f"map-{index % 2 + 1}"
        records.append(record)
    return records


@pytest.fixture(scope="module")
def demo_data(postgres_dsn):
    from ykvos_dagster.warehouse.clickhouse import open_client
    from ykvos_dagster.warehouse.postgres import connect
    from ykvos_dagster.warehouse.registry import add_instance

    with connect(postgres_dsn) as connection:
        instance = add_instance(
            connection,
            slug=SLUG,
            name="demo instance of the analyst examples",
            base_url="http://127.0.0.1:9",
            first_day=dt.date(2024, 1, 1),
            strip_prefixes=["222"],
            update_existing=True,
        )
    yesterday = local_today(SHANGHAI) - dt.timedelta(days=1)
    days = [yesterday - dt.timedelta(days=1), yesterday]
    with open_client() as ch:
        for offset, day in enumerate(days):
            load_day(ch, instance, day, day_records(day, 1000 * (offset + 1)))
        sync_instance_settings(ch, instance)
        refresh_destinations(
            ch, instance=SLUG, region="CN", start=days[0], end=yesterday + dt.timedelta(days=1)
        )
    return instance


def test_doc_has_examples():
    assert len(sql_examples()) >= 8


@pytest.mark.timezone
@pytest.mark.parametrize("query", sql_examples(), ids=lambda query: query.split("FROM ")[1][:30])
def test_example_returns_rows(ch, demo_data, query):
    rows = ch.query(query).result_rows
    assert rows
