"""`ykvos export`: CDRs of a range of call days to Parquet or CSV, on real chDB."""

import datetime as dt
import sys
from decimal import Decimal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from ykvos_dagster import cli
from ykvos_dagster.warehouse import export
from ykvos_dagster.warehouse.export import arrow_types, export_cdrs, format_for
from ykvos_dagster_tests.cdr_samples import make_cdr
from ykvos_dagster_tests.test_statistics import load_day

DAY = dt.date(2024, 8, 1)
NEXT_DAY = DAY + dt.timedelta(days=1)


@pytest.fixture
def exported(ch, register, unique_slug):
    """An instance with 5 CDRs on DAY and 2 on NEXT_DAY; another with 1 CDR on DAY."""
    instance = register(unique_slug)
    other = register(f"{unique_slug}-other")
    records = [make_cdr(index, fee="0.123457") for index in range(1, 6)]
    records[0]["accountName"] = 'quote " comma , and\nnewline'
    load_day(ch, instance, DAY, records)
    load_day(ch, instance, NEXT_DAY, [make_cdr(11), make_cdr(12, hold_time=0)])
    load_day(ch, other, DAY, [make_cdr(21)])
    return instance


def run_export(ch, tmp_path, slug, name="out.parquet", **options):
    values = {"start": DAY, "end": NEXT_DAY, "instance": slug, "export_format": None}
    values.update(options)
    return export_cdrs(ch, output=tmp_path / name, **values)


def test_parquet_has_rows_and_types(ch, exported, tmp_path):
    result = run_export(ch, tmp_path, exported.slug)
    table = pq.read_table(result.path)
    assert result.rows == 7
    assert table.num_rows == 7
    assert table.schema.field("fee").type == pa.decimal128(18, 6)
    assert table.schema.field("start").type == pa.timestamp("ms", tz="UTC")
    assert table.schema.field("call_day").type == pa.date32()
    assert table.schema.field("billing_type").nullable
    assert "raw" not in table.schema.names
    assert table.column("fee").to_pylist()[0] == Decimal("0.123457")


def test_parquet_keeps_instants_in_utc(ch, exported, tmp_path):
    result = run_export(ch, tmp_path, exported.slug, start=DAY, end=DAY)
    starts = pq.read_table(result.path).column("start").to_pylist()
    # make_cdr's default start is 2024-05-10 12:00 in Shanghai, 04:00 UTC.
    assert starts[0] == dt.datetime(2024, 5, 10, 4, 0, tzinfo=dt.UTC)


def test_csv_round_trip(ch, exported, tmp_path):
    result = run_export(ch, tmp_path, exported.slug, name="out.csv")
    table = pa_csv.read_csv(
        result.path,
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(column_types={"flow_no": pa.int64()}),
    )
    assert table.num_rows == 7
    assert table.column("flow_no").to_pylist() == [1, 2, 3, 4, 5, 11, 12]
    assert 'quote " comma , and\nnewline' in table.column("account_name").to_pylist()


def test_include_raw(ch, exported, tmp_path):
    result = run_export(ch, tmp_path, exported.slug, include_raw=True)
    raw = pq.read_table(result.path).column("raw").to_pylist()
    assert '"flowNo"' in raw[0]


def test_all_instances_without_filter(ch, exported, tmp_path):
    result = run_export(ch, tmp_path, None, start=DAY, end=DAY)
    instances = set(pq.read_table(result.path).column("instance").to_pylist())
    assert {exported.slug, f"{exported.slug}-other"} <= instances


def test_streams_in_batches(ch, register, unique_slug, tmp_path, monkeypatch):
    instance = register(unique_slug)
    load_day(ch, instance, DAY, [make_cdr(index) for index in range(1, 301)])
    monkeypatch.setattr(export, "_CSV_BLOCK_BYTES", 16_384)
    monkeypatch.setattr(export, "PARQUET_ROW_GROUP_ROWS", 50)
    batches = []
    result = run_export(ch, tmp_path, instance.slug, on_rows=batches.append)
    assert len(batches) > 1
    assert sum(batches) == 300
    assert pq.ParquetFile(result.path).metadata.num_row_groups > 1


def test_progress_total(ch, exported, tmp_path):
    totals = []
    run_export(ch, tmp_path, exported.slug, on_start=totals.append)
    assert totals == [7]


def test_empty_range_writes_schema(ch, exported, tmp_path):
    day = dt.date(2020, 1, 1)
    result = run_export(ch, tmp_path, exported.slug, start=day, end=day)
    table = pq.read_table(result.path)
    assert result.rows == 0
    assert table.num_rows == 0
    assert "flow_no" in table.schema.names


def test_failed_export_keeps_existing_file(ch, exported, tmp_path):
    output = tmp_path / "out.parquet"
    output.write_bytes(b"previous")

    def fail(rows):
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        run_export(ch, tmp_path, exported.slug, overwrite=True, on_rows=fail)
    assert output.read_bytes() == b"previous"
    assert [path.name for path in tmp_path.iterdir()] == ["out.parquet"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"start": NEXT_DAY, "end": DAY}, "is after the last call day"),
        ({"instance": "Bad Slug"}, "invalid instance slug"),
        ({"name": "missing/out.parquet"}, "does not exist"),
        ({"name": "out.txt"}, "pass --format parquet or csv"),
        ({"export_format": "xlsx"}, "unknown export format"),
    ],
)
def test_invalid_request(ch, exported, tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        run_export(ch, tmp_path, exported.slug, **options)


def test_existing_output_needs_overwrite(ch, exported, tmp_path):
    (tmp_path / "out.parquet").write_bytes(b"x")
    with pytest.raises(ValueError, match="pass --overwrite"):
        run_export(ch, tmp_path, exported.slug)


def test_unknown_instance(ch, exported, tmp_path):
    with pytest.raises(LookupError, match="has no CDRs"):
        run_export(ch, tmp_path, "no-such-instance")


@pytest.mark.parametrize(
    ("clickhouse_type", "parse_type", "output_type", "nullable"),
    [
        ("LowCardinality(String)", pa.string(), pa.string(), False),
        ("Nullable(Int16)", pa.int16(), pa.int16(), True),
        ("Decimal(18, 6)", pa.decimal128(18, 6), pa.decimal128(18, 6), False),
        ("DateTime64(3, 'UTC')", pa.timestamp("ms"), pa.timestamp("ms", tz="UTC"), False),
    ],
)
def test_arrow_types(clickhouse_type, parse_type, output_type, nullable):
    assert arrow_types(clickhouse_type) == (parse_type, output_type, nullable)


def test_arrow_types_rejects_unknown():
    with pytest.raises(ValueError, match="cannot export"):
        arrow_types("Map(String, UInt8)")


def test_format_from_suffix(tmp_path):
    assert format_for(tmp_path / "a.CSV", None) == "csv"
    assert format_for(tmp_path / "a.csv", "parquet") == "parquet"


def test_cli_export(ch, exported, tmp_path, capsys):
    ch.close()
    output = tmp_path / "cdrs.csv"
    code = cli.main(
        [
            "export",
            "--from",
            DAY.isoformat(),
            "--to",
            NEXT_DAY.isoformat(),
            "--instance",
            exported.slug,
            "--output",
            str(output),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    assert "exported 7 CDRs" in captured.out
    assert "100%" not in captured.err
    assert output.read_text(encoding="utf-8").startswith('"instance"')


def test_cli_reports_bad_range(exported, tmp_path, caplog):
    code = cli.main(
        [
            "export",
            "--from",
            "2024-08-02",
            "--to",
            "2024-08-01",
            "--output",
            str(tmp_path / "x.csv"),
        ]
    )
    assert code == 2
    assert "is after the last call day" in caplog.text


def test_cli_progress_bar_on_terminal(exported, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    output = tmp_path / "cdrs.parquet"
    code = cli.main(
        ["export", "--from", DAY.isoformat(), "--to", DAY.isoformat(), "--output", str(output)]
    )
    assert code == 0
    assert "100%" in capsys.readouterr().err
