"""Fault injection for the simulator: the failures and odd data that real switches produce.

A `FaultPlan` is a list of rules chosen for a whole server (`ykvos simulator --faults SPEC`, or
`SimulatorServer(..., faults=plan)`, or assigning `server.faults` while it runs). A single request
can also ask for one fault with the header `X-Simulator-Fault: SPEC`, which the VOS client never
sends, so only tests use it.

A SPEC is rules separated by `;`, each `kind` or `kind=value` followed by options, for example
`http_status=503,times=1` or `latency=0.2,rate=0.5,interfaces=GetCdr`. Options:

- `rate`: probability that a matching request gets the fault (default 1), drawn from a random
  generator seeded by the plan's seed, so a run is repeatable.
- `times`: only the first N matching requests of each request key (interface and body) get it,
  so that a retry of the same request succeeds.
- `after`: the first N matching requests of the run pass untouched, so that a pull fails
  half-way.
- `interfaces`: `+`-separated interface names the rule applies to (default all).

Transport faults replace the reply: `latency` (seconds), `http_status` (HTTP code),
`empty_body`, `html_error` (an HTML error page with status 200), `truncated_json`, `array_wrap`
(the reply object inside a one-element array), `ret_code` (a non-zero retCode with its
`exception` text), `backend_timeout` (the JSP timeout retCode), and `overload` (latency that grows
while requests arrive faster than `value` per second).

Data faults change the rows of GetCdr replies:

- `duplicate_cdr`: the first CDR of each reply twice.
- `duplicate_across_accounts`: the first CDR of the next account in the switch's list also in
  each account's reply.
- `midnight_shift`: CDRs that start in the last `value` minutes of a day are moved, never
  copied, into the next day's reply.
- `late_cdrs`: the first `times` pulls of an account-day leave out its last `value` CDRs.
- `numbers_as_strings`, `missing_optional` (no `calleeBilling` or `billingType`) and
  `unknown_fields` (extra fields the API does not document).
- `missing_field`: the field named by `value` (default flowNo) removed from the 1st, 11th,
  21st... CDR of a reply.
- `negative_duration`: every `value`-th answered CDR with a negative holdTime.
- `purged`: no CDRs at all, with retCode 0, as after the switch deleted old daily tables.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# The JSP layer's F_ERROR_TIMEOUT has no published value; the client treats this placeholder as
# the backend-timeout code.
BACKEND_TIMEOUT_RET_CODE = -10006

TRANSPORT_KINDS = frozenset(
    {
        "latency",
        "http_status",
        "empty_body",
        "html_error",
        "truncated_json",
        "array_wrap",
        "ret_code",
        "backend_timeout",
        "overload",
    }
)
DATA_KINDS = frozenset(
    {
        "duplicate_cdr",
        "duplicate_across_accounts",
        "midnight_shift",
        "late_cdrs",
        "numbers_as_strings",
        "missing_optional",
        "unknown_fields",
        "missing_field",
        "negative_duration",
        "purged",
    }
)
_DEFAULT_VALUES = {
    "latency": 1.0,
    "http_status": 503,
    "ret_code": -10007,
    "overload": 5.0,
    "midnight_shift": 2.0,
    "late_cdrs": 3,
    "negative_duration": 10,
}


class FaultSpecError(ValueError):
    """A fault specification that cannot be parsed."""


@dataclass(frozen=True)
class FaultRule:
    kind: str
    value: float | str | None = None
    rate: float = 1.0
    times: int | None = None
    after: int = 0
    interfaces: frozenset[str] | None = None

    def applies_to(self, interface: str) -> bool:
        return self.interfaces is None or interface in self.interfaces

    def number(self) -> float:
        value = self.value if self.value is not None else _DEFAULT_VALUES.get(self.kind, 0)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise FaultSpecError(f"fault {self.kind} needs a number, got {value!r}") from None


def parse_rules(spec: str) -> list[FaultRule]:
    """Parse a SPEC such as `http_status=503,times=1;latency=0.2,rate=0.5`."""
    rules = []
    for text in filter(None, (part.strip() for part in spec.split(";"))):
        items = [item.strip() for item in text.split(",") if item.strip()]
        kind, _, value = items[0].partition("=")
        if kind not in TRANSPORT_KINDS | DATA_KINDS:
            known = ", ".join(sorted(TRANSPORT_KINDS | DATA_KINDS))
            raise FaultSpecError(f"unknown fault {kind!r}; known faults: {known}")
        options: dict = {}
        for item in items[1:]:
            key, _, option = item.partition("=")
            try:
                if key == "rate":
                    options["rate"] = float(option)
                    if not 0 <= options["rate"] <= 1:
                        raise ValueError
                elif key == "times":
                    options["times"] = int(option)
                    if options["times"] < 1:
                        raise ValueError
                elif key == "after":
                    options["after"] = int(option)
                    if options["after"] < 0:
                        raise ValueError
                elif key == "interfaces":
                    options["interfaces"] = frozenset(filter(None, option.split("+")))
                else:
                    raise FaultSpecError(f"unknown option {key!r} in fault {text!r}")
            except ValueError:
                raise FaultSpecError(f"invalid value for {key} in fault {text!r}") from None
        rules.append(FaultRule(kind=kind, value=value or None, **options))
    return rules


@dataclass
class TransportFault:
    """The reply a server sends instead of (or before) a normal one."""

    kind: str
    latency: float = 0.0
    status: int | None = None
    ret_code: int | None = None


@dataclass
class FaultPlan:
    """The faults of one simulator run; thread-safe, because the server is threaded."""

    rules: list[FaultRule] = field(default_factory=list)
    seed: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()
        self._seen: Counter[tuple[int, str]] = Counter()
        self._matched: Counter[int] = Counter()
        self._arrivals: deque[float] = deque()
        self.injected: Counter[str] = Counter()

    @classmethod
    def parse(cls, spec: str, seed: int = 0) -> FaultPlan:
        return cls(parse_rules(spec), seed)

    def _fires(self, index: int, rule: FaultRule, key: str) -> bool:
        if rule.after:
            self._matched[index] += 1
            if self._matched[index] <= rule.after:
                return False
        if rule.times is not None:
            self._seen[(index, key)] += 1
            if self._seen[(index, key)] > rule.times:
                return False
        return rule.rate >= 1 or self._random.random() < rule.rate

    def active_rules(self, interface: str, body: bytes, extra: list[FaultRule] = ()) -> list:
        """Return the rules that fire for this request, counting it for `times`."""
        key = f"{interface}:{hashlib.blake2b(body, digest_size=8).hexdigest()}"
        fired = []
        with self._lock:
            for index, rule in enumerate([*self.rules, *extra]):
                if rule.applies_to(interface) and self._fires(index, rule, key):
                    fired.append(rule)
                    self.injected[rule.kind] += 1
        return fired

    def transport_fault(self, rules: list[FaultRule]) -> TransportFault | None:
        """Return the transport fault among `rules`, with overload latency added."""
        latency = 0.0
        chosen: TransportFault | None = None
        for rule in rules:
            if rule.kind == "latency":
                latency += rule.number()
            elif rule.kind == "overload":
                latency += self._overload_latency(rule.number())
            elif rule.kind in TRANSPORT_KINDS and chosen is None:
                chosen = TransportFault(kind=rule.kind)
                if rule.kind == "http_status":
                    chosen.status = int(rule.number())
                elif rule.kind == "ret_code":
                    chosen.ret_code = int(rule.number())
                elif rule.kind == "backend_timeout":
                    chosen.ret_code = BACKEND_TIMEOUT_RET_CODE
        if chosen is None and latency > 0:
            chosen = TransportFault(kind="latency")
        if chosen is not None:
            chosen.latency = latency
        return chosen

    def _overload_latency(self, max_rate: float) -> float:
        # Each request beyond `max_rate` in the last second adds 0.2 s, like a switch whose
        # queue grows when it is polled too fast.
        now = time.monotonic()
        with self._lock:
            self._arrivals.append(now)
            while self._arrivals and now - self._arrivals[0] > 1.0:
                self._arrivals.popleft()
            excess = len(self._arrivals) - max_rate
        return max(0.0, excess) * 0.2


def sleep_for(fault: TransportFault | None) -> None:
    if fault is not None and fault.latency > 0:
        time.sleep(fault.latency)


def transform_cdrs(
    rules: list[FaultRule],
    rows: Iterator[dict],
    *,
    day_rows: Callable[[dt.date, str], Iterator[dict]],
    days: list[dt.date],
    accounts: list[str],
    day_end_ms: Callable[[dt.date], int],
    next_account: Callable[[str], str | None],
) -> Iterator[dict]:
    """Apply the data faults among `rules` to the rows of one GetCdr reply.

    `day_rows(day, account)` gives the unfaulted rows, `day_end_ms(day)` the epoch ms of the
    server-local midnight that ends `day`, and `next_account(account)` the account after it in
    the switch's list.
    """
    kinds = {rule.kind: rule for rule in rules if rule.kind in DATA_KINDS}
    if not kinds:
        yield from rows
        return
    if "purged" in kinds:
        return

    if "midnight_shift" in kinds or "late_cdrs" in kinds or "duplicate_across_accounts" in kinds:
        rows = _regrouped(kinds, day_rows, days, accounts, day_end_ms, next_account)

    answered = 0
    first: dict | None = None
    for count, original in enumerate(rows, start=1):
        row = dict(original)
        if "numbers_as_strings" in kinds:
            row = {key: _as_string(value) for key, value in row.items()}
        if "missing_optional" in kinds:
            row.pop("calleeBilling", None)
            row.pop("billingType", None)
        if "unknown_fields" in kinds:
            row["extTrunkGroup"] = "tg-7"
            row["callerRegion"] = {"code": "86", "name": "中国"}
        rule = kinds.get("missing_field")
        if rule is not None and count % 10 == 1:
            row.pop(str(rule.value or "flowNo"), None)
        rule = kinds.get("negative_duration")
        if rule is not None and _number(row.get("holdTime")) > 0:
            answered += 1
            if answered % max(1, int(rule.number())) == 0:
                row["holdTime"] = -_number(row["holdTime"])
        if first is None:
            first = row
        yield row
    if "duplicate_cdr" in kinds and first is not None:
        yield first


def _regrouped(kinds, day_rows, days, accounts, day_end_ms, next_account) -> Iterator[dict]:
    shift = kinds.get("midnight_shift")
    late = kinds.get("late_cdrs")
    across = "duplicate_across_accounts" in kinds
    window_ms = int(shift.number() * 60_000) if shift else 0
    for day in days:
        previous = day - dt.timedelta(days=1)
        for account in accounts:
            own = list(day_rows(day, account))
            if shift:
                end = day_end_ms(day)
                own = [row for row in own if row["start"] < end - window_ms]
                moved = [
                    row
                    for row in day_rows(previous, account)
                    if row["start"] >= day_end_ms(previous) - window_ms
                ]
                own = moved + own
            if late:
                own = own[: max(0, len(own) - int(late.number()))]
            yield from own
            neighbour = next_account(account) if across else None
            if neighbour is not None:
                for row in day_rows(day, neighbour):
                    yield row
                    break


def _as_string(value: object) -> object:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) or type(value).__name__ == "Decimal":
        return str(value)
    return value


def _number(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
