from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from dagster import ConfigurableResource
from pydantic import Field

from ykvos_dagster.warehouse import postgres


class PostgresResource(ConfigurableResource):
    """PostgreSQL through psycopg 3.

    With `dsn` empty, the DSN comes from `YKVOS_POSTGRES_DSN` when the resource is used, and
    without it from the running embedded server under `$YKVOS_HOME/postgres`. Pending `sql/`
    migrations are applied on the first connection of a process.
    """

    dsn: str = Field(
        default="",
        description="libpq DSN; empty reads YKVOS_POSTGRES_DSN, then the embedded server",
    )

    def resolved_dsn(self) -> str:
        return postgres.resolve_dsn(self.dsn or None)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection]:
        """Open a connection for the block; commit on success, roll back on error."""
        with postgres.connect(self.dsn or None) as connection:
            yield connection
