import datetime as dt

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from ykvos_dagster.assets.cdrs import cdrs
from ykvos_dagster.assets.observability import (
    COLUMN_SCHEMA_KEY,
    DESTINATION_PREFIXES_SCHEMA,
    preview_metadata,
)
from ykvos_dagster.partitions import DATE_DIMENSION, INSTANCE_DIMENSION, cdr_partitions
from ykvos_dagster.resources import ClickHouseResource, PostgresResource
from ykvos_dagster.warehouse.destinations import refresh_destinations
from ykvos_dagster.warehouse.instance_settings import sync_instance_settings
from ykvos_dagster.warehouse.leaders import leaders_preview
from ykvos_dagster.warehouse.registry import get_instance


@asset(
    partitions_def=cdr_partitions,
    deps=[cdrs],
    group_name="analytics",
    kinds={"clickhouse", "python"},
    owners=["team:data-engineering"],
    metadata={COLUMN_SCHEMA_KEY: DESTINATION_PREFIXES_SCHEMA},
)
def cdr_destinations(
    context: AssetExecutionContext,
    clickhouse: ClickHouseResource,
    postgres: PostgresResource,
) -> MaterializeResult:
    """Destination country and prefix of the numbers dialled on one call day of one switch, for
    the analyst views in ClickHouse (cdr_calls, cdr_destination_daily, cdr_kpi_hourly).

    Copies the switch's currency, time zone and numbering rules (default region, routing prefixes
    to strip) from the registry to ClickHouse, then parses every dialled-number prefix of the day
    that is not yet in `destination_prefixes` with phonenumbers. One lookup row covers all numbers
    with the same leading digits and length, so later days mostly find their prefixes parsed.
    Numbers that cannot be parsed are counted as `unparseable`, never dropped. Runs with every
    scheduled CDR pull; materialize it again after changing an instance's numbering rules or
    currency.
    """
    keys = context.partition_key.keys_by_dimension
    day = dt.date.fromisoformat(keys[DATE_DIMENSION])
    slug = keys[INSTANCE_DIMENSION]
    end = day + dt.timedelta(days=1)
    with postgres.connect() as connection:
        instance = get_instance(connection, slug)

    with clickhouse.session() as client:
        sync_instance_settings(client, instance)
        refresh = refresh_destinations(
            client, instance=slug, region=instance.default_region, start=day, end=end
        )
        preview = leaders_preview(
            client,
            instance=slug,
            start=day,
            end=end,
            currency=instance.currency,
            dimensions=("destination_country",),
        )

    by_status = refresh.cdrs_by_status
    return MaterializeResult(
        metadata={
            **preview_metadata(preview),
            "keys_parsed": MetadataValue.int(refresh.keys_parsed),
            "keys_reparsed": MetadataValue.int(refresh.keys_reparsed),
            "cdrs": MetadataValue.int(sum(by_status.values())),
            "cdrs_ok": MetadataValue.int(by_status.get("ok", 0)),
            "cdrs_invalid": MetadataValue.int(by_status.get("invalid", 0)),
            "cdrs_unparseable": MetadataValue.int(by_status.get("unparseable", 0)),
            "cdrs_pending": MetadataValue.int(by_status.get("pending", 0)),
            "default_region": MetadataValue.text(instance.default_region),
            "strip_prefixes": MetadataValue.text(",".join(instance.strip_prefixes)),
        }
    )
