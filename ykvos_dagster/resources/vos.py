from dagster import ConfigurableResource
from pydantic import Field

from ykvos_dagster.vos3000.client import VosClient, VosEndpoint
from ykvos_dagster.warehouse.pacing import RequestGate
from ykvos_dagster.warehouse.registry import VosInstance


class VosApiResource(ConfigurableResource):
    """Clients for the VOS3000 Web API of registered instances.

    Address, time zone, timeout and pause come from each instance's row in `vos_instances`;
    this resource sets what is common to all of them.
    """

    retries: int = Field(default=2, description="retries of a failed request (transport errors)")
    backoff_seconds: float = Field(
        default=1.0, description="first retry delay in seconds; doubles with each retry"
    )
    connect_timeout_seconds: float = Field(default=10.0, description="TCP connect timeout, s")

    def client(self, instance: VosInstance, gate: RequestGate | None = None) -> VosClient:
        """Return a client for `instance`; `gate` serialises and paces its requests."""
        base = instance.endpoint()
        endpoint = VosEndpoint(
            instance=base.instance,
            base_url=base.base_url,
            path_prefix=base.path_prefix,
            timeout_seconds=base.timeout_seconds,
            connect_timeout_seconds=self.connect_timeout_seconds,
            retries=self.retries,
            backoff_seconds=self.backoff_seconds,
        )
        return VosClient(endpoint, request_gate=gate)
