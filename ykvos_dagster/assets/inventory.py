"""Inventory and live state of each VOS3000 instance in PostgreSQL, one partition per instance,
and the instance's health probes with the check that turns red when the switch stops
answering."""

import datetime as dt

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetsDefinition,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from ykvos_dagster.inventory_pull import PULLS, InventoryPull, Pulled, store_pulled
from ykvos_dagster.inventory_scheduling import health_failures_before_error
from ykvos_dagster.partitions import instance_partitions
from ykvos_dagster.realtime import probe
from ykvos_dagster.resources import PostgresResource, VosApiResource, VosCacheResource
from ykvos_dagster.vos3000.inventory import InventoryApi
from ykvos_dagster.warehouse.health import consecutive_failures, latest_probe, record_probe
from ykvos_dagster.warehouse.pacing import RequestGate
from ykvos_dagster.warehouse.registry import VosInstance, get_instance

GROUP = "inventory"

DESCRIPTIONS = {
    "customers": (
        "Accounts of one VOS3000 instance in the PostgreSQL table `customers`, one row per "
        "account: balance (`money`), overdraft limit, `is_in_debt` (money < 0), rate group, "
        "agent, lock state. Source: GetAllCustomers (type 1) for the list and balances, "
        "GetCustomer for the details. Refreshed every 10 minutes."
    ),
    "gateways": (
        "Mapping (ingress) and routing (egress) gateways of one instance in `gateways`, one row "
        "per gateway_type and name, with their configuration and online state: current calls, "
        "ASR, ACD, registration. Source: GetGatewayMapping, GetGatewayRouting and their Online "
        "lists. The configuration is pulled every 2 hours; the real-time sensor refreshes the "
        "online columns every minute and records an observation of this asset."
    ),
    "phones": (
        "Phones (terminals) of one instance in `phones`, one row per E.164 number, with their "
        "account, line capacity and registration settings. Source: GetPhone for every account "
        "that GetAllCustomers lists. Refreshed every 4 hours."
    ),
    "phones_online": (
        "Online phones of one instance in `phones_online`, one row per registered number, with "
        "current calls and registration times. Source: GetAllPhoneOnline for the numbers, "
        "GetPhoneOnline for the detail. The real-time sensor refreshes it every 5 minutes."
    ),
    "fee_rates": (
        "Rate groups (`fee_rate_groups`) and their rates (`fee_rates`, one row per group and "
        "fee prefix, with the fee per billing period) of one instance. Source: GetFeeRateGroup "
        "and one GetFeeRate per group. Refreshed every 4 hours."
    ),
    "suites": (
        "Packages (suites) of one instance in `suites`, one row per suite id: rent, rent type "
        "and period, minimum consumption, gift money and gift times. Source: GetSuite. "
        "Refreshed every 4 hours."
    ),
    "soft_switches": (
        "Soft switches of one instance in `soft_switches`, one row per name. Source: "
        "GetSoftSwitch. Refreshed every 4 hours."
    ),
    "vos_performance": (
        "The latest load sample of one instance in `vos_performance`: concurrent calls "
        "(`call_size`) and CDRs waiting to be written (`cdr_queue_size`). Source: "
        "GetPerformance. The real-time sensor refreshes it every minute and reports each sample "
        "as a materialization, so the metadata plots show the load over time."
    ),
    "alarms_current": (
        "Current alarms of one instance in `alarms_current`, one row per alarm id, with type, "
        "level (0 normal to 3 critical), value, thresholds and confirmation. Source: "
        "GetAlarmCurrent. The real-time sensor refreshes it every minute."
    ),
}


def load_enabled_instance(postgres: PostgresResource, slug: str) -> VosInstance:
    """Return the registered instance, failing the step when it is disabled."""
    with postgres.connect() as connection:
        instance = get_instance(connection, slug)
    if not instance.enabled:
        raise Failure(
            f"VOS instance {slug} is disabled; enable it with `ykvos instances enable {slug}` "
            "to pull it again"
        )
    return instance


def pull_metadata(pulled: Pulled, rows: dict[str, int], api: InventoryApi) -> dict:
    """Return the numbers of a pull as metadata: its metrics, rows per table and requests.

    Only counts go here; no value of a reply record does.
    """
    metadata = {name: _number(value) for name, value in pulled.metrics.items()}
    for table, count in rows.items():
        metadata[f"rows_{table}"] = MetadataValue.int(count)
    metadata["requests"] = MetadataValue.int(len(api.replies))
    metadata["api_seconds"] = MetadataValue.float(round(sum(r.seconds for r in api.replies), 3))
    return metadata


def _number(value: int | float) -> MetadataValue:
    return MetadataValue.int(value) if isinstance(value, int) else MetadataValue.float(value)


def _build(pull: InventoryPull) -> AssetsDefinition:
    @asset(
        name=pull.name,
        partitions_def=instance_partitions,
        group_name=GROUP,
        kinds={"postgres"},
        owners=["team:data-engineering"],
        description=DESCRIPTIONS[pull.name],
    )
    def _inventory(
        context: AssetExecutionContext,
        vos: VosApiResource,
        postgres: PostgresResource,
        vos_cache: VosCacheResource,
    ) -> MaterializeResult:
        slug = context.partition_key
        instance = load_enabled_instance(postgres, slug)
        gate = RequestGate(postgres.resolved_dsn(), slug, instance.pause_seconds)
        try:
            with vos.client(instance, gate) as client:
                api = InventoryApi(client)
                pulled = pull.fetch(api)
        finally:
            gate.close()

        fetched_at = dt.datetime.now(dt.UTC)
        with postgres.connect() as connection:
            rows = store_pulled(connection, slug, pulled, api, vos_cache.policy(), fetched_at)
        context.log.info(
            f"instance {slug}: {pull.name} replaced with "
            + ", ".join(f"{count} rows in {table}" for table, count in rows.items())
            + f" after {len(api.replies)} requests"
        )
        return MaterializeResult(metadata=pull_metadata(pulled, rows, api))

    return _inventory


inventory_assets: dict[str, AssetsDefinition] = {name: _build(pull) for name, pull in PULLS.items()}


@asset(
    partitions_def=instance_partitions,
    group_name=GROUP,
    kinds={"postgres"},
    owners=["team:data-engineering"],
)
def vos_health_checks(
    context: AssetExecutionContext, postgres: PostgresResource
) -> MaterializeResult:
    """Health probes of one VOS3000 instance in `vos_health_checks`, one row per probe: checked
    at, ok, latency in ms, and the VOS retCode or the error. A probe is one GetSoftSwitch
    request, a light call. `vos_health_sensor` probes every enabled instance every 5 minutes
    and reports the check `switch_reachable`; materializing a partition probes once more."""
    slug = context.partition_key
    instance = load_enabled_instance(postgres, slug)
    outcome = probe(instance)
    with postgres.connect() as connection:
        record_probe(connection, outcome)
    context.log.info(
        f"instance {slug}: probe {'ok' if outcome.ok else 'failed'} in "
        f"{outcome.latency_ms:.0f} ms" + (f": {outcome.error}" if outcome.error else "")
    )
    return MaterializeResult(
        metadata={
            "ok": MetadataValue.bool(outcome.ok),
            "latency_ms": MetadataValue.float(round(outcome.latency_ms, 3)),
        }
    )


def health_verdict(failures: int, threshold: int) -> tuple[bool, AssetCheckSeverity]:
    """Return (passed, severity): passed without failures, a warning for fewer than
    `threshold` consecutive failures, an error from `threshold` on."""
    if failures == 0:
        return True, AssetCheckSeverity.WARN
    if failures < threshold:
        return False, AssetCheckSeverity.WARN
    return False, AssetCheckSeverity.ERROR


def health_metadata(latest, failures: int, threshold: int) -> dict:
    metadata = {
        "consecutive_failures": MetadataValue.int(failures),
        "failures_before_error": MetadataValue.int(threshold),
    }
    if latest is not None:
        metadata["latency_ms"] = MetadataValue.float(round(float(latest.latency_ms), 3))
        metadata["checked_at"] = MetadataValue.timestamp(latest.checked_at)
        if latest.ret_code is not None:
            metadata["ret_code"] = MetadataValue.int(latest.ret_code)
        if latest.error:
            metadata["error"] = MetadataValue.text(latest.error)
    return metadata


@asset_check(
    asset=vos_health_checks,
    name="switch_reachable",
    partitions_def=instance_partitions,
    description=(
        "Fails with severity WARN after a failed probe and with severity ERROR after "
        "YKVOS_HEALTH_FAILURES_BEFORE_ERROR (default 3) consecutive failed probes; passes "
        "again at the first successful one."
    ),
)
def switch_reachable(
    context: AssetCheckExecutionContext, postgres: PostgresResource
) -> AssetCheckResult:
    slug = context.partition_key
    threshold = health_failures_before_error()
    with postgres.connect() as connection:
        failures = consecutive_failures(connection, slug)
        latest = latest_probe(connection, slug)
    passed, severity = health_verdict(failures, threshold)
    return AssetCheckResult(
        passed=passed, severity=severity, metadata=health_metadata(latest, failures, threshold)
    )
