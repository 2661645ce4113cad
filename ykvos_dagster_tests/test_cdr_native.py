"""The typed decoder (`vos3000.cdr_native`): which records it decodes, its money rounding against
`parse_money`, input split at any byte, reply boundaries, rollback, and the Native file read back
by chDB."""

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from ykvos_dagster.vos3000 import cdr_native
from ykvos_dagster.vos3000.cdr import CdrDecodeError, parse_money
from ykvos_dagster.vos3000.cdr_stream import ReplyFormatError
from ykvos_dagster_tests.cdr_samples import REAL_FAILED_CALL, REAL_SERVER_REJECT

pytestmark = pytest.mark.skipif(
    not cdr_native.available(), reason="the C extension _cdr_native is not built"
)


def text(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def read_rows(ch, native_path: Path) -> list[dict]:
    """Rows of a Native file as chDB reads it, in file order."""
    if native_path.stat().st_size == 0:
        return []
    result = ch.query(
        "SELECT *, toString(fee) AS fee_text"
        " FROM file({path:String}, 'Native', {structure:String})",
        parameters={"path": str(native_path), "structure": cdr_native.structure()},
    )
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def decode_texts(ch, tmp_path: Path, texts: list[str]) -> list[dict]:
    spool = tmp_path / "spool.json"
    spool.write_text("[" + ",".join(texts) + "]", encoding="utf-8")
    native = tmp_path / "spool.native"
    cdr_native.decode_json_spool(spool, native)
    return read_rows(ch, native)


def test_plain_record_is_typed(ch, tmp_path):
    rows = decode_texts(ch, tmp_path, [text(REAL_FAILED_CALL), text(REAL_SERVER_REJECT)])
    assert [row["typed"] for row in rows] == [1, 1]
    first = rows[0]
    assert first["flow_no"] == REAL_FAILED_CALL["flowNo"]
    assert first["account"] == REAL_FAILED_CALL["account"]
    assert first["end_reason"] == REAL_FAILED_CALL["endReason"]
    assert first["raw"] == ""


# (description, change to REAL_FAILED_CALL's text, expected typed flag)
CASES = [
    ("escaped string", ('"account":"', '"account":"\\n'), 0),
    ("number as text field", ('"callerE164":"', '"callerE164":1,"x":"'), 0),
    ("string number", ('"endReason":503', '"endReason":"503"'), 0),
    ("fraction in integer", ('"endReason":503', '"endReason":503.0'), 0),
    ("exponent in money", ('"fee":0', '"fee":1e-3'), 0),
    ("leading zero", ('"endReason":503', '"endReason":0503'), 0),
    ("duplicate member", ('"endReason":503', '"endReason":503,"endReason":504'), 0),
    ("missing required member", ('"holdTime":0,', ""), 0),
    ("null optional member", ('"billingType":0', '"billingType":null'), 1),
    ("null required member", ('"holdTime":0', '"holdTime":null'), 0),
    ("unknown scalar member", ('"fee":0', '"fee":0,"extra":true'), 1),
    ("unknown nested member", ('"fee":0', '"fee":0,"extra":[1,{"a":2}]'), 0),
    ("invalid literal", ('"fee":0', '"fee":0,"extra":tru'), 0),
    ("whitespace", ('"fee":0', '"fee" : 0 '), 1),
    ("int16 overflow", ('"callLevel":4', '"callLevel":32768'), 0),
    ("negative uint", ('"holdTime":0', '"holdTime":-1'), 0),
    ("instant in seconds", ('"stop":', '"stop":1760922383,"x":'), 0),
]


@pytest.mark.parametrize(("description", "change", "typed"), CASES, ids=[c[0] for c in CASES])
def test_typed_only_when_unambiguous(ch, tmp_path, description, change, typed):
    sent = text(REAL_FAILED_CALL).replace(*change, 1)
    assert sent != text(REAL_FAILED_CALL), description
    (row,) = decode_texts(ch, tmp_path, [sent])
    assert row["typed"] == typed
    if not typed:
        assert row["raw"] == sent


def test_invalid_utf8_left_to_sql(ch, tmp_path):
    spool = tmp_path / "spool.json"
    good = text(REAL_FAILED_CALL).encode()
    bad = good.replace(b'"account":"', b'"account":"\xff', 1)
    spool.write_bytes(b"[" + good + b"," + bad + b"]")
    native = tmp_path / "spool.native"
    decoding = cdr_native.decode_json_spool(spool, native)
    assert (decoding.typed_rows, decoding.other_rows) == (1, 1)


def test_stop_before_start_left_to_sql(ch, tmp_path):
    record = {**REAL_FAILED_CALL, "stop": REAL_FAILED_CALL["start"] - 1}
    (row,) = decode_texts(ch, tmp_path, [text(record)])
    assert row["typed"] == 0


def money_texts(seed: int, count: int) -> list[str]:
    generator = random.Random(seed)
    texts = ["0", "-0", "0.0000005", "0.0000015", "0.0000025", "-0.0000025", "999999999999.999999"]
    texts += ["999999999999.9999995", "1000000000000", "0.12345650000000000001", "123456.1234565"]
    for _ in range(count):
        whole = str(generator.randrange(0, 10 ** generator.randrange(1, 13)))
        decimals = "".join(
            generator.choice("0123456789") for _ in range(generator.randrange(0, 12))
        )
        sign = "-" if generator.random() < 0.2 else ""
        texts.append(f"{sign}{whole}.{decimals}" if decimals else f"{sign}{whole}")
        # Ties at the seventh decimal, which only exact decimal rounding gets right.
        texts.append(f"{whole}.{decimals[:6].ljust(6, '0')}5")
    return texts


def test_money_matches_parse_money(ch, tmp_path):
    texts = money_texts(seed=7, count=400)
    records = [
        text({**REAL_FAILED_CALL, "flowNo": number, "fee": 0}).replace('"fee":0', f'"fee":{money}')
        for number, money in enumerate(texts)
    ]
    rows = decode_texts(ch, tmp_path, records)
    assert len(rows) == len(texts)
    for money, row in zip(texts, rows, strict=True):
        try:
            expected = parse_money(Decimal(money))
        except CdrDecodeError:
            assert row["typed"] == 0, money  # too large for Decimal(18, 6)
            continue
        assert row["typed"] == 1, money
        assert Decimal(row["fee_text"]) == expected, money


def test_input_split_at_any_byte(ch, tmp_path):
    records = [text({**REAL_FAILED_CALL, "flowNo": n}) for n in range(3)]
    records.append(text({**REAL_FAILED_CALL, "flowNo": 3, "endReason": "5"}))
    content = ",".join(records).encode()
    expected = None
    for cut in range(0, len(content), 7):
        native = tmp_path / f"split-{cut}.native"
        spool = cdr_native.NativeSpool(native)
        spool.write_records(content[:cut], first_of_reply=True)
        spool.write_records(content[cut:], first_of_reply=False)
        spool.end_reply()
        spool.close()
        rows = read_rows(ch, native)
        if expected is None:
            expected = rows
        assert rows == expected, cut
    assert [row["typed"] for row in expected] == [1, 1, 1, 0]


def test_replies_join_without_comma(ch, tmp_path):
    native = tmp_path / "replies.native"
    spool = cdr_native.NativeSpool(native)
    for number in range(3):
        spool.write_records(text({**REAL_FAILED_CALL, "flowNo": number}).encode(), True)
        spool.end_reply()
    spool.close()
    assert [row["flow_no"] for row in read_rows(ch, native)] == [0, 1, 2]
    assert spool.other_rows == 0


def test_reply_ending_inside_record_rejected(tmp_path):
    spool = cdr_native.NativeSpool(tmp_path / "cut.native")
    spool.write_records(text(REAL_FAILED_CALL)[:50].encode(), first_of_reply=True)
    with pytest.raises(ReplyFormatError, match="inside a record"):
        spool.end_reply()
    with pytest.raises(ReplyFormatError, match="inside a record"):
        spool.write_records(text(REAL_FAILED_CALL).encode(), first_of_reply=True)
    spool.close()


@pytest.mark.parametrize("content", [b"]", b"{} {}", b'{"a":1}]', b"[1]", b'{"a" 1}'])
def test_malformed_content_rejected(tmp_path, content):
    spool = cdr_native.NativeSpool(tmp_path / "bad.native")
    with pytest.raises(ReplyFormatError, match="infoCdrs array"):
        spool.write_records(content, first_of_reply=True)
        spool.end_reply()
    spool.close()


def test_rollback_drops_reply(ch, tmp_path):
    native = tmp_path / "rollback.native"
    spool = cdr_native.NativeSpool(native)
    spool.write_records(text({**REAL_FAILED_CALL, "flowNo": 1}).encode(), True)
    spool.end_reply()
    mark = spool.mark()
    spool.write_records(text({**REAL_FAILED_CALL, "flowNo": 2}).encode(), True)
    spool.mark()  # flushes the second reply's rows to the file
    spool.rollback(mark)
    spool.write_records(text({**REAL_FAILED_CALL, "flowNo": 3}).encode(), True)
    spool.end_reply()
    spool.close()
    assert [row["flow_no"] for row in read_rows(ch, native)] == [1, 3]


def test_resume_appends_after_mark(ch, tmp_path):
    native = tmp_path / "resume.native"
    spool = cdr_native.NativeSpool(native)
    spool.write_records(text({**REAL_FAILED_CALL, "flowNo": 1}).encode(), True)
    spool.end_reply()
    mark = spool.mark()
    spool.write_records(text({**REAL_FAILED_CALL, "flowNo": 2}).encode(), True)
    spool.close()  # an attempt that wrote more than it recorded

    resumed = cdr_native.NativeSpool.resume(native, mark)
    assert resumed.other_rows is None
    resumed.write_records(text({**REAL_FAILED_CALL, "flowNo": 3}).encode(), True)
    resumed.end_reply()
    resumed.close()
    assert [row["flow_no"] for row in read_rows(ch, native)] == [1, 3]


def test_json_spool_errors(tmp_path):
    spool = tmp_path / "spool.json"
    for content in ("", "[", "[{}", "{}", "[{}]x", "[{},]"):
        spool.write_text(content, encoding="utf-8")
        with pytest.raises(cdr_native.SpoolFormatError):
            cdr_native.decode_json_spool(spool, tmp_path / "out.native")


def test_empty_array_writes_no_rows(tmp_path):
    spool = tmp_path / "spool.json"
    spool.write_text(" [ ] ", encoding="utf-8")
    native = tmp_path / "out.native"
    decoding = cdr_native.decode_json_spool(spool, native)
    assert (decoding.typed_rows, decoding.other_rows) == (0, 0)
    assert native.stat().st_size == 0
