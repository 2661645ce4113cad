from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import Field

from ykvos_dagster.warehouse.clickhouse import open_client


class ClickHouseResource(ConfigurableResource):
    """ClickHouse through clickhouse-connect.

    With `url` empty, the DSN comes from `YKVOS_CLICKHOUSE_URL` when the resource is used, and
    without it from the embedded chDB engine under `$YKVOS_HOME/clickhouse`, opened per session
    under a waiting file lock. Nothing connects at definition load.
    """

    url: str = Field(
        default="",
        description="ClickHouse DSN (http://, https:// or chdb:///path); empty reads "
        "YKVOS_CLICKHOUSE_URL, then falls back to embedded chDB",
    )
    lock_timeout_seconds: float | None = Field(
        default=None,
        description="seconds to wait for the embedded engine; empty reads "
        "YKVOS_CLICKHOUSE_LOCK_TIMEOUT (default 600)",
    )

    @contextmanager
    def session(self) -> Iterator:
        """Open a client for the block (and, for chDB, hold the engine lock)."""
        with open_client(self.url or None, lock_timeout=self.lock_timeout_seconds) as client:
            yield client
