"""Pre-generated GetCdr replies, so that the simulator can serve large days at disk speed.

Generating and encoding CDRs in Python takes the simulator about 20 to 50 microseconds per record,
slower than the pull it is meant to measure. `pregenerate_day` encodes every account's records of
one day into a file once, with an index of each account's byte range and the account-day totals of
GetReportCustomerFee. `PregeneratedCdrs` then serves unfiltered single-day GetCdr requests by
copying those byte ranges to the socket, with the same records in the same order as generated
ones.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import orjson

from ykvos_dagster.simulator import reports
from ykvos_dagster.simulator.data import SimulatedSwitch, SimulatorConfig


@dataclass
class PregeneratedDay:
    """One day of encoded records: the file and each account's (offset, length, rows) in it."""

    day: dt.date
    path: Path
    ranges: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    totals: dict[str, reports.AccountDayTotals] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(rows for _, _, rows in self.ranges.values())


def _decimal_text(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f").encode())
    raise TypeError(f"cannot encode a {type(value).__name__} as JSON")


def pregenerate_day(config: SimulatorConfig, day: dt.date, directory: Path) -> PregeneratedDay:
    """Encode every account's CDRs of `day` into a file under `directory`.

    Records of one account are separated by commas; each account's range is a valid JSON array
    body. Runs in any process: it takes the configuration, not a switch.
    """
    switch = SimulatedSwitch(config)
    path = directory / f"{config.instance}-{config.seed}-{day:%Y%m%d}.json"
    result = PregeneratedDay(day=day, path=path)
    with path.open("wb") as output:
        for account in switch.accounts():
            records = list(switch.iter_cdrs(day, account))
            if not records:
                continue
            offset = output.tell()
            output.write(
                b",".join(orjson.dumps(record, default=_decimal_text) for record in records)
            )
            result.ranges[account] = (offset, output.tell() - offset, len(records))
            result.totals[account] = reports.sum_cdrs(records)
    return result


class PregeneratedCdrs:
    """Pre-generated days of one switch, looked up by the GetCdr handler of the server."""

    def __init__(self, switch: SimulatedSwitch, days: list[PregeneratedDay]) -> None:
        self.switch = switch
        self._days = {day.day: day for day in days}
        for pregenerated in days:
            for account in switch.accounts():
                totals = pregenerated.totals.get(account) or reports.sum_cdrs(())
                reports.remember_totals(switch, pregenerated.day, account, totals)

    def ranges(
        self, days: list[dt.date], accounts: list[str], filters: list
    ) -> tuple[Path, list[tuple[int, int]]] | None:
        """Return the file and byte ranges of a request's records, or None when the request has
        filters or does not cover exactly one pre-generated day."""
        if filters or len(days) != 1 or days[0] not in self._days:
            return None
        pregenerated = self._days[days[0]]
        ranges = []
        for account in accounts:
            found = pregenerated.ranges.get(account)
            if found is not None:
                ranges.append(found[:2])
        return pregenerated.path, ranges
