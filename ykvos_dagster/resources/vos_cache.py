from dagster import ConfigurableResource
from pydantic import Field

from ykvos_dagster.warehouse.vos_cache import CachePolicy


def _ttl_field(kind: str, default: str) -> object:
    return Field(
        default=None,
        description=f"time-to-live of cached {kind} replies in seconds. Empty reads "
        f"YKVOS_CACHE_TTL_{kind.upper()} (default {default})",
    )


class VosCacheResource(ConfigurableResource):
    """Time-to-live of the replies kept in `vos_data_cache`, per kind of interface.

    The real-time sensor pulls an interface again once its cached reply has expired, so these
    values are also the cadence of the sensor's pulls.
    """

    phones_ttl_seconds: int | None = _ttl_field("phones", "300")
    customers_ttl_seconds: int | None = _ttl_field("customers", "600")
    gateways_ttl_seconds: int | None = _ttl_field("gateways", "14400")
    realtime_ttl_seconds: int | None = _ttl_field("realtime", "60")
    other_ttl_seconds: int | None = _ttl_field("other", "3600")

    def policy(self) -> CachePolicy:
        return CachePolicy.from_env(
            {
                "phones": self.phones_ttl_seconds,
                "customers": self.customers_ttl_seconds,
                "gateways": self.gateways_ttl_seconds,
                "realtime": self.realtime_ttl_seconds,
                "other": self.other_ttl_seconds,
            }
        )
