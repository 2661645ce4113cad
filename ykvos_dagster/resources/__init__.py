from ykvos_dagster.resources.clickhouse import ClickHouseResource
from ykvos_dagster.resources.postgres import PostgresResource
from ykvos_dagster.resources.vos import VosApiResource
from ykvos_dagster.resources.vos_cache import VosCacheResource

__all__ = ["ClickHouseResource", "PostgresResource", "VosApiResource", "VosCacheResource"]
