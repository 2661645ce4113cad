"""Decoding of InfoCdr records inside ClickHouse, with the rules of `decode_cdr`.

Both SELECTs built here read a source of raw records (one column `json String` holding one
InfoCdr object each, for example `file(..., 'JSONAsString')`) and return every column of `cdrs`
plus `reason`, with each record parsed once into a tuple of texts.

- `fast_decode_select` handles the common record (compact JSON, integers as plain digits, money
  of at most 18 decimals without an exponent) with vectorised expressions only. Its `reason` is ''
  for a decoded record and `NEEDS_EXACT_DECODING` for any other.
- `decode_select` applies every rule exactly and gives the reason a record cannot be stored
  without inventing a value, worded like `CdrDecodeError`. Its short-circuit branches cost more per
  record, so it runs only on the records the fast one passes on.

Rules, shared with `decode_cdr`:

- Text fields must be JSON strings. Only `calleeBilling` and `billingType` may be missing (NULL).
- Integers are JSON numbers or numeric strings with an integral value, within the column's range.
- Instants are epoch milliseconds between 2001-09-09 and 2100-01-01 UTC.
- Money is read from the JSON text of the number (`simpleJSONExtractRaw`), never through a float,
  and rounded half to even to 6 places.
- `stop` must not be before `start`; `start_day` is the date of `start` in the instance's zone.
- `raw` is the record text exactly as the switch sent it.
"""

from __future__ import annotations

from ykvos_dagster.vos3000.cdr import (
    _INT_LIMITS,
    _MAX_EPOCH_MS,
    _MIN_EPOCH_MS,
    _UINT_MAX,
    CDR_FIELDS,
    CdrField,
)

# Columns filled from the pull rather than from the record, as query parameters.
CONTEXT_PARAMETERS = {
    "instance": "String",
    "instance_uuid": "UUID",
    "call_day": "Date",
    "loaded_at": "DateTime64(3, 'UTC')",
    "zone": "String",
}

# Settings `decode_select` needs: `force_enable` evaluates the costly branches of if() and
# multiIf() only for the records that reach them.
DECODE_SETTINGS = {"short_circuit_function_evaluation": "force_enable"}
# The `reason` of `fast_decode_select` for a record that `decode_select` must decode.
NEEDS_EXACT_DECODING = "needs exact decoding"
# Settings `fast_decode_select` should run with. Its expressions never raise, and evaluating them
# for every record took 42% less CPU than short-circuit evaluation with its masks (chDB 4.4, 355k
# simulator records).
FAST_DECODE_SETTINGS = {"short_circuit_function_evaluation": "disable"}
# Text fields whose values usually start like numbers (E164 numbers, IP addresses, rate
# prefixes). The fast path checks in the record that they were sent as strings; other fields that
# start like numbers take the exact path.
_NUMERIC_TEXT_FIELDS = (
    "callerip",
    "calleeip",
    "callerE164",
    "callerAccessE164",
    "callerToGatewayE164",
    "calleeE164",
    "calleeAccessE164",
    "calleeToGatewayE164",
    "feePrefix",
    "agentFeePrefix",
)
# First bytes of the texts that JSONExtract gives for numbers, arrays and objects: '-', '0'..'9',
# '[', '{'. Booleans give 'true' and 'false'.
_NON_STRING_FIRST_BYTES = "45, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 91, 123"

# A money text of at most 20 characters without an exponent has at most 18 decimals, so
# Decimal128 with 18 places stores it exactly. Longer texts take Decimal256 with 40 places.
# NOTE: a text with more than 40 decimals is truncated at the 40th before rounding. That changes a
# result only when the 7th to 40th decimals are exactly 5000...0, which doubles written by Java
# never produce.
_SHORT_MONEY_TEXT = 20
_LONG_MONEY_SCALE = 40
_MAX_MONEY = "999999999999.999999"
_NON_STRING_STARTS = "'-','0','1','2','3','4','5','6','7','8','9','t','f','[','{'"
_LABEL = "if(v_flowNo IS NULL, 'CDR without flowNo', concat('flowNo ', v_flowNo))"


def _value(field: CdrField) -> str:
    return f"v_{field.api_name}"


def _number(field: CdrField) -> str:
    return f"n_{field.column}"


def _money(field: CdrField) -> str:
    return f"d_{field.column}"


def _range(field: CdrField) -> tuple[int, int, str]:
    if field.kind == "time":
        return _MIN_EPOCH_MS, _MAX_EPOCH_MS, "is not an epoch-millisecond instant"
    if field.kind == "uint":
        return 0, _UINT_MAX, f"is outside 0..{_UINT_MAX}"
    low, high = _INT_LIMITS[field.column]
    return low, high, f"is outside {low}..{high}"


def _integer(text: str) -> str:
    """Nullable Int64 of a text holding an integral number. Plain integers take the fast path;
    texts such as `7.0` or " -69 " the exact Decimal one."""
    exact = f"toDecimal256OrNull(trimBoth({text}), {_LONG_MONEY_SCALE})"
    integral = f"if({exact} = round({exact}, 0), toInt64OrNull(toString(round({exact}, 0))), NULL)"
    fast = f"toInt64OrNull({text})"
    return f"if(isNotNull({fast}) OR {text} IS NULL, {fast}, {integral})"


def _money_text(field: CdrField) -> str:
    raw = f"trimBoth(simpleJSONExtractRaw(json, '{field.api_name}'))"
    return f"if(startsWith({raw}, '\"'), trimBoth({_value(field)}), {raw})"


def _money_value(text: str) -> str:
    """Nullable Decimal(38, 6) of a money text, rounded half to even; NULL if it is no number or
    does not fit Decimal(18, 6)."""
    short = (
        f"length({text}) <= {_SHORT_MONEY_TEXT}"
        f" AND position({text}, 'e') = 0 AND position({text}, 'E') = 0"
    )
    fast = f"toDecimal128(roundBankers(toDecimal128OrNull({text}, 18), 6), 6)"
    exact = f"roundBankers(toDecimal256OrNull({text}, {_LONG_MONEY_SCALE}), 6)"
    fitting = f"if(abs({exact}) <= toDecimal256('{_MAX_MONEY}', 6), {exact}, NULL)"
    rounded = f"if({short}, {fast}, toDecimal128OrNull(toString({fitting}), 6))"
    return f"if(abs({rounded}) <= toDecimal128('{_MAX_MONEY}', 6), {rounded}, NULL)"


def _is_string(field: CdrField) -> str:
    # The tuple contains the text of a number, bool, array or object too, so a value that could
    # be one of those is looked up in the record: first as `"name":"` (compact JSON), then by type.
    value = _value(field)
    needle = f'"{field.api_name}":"'
    return (
        f"(substring({value}, 1, 1) NOT IN ({_NON_STRING_STARTS})"
        f" OR position(json, '{needle}') > 0 OR JSONType(json, '{field.api_name}') = 'String')"
    )


def _checks(field: CdrField) -> list[tuple[str, str]]:
    """(failure condition, reason) pairs of one field, in the order `decode_cdr` checks them."""
    value = _value(field)
    prefix = f"concat({_LABEL}, ': field {field.api_name}"
    checks = []
    if not field.nullable:
        checks.append((f"{value} IS NULL", f"{prefix} is missing')"))
    present = f"{value} IS NOT NULL AND " if field.nullable else ""
    if field.kind == "str":
        checks.append(
            (f"{present}NOT {_is_string(field)}", f"{prefix}: ', {value}, ' is not a string')")
        )
    elif field.kind == "money":
        text = f"m_{field.column}"
        checks += [
            (f"{text} = ''", f"{prefix}: the number text cannot be read from the record')"),
            (
                f"{_money(field)} IS NULL",
                f"{prefix}: money value ', {text}, ' is not a number that fits Decimal(18, 6)')",
            ),
        ]
    else:
        number = _number(field)
        low, high, detail = _range(field)
        checks += [
            (f"{present}{number} IS NULL", f"{prefix}: ', {value}, ' is not an integer')"),
            (
                f"{present}NOT ({number} BETWEEN {low} AND {high})",
                f"{prefix}: ', toString({number}), ' {detail}')",
            ),
        ]
    return checks


def _reason() -> str:
    all_missing = " AND ".join(f"{_value(field)} IS NULL" for field in CDR_FIELDS)
    checks = [
        (all_missing, "'record is not a JSON object with InfoCdr fields'"),
        *(check for field in CDR_FIELDS for check in _checks(field)),
        (
            "n_stop < n_start",
            f"concat({_LABEL}, ': stop ', toString(n_stop), ' is before start ',"
            " toString(n_start))",
        ),
    ]
    # The sum of UInt8 flags is evaluated for every record without short-circuit masks, because
    # the masks would cost more than the checks. multiIf builds a reason only for failures.
    failures = " + ".join(f"toUInt8(ifNull({condition}, 1))" for condition, _ in checks)
    pairs = ", ".join(f"{condition}, {message}" for condition, message in checks)
    return f"if(({failures}) = 0, '', multiIf({pairs}, ''))"


def _column_value(field: CdrField) -> str:
    """SQL of a column of a decoded record; records with a reason get placeholders."""
    value = _value(field)
    if field.kind == "str":
        return f"ifNull({value}, '')"
    if field.kind == "money":
        # Records whose money does not fit are rejected, and the placeholder 0 keeps toDecimal64
        # from raising an overflow for them.
        money = f"ifNull({_money(field)}, 0)"
        return f"toDecimal64(if(abs({money}) <= {_MAX_MONEY}, {money}, 0), 6)"
    number = f"ifNull({_number(field)}, 0)"
    if field.kind == "time":
        return f"fromUnixTimestamp64Milli({number}, 'UTC')"
    if field.kind == "uint":
        return f"toUInt32({number})"
    conversion = {"flow_no": "toInt64", "end_reason": "toInt32"}.get(field.column, "toInt16")
    if field.nullable:
        return f"if({value} IS NULL, NULL, {conversion}({number}))"
    return f"{conversion}({number})"


def _fast_money(text: str) -> str:
    # Texts that fit Decimal128 with 18 places exactly; the gate passes only those.
    return f"toDecimal128(roundBankers(toDecimal128OrNull({text}, 18), 6), 6)"


def _fast_failures() -> list[str]:
    """UInt8 flags, 1 where the fast path cannot decide a field of the record."""
    flags = []
    for field in CDR_FIELDS:
        value = _value(field)
        if field.kind == "str":
            looks_non_string = (
                f"(ascii({value}) IN ({_NON_STRING_FIRST_BYTES}) OR {value} IN ('true', 'false'))"
            )
            if field.api_name in _NUMERIC_TEXT_FIELDS:
                index = _NUMERIC_TEXT_FIELDS.index(field.api_name) + 1
                string_sent = f"positions[{index}] > 0"
                flags.append(f"{value} IS NULL OR ({looks_non_string} AND NOT {string_sent})")
            else:
                flags.append(f"{value} IS NULL OR {looks_non_string}")
        elif field.kind == "money":
            text = f"m_{field.column}"
            short = (
                f"length({text}) BETWEEN 1 AND {_SHORT_MONEY_TEXT}"
                f" AND position({text}, 'e') = 0 AND position({text}, 'E') = 0"
            )
            money = _money(field)
            flags.append(
                f"NOT ({short} AND {money} IS NOT NULL"
                f" AND abs({money}) <= toDecimal128('{_MAX_MONEY}', 6))"
            )
        else:
            number = _number(field)
            low, high, _ = _range(field)
            valid = f"{number} IS NOT NULL AND {number} BETWEEN {low} AND {high}"
            if field.nullable:
                flags.append(f"NOT ({value} IS NULL OR ({valid}))")
            else:
                flags.append(f"NOT ({valid})")
    flags.append("n_stop < n_start")
    return [f"toUInt8(ifNull({flag}, 1))" for flag in flags]


def fast_decode_select(source: str) -> str:
    """Return the SELECT that decodes the common records of `source` with vectorised expressions;
    `reason` is `NEEDS_EXACT_DECODING` for the others. Run it with `FAST_DECODE_SETTINGS`."""
    needles = ", ".join(f'\'"{name}":"\'' for name in _NUMERIC_TEXT_FIELDS)
    texts = ["*", f"multiSearchAllPositions(json, [{needles}]) AS positions"]
    for field in CDR_FIELDS:
        if field.kind == "money":
            texts.append(f"{_money_text(field)} AS m_{field.column}")
        elif field.kind != "str":
            texts.append(f"toInt64OrNull({_value(field)}) AS {_number(field)}")
    numbers = ["*"] + [
        f"{_fast_money(f'm_{field.column}')} AS {_money(field)}"
        for field in CDR_FIELDS
        if field.kind == "money"
    ]
    reason = f"if(({' + '.join(_fast_failures())}) = 0, '', '{NEEDS_EXACT_DECODING}') AS reason"
    return _decode_query(source, [texts, numbers, ["*", reason]])


def decode_select(source: str) -> str:
    """Return the SELECT that decodes the records of `source` into `cdrs` columns plus `reason`.

    `source` must yield a column `json String` with one record each. The query takes the
    `CONTEXT_PARAMETERS` and should run with `DECODE_SETTINGS`. Its columns are those of the
    `cdrs` table in order, then `reason`.
    """
    texts = ["*"]
    for field in CDR_FIELDS:
        if field.kind == "money":
            texts.append(f"{_money_text(field)} AS m_{field.column}")
        elif field.kind != "str":
            texts.append(f"{_integer(_value(field))} AS {_number(field)}")
    numbers = ["*"] + [
        f"{_money_value(f'm_{field.column}')} AS {_money(field)}"
        for field in CDR_FIELDS
        if field.kind == "money"
    ]
    return _decode_query(source, [texts, numbers, ["*", f"{_reason()} AS reason"]])


def _decode_query(source: str, levels: list[list[str]]) -> str:
    """Nest the parse, the given levels and the output columns as subqueries, so that each level's
    columns are computed once and only read above."""
    tuple_type = ", ".join(f"{field.api_name} Nullable(String)" for field in CDR_FIELDS)
    parsed = ["json"] + [
        f"tupleElement(JSONExtract(json, 'Tuple({tuple_type})'), '{field.api_name}')"
        f" AS {_value(field)}"
        for field in CDR_FIELDS
    ]
    columns = {field.column: _column_value(field) for field in CDR_FIELDS}
    output = _output_columns(columns, raw="json", reason="reason")

    query = f"SELECT {', '.join(parsed)} FROM {source}"
    for level in (*levels, output):
        query = f"SELECT {', '.join(level)} FROM ({query})"
    return query


def _output_columns(values: dict[str, str], raw: str, reason: str | None) -> list[str]:
    """Return the select list of `cdrs` columns in table order, then `reason` unless it is None,
    from the SQL of each record column in `values`."""
    output = [
        "{instance:String} AS instance",
        "{instance_uuid:UUID} AS instance_uuid",
        "{call_day:Date} AS call_day",
    ]
    for field in CDR_FIELDS:
        output.append(f"{values[field.column]} AS {field.column}")
        if field.column == "stop":
            output.append(f"toDate({values['start']}, {{zone:String}}) AS start_day")
    output += [f"{raw} AS raw", "{loaded_at:DateTime64(3, 'UTC')} AS loaded_at"]
    if reason is not None:
        output.append(f"{reason} AS reason")
    return output


def typed_select(source: str, with_reason: bool) -> str:
    """Return the SELECT that turns records decoded by `cdr_native` into `cdrs` columns, plus an
    empty `reason` if `with_reason`, in the order of `decode_select`.

    `source` must yield the record columns under their `cdrs` names and types, and `raw`. The
    query takes the `CONTEXT_PARAMETERS`.
    """
    values = {field.column: f"`{field.column}`" for field in CDR_FIELDS}
    output = _output_columns(values, raw="`raw`", reason="''" if with_reason else None)
    return f"SELECT {', '.join(output)} FROM {source}"
