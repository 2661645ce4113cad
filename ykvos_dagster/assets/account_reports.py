"""The switch's daily account reports, and the check that reconciles each `cdrs` partition
against them."""

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from ykvos_dagster.assets.cdrs import cdrs
from ykvos_dagster.assets.inventory import load_enabled_instance
from ykvos_dagster.cdr_pull import check_partition_day
from ykvos_dagster.partitions import DATE_DIMENSION, INSTANCE_DIMENSION, cdr_partitions
from ykvos_dagster.reconciliation import (
    cdr_totals_by_account,
    differences_markdown,
    fee_tolerance,
    reconcile,
    report_totals,
)
from ykvos_dagster.resources import (
    ClickHouseResource,
    PostgresResource,
    VosApiResource,
    VosCacheResource,
)
from ykvos_dagster.vos3000.inventory import InventoryApi
from ykvos_dagster.vos3000.reports import get_customer_fee_reports
from ykvos_dagster.warehouse.account_reports import replace_report_day, stored_report_totals
from ykvos_dagster.warehouse.pacing import RequestGate
from ykvos_dagster.warehouse.registry import VosInstance
from ykvos_dagster.warehouse.vos_cache import store_replies

RECONCILIATION_CHECK = "cdrs_match_account_report"


def _partition(context) -> tuple[dt.date, str]:
    keys = context.partition_key.keys_by_dimension
    return dt.date.fromisoformat(keys[DATE_DIMENSION]), keys[INSTANCE_DIMENSION]


def _pull_reports(
    vos: VosApiResource,
    postgres: PostgresResource,
    instance: VosInstance,
    day: dt.date,
    extra_accounts: Iterable[str] = (),
):
    """Return the report rows of every listed account plus `extra_accounts`, and the API."""
    gate = RequestGate(postgres.resolved_dsn(), instance.slug, instance.pause_seconds)
    try:
        with vos.client(instance, gate) as client:
            api = InventoryApi(client)
            accounts = sorted(set(api.all_accounts()) | set(extra_accounts))
            reports = list(get_customer_fee_reports(api, accounts, day))
    finally:
        gate.close()
    return accounts, reports, api


@asset(
    partitions_def=cdr_partitions,
    group_name="reports",
    kinds={"postgres"},
    owners=["team:data-engineering"],
)
def account_detail_reports(
    context: AssetExecutionContext,
    vos: VosApiResource,
    postgres: PostgresResource,
    vos_cache: VosCacheResource,
) -> MaterializeResult:
    """The switch's own usage report per account and server-local day, in the PostgreSQL
    table `account_detail_reports`: CDR count, total fee, billed seconds (`total_time`),
    package fee and seconds, and the split by call level (on-net, local, domestic,
    international). One row per account that the report lists; the partition's rows are
    replaced in one transaction. Source: GetReportCustomerFee with period 1 for every account
    that GetAllCustomers lists, 50 accounts per request. The check `cdrs_match_account_report`
    on `cdrs` compares these rows with the pulled CDRs."""
    day, slug = _partition(context)
    instance = load_enabled_instance(postgres, slug)
    check_partition_day(instance, day)

    accounts, reports, api = _pull_reports(vos, postgres, instance, day)
    fetched_at = dt.datetime.now(dt.UTC)
    with postgres.connect() as connection, connection.transaction():
        rows = replace_report_day(connection, slug, day, reports, len(accounts), fetched_at)
        store_replies(connection, slug, api.replies, vos_cache.policy())

    totals = report_totals(reports)
    calls = sum(total.cdr_count for total in totals.values())
    fee = sum((total.fee for total in totals.values()), Decimal(0))
    context.log.info(
        f"instance {slug} day {day}: report of {len(accounts)} accounts, {rows} rows, "
        f"{calls} CDRs, {len(api.replies)} requests"
    )
    return MaterializeResult(
        metadata={
            "accounts_requested": MetadataValue.int(len(accounts)),
            "rows": MetadataValue.int(rows),
            "accounts_with_cdrs": MetadataValue.int(
                sum(total.cdr_count > 0 for total in totals.values())
            ),
            "cdr_count": MetadataValue.int(calls),
            "total_fee": MetadataValue.float(float(fee)),
            "total_fee_exact": MetadataValue.text(f"{fee} {instance.currency}"),
            "billed_seconds": MetadataValue.int(
                sum(total.billed_seconds for total in totals.values())
            ),
            "requests": MetadataValue.int(len(api.replies)),
        }
    )


# NOTE: Dagster 1.13.27 cannot run this partitioned check alone: a run that selects only the
# check fails with "There is no PartitionsDefinition shared by all the provided assets". It
# runs with a `cdrs` materialization (cdrs_job) or after the report (account_reports_job).
@asset_check(
    asset=cdrs,
    name=RECONCILIATION_CHECK,
    partitions_def=cdr_partitions,
    additional_deps=[account_detail_reports],
    description=(
        "Compares, per account, the CDR count, total fee and billed seconds of this `cdrs` "
        "partition with the switch's GetReportCustomerFee report of the same day. Counts and "
        "seconds must be equal, and fees may differ by YKVOS_RECONCILE_FEE_TOLERANCE (default 0.01 "
        "per account). Uses the stored `account_detail_reports` partition, or asks the switch "
        "when that partition has not been pulled yet. On failure the metadata lists the "
        "differing accounts."
    ),
)
def cdrs_match_account_report(
    context: AssetCheckExecutionContext,
    vos: VosApiResource,
    clickhouse: ClickHouseResource,
    postgres: PostgresResource,
) -> AssetCheckResult:
    day, slug = _partition(context)
    with clickhouse.session() as client:
        ours = cdr_totals_by_account(client, slug, day)
    with postgres.connect() as connection:
        report = stored_report_totals(connection, slug, day)
    source = "account_detail_reports"
    if report is None:
        instance = load_enabled_instance(postgres, slug)
        _, reports, _ = _pull_reports(vos, postgres, instance, day, set(ours))
        report = report_totals(reports)
        source = "GetReportCustomerFee"

    tolerance = fee_tolerance()
    result = reconcile(ours, report, tolerance)
    differing = [difference.account for difference in result.differences]
    metadata = {
        "report_source": MetadataValue.text(source),
        "accounts_compared": MetadataValue.int(result.accounts_compared),
        "differing_accounts": MetadataValue.int(len(differing)),
        "cdr_count": MetadataValue.int(result.cdr_totals.cdr_count),
        "report_cdr_count": MetadataValue.int(result.report_totals.cdr_count),
        "fee": MetadataValue.text(str(result.cdr_totals.fee)),
        "report_fee": MetadataValue.text(str(result.report_totals.fee)),
        "billed_seconds": MetadataValue.int(result.cdr_totals.billed_seconds),
        "report_billed_seconds": MetadataValue.int(result.report_totals.billed_seconds),
        "fee_tolerance": MetadataValue.text(str(tolerance)),
    }
    if differing:
        metadata["differences"] = MetadataValue.md(differences_markdown(result.differences))
        context.log.warning(
            f"instance {slug} day {day}: {len(differing)} accounts differ from the switch's "
            f"report: {', '.join(differing[:20])}" + (" ..." if len(differing) > 20 else "")
        )
    return AssetCheckResult(passed=result.passed, metadata=metadata)
