"""Progress of an instance-day pull, so that a retry does not fetch again what a failed attempt
already fetched.

The pull's spool file lives under `$YKVOS_HOME/spool/<instance>/<day>/` while the pull is
unfinished. After each GetCdr request, the request's accounts and the spool's end offset are
recorded in PostgreSQL `cdr_pull_progress`. A retry on the same host reopens the spool at the
last recorded offset and skips the recorded requests. A retry on another host finds no spool
file and starts over. A successful load, or a run with the tag for a full re-pull, clears both.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from ykvos_dagster.vos3000 import cdr_native
from ykvos_dagster.vos3000.cdr_stream import SpoolMark

logger = logging.getLogger(__name__)

# A Native spool where the typed decoder is built, a JSON one otherwise. A retry finds no spool of
# its own kind after the extension was built or removed, and starts over.
SPOOL_NAME = f"infoCdrs{cdr_native.NATIVE_SUFFIX}" if cdr_native.available() else "infoCdrs.json"


def request_key(accounts: list[str]) -> str:
    """Return the key of one GetCdr request: its accounts, sorted, one per line."""
    return "\n".join(sorted(accounts))


@dataclass(frozen=True)
class ResumePoint:
    """The state an earlier attempt left: the requests done and where the spool ends after them."""

    done: frozenset[str]
    mark: SpoolMark


class PullProgress:
    """The recorded requests of one instance-day pull.

    Args:
        connection: an autocommit psycopg connection, so that a request stays recorded when the
            pull fails later.
        spool_root: the folder that contains one spool folder per unfinished pull.
    """

    def __init__(self, connection, spool_root: Path, instance: str, day: dt.date) -> None:
        self._connection = connection
        self.instance = instance
        self.day = day
        self.folder = spool_root / instance / day.isoformat()
        self.spool_path = self.folder / SPOOL_NAME

    def resume_point(self) -> ResumePoint | None:
        """Return the point to continue from, or None when there is nothing usable."""
        rows = self._connection.execute(
            "SELECT request_key, spool_offset, has_records FROM cdr_pull_progress"
            " WHERE instance = %s AND call_day = %s ORDER BY spool_offset",
            (self.instance, self.day),
        ).fetchall()
        if not rows:
            return None
        last_offset, last_has_records = rows[-1][1], rows[-1][2]
        if not self.spool_path.exists() or self.spool_path.stat().st_size < last_offset:
            logger.info(
                "instance %s day %s: %d recorded requests but no usable spool on this host; "
                "starting over",
                self.instance,
                self.day,
                len(rows),
            )
            self.clear()
            return None
        return ResumePoint(
            done=frozenset(row[0] for row in rows),
            mark=SpoolMark(int(last_offset), bool(last_has_records)),
        )

    def start(self) -> None:
        """Forget an earlier attempt and create an empty spool folder."""
        self.clear()
        self.folder.mkdir(parents=True, exist_ok=True)

    def record(self, accounts: list[str], mark: SpoolMark, run_id: str | None) -> None:
        """Record a finished request once the spool is flushed up to `mark`."""
        self._connection.execute(
            "INSERT INTO cdr_pull_progress (instance, call_day, request_key, spool_offset,"
            " has_records, run_id) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (instance, call_day, request_key) DO UPDATE SET"
            " spool_offset = EXCLUDED.spool_offset, has_records = EXCLUDED.has_records,"
            " run_id = EXCLUDED.run_id, fetched_at = now()",
            (self.instance, self.day, request_key(accounts), mark.offset, mark.has_records, run_id),
        )

    def clear(self) -> None:
        """Forget every request of this pull and delete its spool folder."""
        self._connection.execute(
            "DELETE FROM cdr_pull_progress WHERE instance = %s AND call_day = %s",
            (self.instance, self.day),
        )
        shutil.rmtree(self.folder, ignore_errors=True)
