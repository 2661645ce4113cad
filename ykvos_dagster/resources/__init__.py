from ykvos_dagster.resources.clickhouse import ClickHouseResource
from ykvos_dagster.resources.postgres import PostgresResource
from ykvos_dagster.resources.vos import VosApiResource

__all__ = ["ClickHouseResource", "PostgresResource", "VosApiResource"]
