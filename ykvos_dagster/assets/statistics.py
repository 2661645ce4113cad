from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
)

from ykvos_dagster.assets.cdrs import CLICKHOUSE_POOL, cdrs
from ykvos_dagster.assets.observability import (
    CDR_STATISTICS_SCHEMA,
    COLUMN_SCHEMA_KEY,
    DAILY_FRESHNESS,
    ROW_COUNT_KEY,
    preview_metadata,
)
from ykvos_dagster.metadata import leaders_markdown, statistics_leaders
from ykvos_dagster.partitions import (
    DATE_DIMENSION,
    INSTANCE_DIMENSION,
    days_to_period_mapping,
    period_start_from_key,
    statistics_partitions,
)
from ykvos_dagster.resources import ClickHouseResource, PostgresResource
from ykvos_dagster.warehouse.registry import get_instance
from ykvos_dagster.warehouse.statistics import (
    compute_statistics,
    load_coverage,
    period_window,
    write_statistics,
)

ASSET_NAMES = {
    "day": "cdr_statistics_daily",
    "month": "cdr_statistics_monthly",
    "quarter": "cdr_statistics_quarterly",
    "year": "cdr_statistics_yearly",
}


def _build(period_type: str) -> AssetsDefinition:
    @asset(
        name=ASSET_NAMES[period_type],
        partitions_def=statistics_partitions[period_type],
        deps=[AssetDep(cdrs, partition_mapping=days_to_period_mapping())],
        group_name="statistics",
        kinds={"clickhouse", "postgres"},
        owners=["team:data-engineering"],
        pool=CLICKHOUSE_POOL,
        metadata={COLUMN_SCHEMA_KEY: CDR_STATISTICS_SCHEMA},
        freshness_policy=DAILY_FRESHNESS if period_type == "day" else None,
        description=(
            f"Call statistics per {period_type} of call days, per VOS3000 instance, in the "
            "PostgreSQL table `cdr_statistics` (period_type = "
            f"'{period_type}'). One row for the whole switch (statistic_type 'vos'), one per "
            "account and one per routing gateway (calleeGateway): total and connected calls, "
            "talk seconds of connected calls, billed seconds, total fee in the instance's "
            "currency, and the connection rate (ASR) in percent. A period whose past days are "
            "not all loaded has is_complete = false; the current period is computed to date."
        ),
    )
    def _statistics(
        context: AssetExecutionContext,
        clickhouse: ClickHouseResource,
        postgres: PostgresResource,
    ) -> MaterializeResult:
        keys = context.partition_key.keys_by_dimension
        slug = keys[INSTANCE_DIMENSION]
        start, end = period_window(
            period_type, period_start_from_key(period_type, keys[DATE_DIMENSION])
        )
        with postgres.connect() as connection:
            instance = get_instance(connection, slug)

        with clickhouse.session() as client:
            rows = compute_statistics(client, slug, start, end)

        with postgres.connect() as connection:
            coverage = load_coverage(connection, instance, start, end)
            write_statistics(
                connection,
                instance=instance,
                period_type=period_type,
                start=start,
                end=end,
                rows=rows,
                coverage=coverage,
            )

        vos_row = next(row for row in rows if row.statistic_type == "vos")
        if not coverage.is_complete:
            context.log.warning(
                f"instance {slug} {period_type} {start}: only {coverage.days_loaded} of "
                f"{coverage.days_elapsed} past days are loaded; statistics marked incomplete"
            )
        preview = leaders_markdown(
            [
                ("Top accounts", "account", statistics_leaders(rows, "account")),
                (
                    "Top routing gateways (calleeGateway)",
                    "routing gateway",
                    statistics_leaders(rows, "gateway"),
                ),
            ],
            instance.currency,
        )
        return MaterializeResult(
            metadata={
                ROW_COUNT_KEY: MetadataValue.int(len(rows)),
                **preview_metadata(preview),
                "period": MetadataValue.text(f"[{start}, {end})"),
                "rows_written": MetadataValue.int(len(rows)),
                "accounts": MetadataValue.int(
                    sum(1 for row in rows if row.statistic_type == "account")
                ),
                "gateways": MetadataValue.int(
                    sum(1 for row in rows if row.statistic_type == "gateway")
                ),
                "total_calls": MetadataValue.int(vos_row.total_calls),
                "connected_calls": MetadataValue.int(vos_row.connected_calls),
                "connection_rate": MetadataValue.float(float(vos_row.connection_rate)),
                "total_fee": MetadataValue.text(f"{vos_row.total_fee} {instance.currency}"),
                "days_loaded": MetadataValue.int(coverage.days_loaded),
                "days_elapsed": MetadataValue.int(coverage.days_elapsed),
                "is_complete": MetadataValue.bool(coverage.is_complete),
            }
        )

    return _statistics


statistics_assets = {period: _build(period) for period in ASSET_NAMES}
