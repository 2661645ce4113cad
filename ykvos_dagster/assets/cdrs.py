import datetime as dt

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from ykvos_dagster.cdr_pull import PullResult, pull_cdr_day, quarantine_max_share, record_load
from ykvos_dagster.partitions import DATE_DIMENSION, INSTANCE_DIMENSION, cdr_partitions
from ykvos_dagster.resources import ClickHouseResource, PostgresResource, VosApiResource
from ykvos_dagster.warehouse.pacing import RequestGate
from ykvos_dagster.warehouse.registry import get_instance

ALLOW_SHRINK_TAG = "ykvos/allow-shrink"
QUARANTINE_CHECK = "quarantine_share"


@asset(
    partitions_def=cdr_partitions,
    group_name="cdrs",
    kinds={"clickhouse"},
    owners=["team:data-engineering"],
    check_specs=[
        AssetCheckSpec(
            QUARANTINE_CHECK,
            asset="cdrs",
            blocking=True,
            description="Fails the partition, and blocks its statistics, when more than "
            "YKVOS_QUARANTINE_MAX_SHARE (default 0.001) of the instance-day's records were "
            "quarantined in cdrs_quarantine instead of stored in cdrs.",
        )
    ],
)
def cdrs(
    context: AssetExecutionContext,
    vos: VosApiResource,
    clickhouse: ClickHouseResource,
    postgres: PostgresResource,
) -> MaterializeResult:
    """Call-detail records of one VOS3000 switch and one call day, in the ClickHouse table `cdrs`.

    One row per CDR (key: instance, flow_no) with every field of the VOS3000 InfoCdr record;
    instants in UTC, money as Decimal(18, 6). The call day is the switch's server-local day whose
    GetCdr pull returned the row, the same day the switch's own reports use. Materializing a
    partition again replaces that instance-day atomically, so `SELECT count() FROM cdrs` never
    counts a CDR twice. A re-pull that returns fewer CDRs for an account than are stored fails
    unless the run has the tag `ykvos/allow-shrink=true` (switches purge old CDRs). A record that
    cannot be stored without inventing a value goes to `cdrs_quarantine` with the reason, for
    example one without flowNo, start or stop, with stop before start, or with a wrong type.
    """
    keys = context.partition_key.keys_by_dimension
    day = dt.date.fromisoformat(keys[DATE_DIMENSION])
    slug = keys[INSTANCE_DIMENSION]

    with postgres.connect() as connection:
        instance = get_instance(connection, slug)
    if not instance.enabled:
        raise Failure(
            f"VOS instance {slug} is disabled; enable it with `ykvos instances enable {slug}` "
            "to pull its CDRs again"
        )

    gate = RequestGate(postgres.resolved_dsn(), slug, instance.pause_seconds)
    allow_shrink = context.run.tags.get(ALLOW_SHRINK_TAG, "").lower() == "true"
    try:
        with vos.client(instance, gate) as client:
            result = pull_cdr_day(
                instance=instance,
                day=day,
                client=client,
                open_clickhouse=clickhouse.session,
                allow_shrink=allow_shrink,
                log=context.log,
            )
    finally:
        gate.close()

    with postgres.connect() as connection:
        record_load(connection, result, context.run.run_id)

    return MaterializeResult(
        metadata=_metadata(result, instance.currency, gate),
        check_results=[_quarantine_check(result)],
    )


def _quarantine_check(result: PullResult) -> AssetCheckResult:
    limit = quarantine_max_share()
    return AssetCheckResult(
        check_name=QUARANTINE_CHECK,
        passed=result.quarantine_share <= limit,
        severity=AssetCheckSeverity.ERROR,
        description=(
            f"{result.quarantined} of {result.rows + result.quarantined} records quarantined "
            f"(limit {limit:.4%}); see cdrs_quarantine"
        ),
        metadata={
            "quarantined": MetadataValue.int(result.quarantined),
            "share": MetadataValue.float(round(result.quarantine_share, 6)),
            "max_share": MetadataValue.float(limit),
            "sample_reasons": MetadataValue.text("\n".join(result.quarantine_sample)),
        },
    )


def _metadata(result: PullResult, currency: str, gate: RequestGate) -> dict[str, MetadataValue]:
    return {
        "rows": MetadataValue.int(result.rows),
        "accounts": MetadataValue.int(result.accounts_with_cdrs),
        "accounts_requested": MetadataValue.int(result.accounts_requested),
        "answered_calls": MetadataValue.int(result.answered_calls),
        "total_fee": MetadataValue.float(float(result.total_fee)),
        "total_fee_exact": MetadataValue.text(f"{result.total_fee} {currency}"),
        "requests": MetadataValue.int(result.requests),
        "api_seconds": MetadataValue.float(round(result.api_seconds, 3)),
        "lock_wait_seconds": MetadataValue.float(round(gate.stats.lock_wait_seconds, 3)),
        "pause_seconds": MetadataValue.float(round(gate.stats.pause_seconds, 3)),
        "load_seconds": MetadataValue.float(round(result.load_seconds, 3)),
        "previous_rows": MetadataValue.int(result.previous_rows),
        "duplicates_dropped": MetadataValue.int(result.duplicates_dropped),
        "accounts_listed": MetadataValue.int(result.accounts_listed),
        "accounts_skipped": MetadataValue.int(result.accounts_skipped),
        "cdr_requests": MetadataValue.int(result.cdr_requests),
        "report_requests": MetadataValue.int(result.report_requests),
        "requests_one_per_account": MetadataValue.int(result.requests_one_per_account),
        "quarantined": MetadataValue.int(result.quarantined),
        "reply_megabytes": MetadataValue.float(round(result.reply_bytes / 1e6, 3)),
    }
