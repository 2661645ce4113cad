"""Progress of an instance-day pull, so that a retry does not fetch again what a failed attempt
already fetched.

Each fetched account (or batch of accounts) leaves a spool file under
`$YKVOS_HOME/spool/<instance>/<day>/` and a row in PostgreSQL `cdr_pull_progress`. A retry on the
same host reuses every recorded file that still exists; a retry elsewhere finds no file and
fetches that account again. A successful load, or a run that asks for a full re-pull, clears
both.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchedPart:
    key: str
    rows: int
    path: Path


class PullProgress:
    """The recorded parts of one instance-day pull.

    Args:
        connection: an autocommit psycopg connection, so that a part stays recorded when the
            pull fails later.
        spool_root: the folder that holds the per-pull spool folders.
    """

    def __init__(self, connection, spool_root: Path, instance: str, day: dt.date) -> None:
        self._connection = connection
        self.instance = instance
        self.day = day
        self.folder = spool_root / instance / day.isoformat()

    def part_path(self, key: str) -> Path:
        """Return the spool file of a part; the name is a hash, because keys are account names."""
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=10).hexdigest()
        self.folder.mkdir(parents=True, exist_ok=True)
        return self.folder / f"{digest}.part"

    def fetched(self) -> dict[str, FetchedPart]:
        """Return the parts recorded by earlier attempts whose spool file still exists."""
        rows = self._connection.execute(
            "SELECT part_key, rows, spool_file FROM cdr_pull_progress"
            " WHERE instance = %s AND call_day = %s",
            (self.instance, self.day),
        ).fetchall()
        parts = {}
        for key, count, spool_file in rows:
            path = Path(spool_file)
            if path.exists():
                parts[key] = FetchedPart(key, int(count), path)
        return parts

    def record(self, key: str, rows: int, path: Path, run_id: str | None) -> None:
        """Record a part once its spool file is complete on disk."""
        self._connection.execute(
            "INSERT INTO cdr_pull_progress (instance, call_day, part_key, rows, spool_file,"
            " run_id) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (instance, call_day, part_key) DO UPDATE SET rows = EXCLUDED.rows,"
            " spool_file = EXCLUDED.spool_file, run_id = EXCLUDED.run_id, fetched_at = now()",
            (self.instance, self.day, key, rows, str(path), run_id),
        )

    def clear(self) -> None:
        """Forget every part of this pull and delete its spool folder."""
        self._connection.execute(
            "DELETE FROM cdr_pull_progress WHERE instance = %s AND call_day = %s",
            (self.instance, self.day),
        )
        shutil.rmtree(self.folder, ignore_errors=True)
