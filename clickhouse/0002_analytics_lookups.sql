-- Lookup tables behind the analyst views, filled by the cdr_destinations asset (modules
-- ykvos_dagster.warehouse.instance_settings and .destinations). The views join them to cdrs at
-- query time, so they hold no CDRs and a re-pulled day needs no update here.

-- The ClickHouse copy of each instance's registry settings that the views need. One partition
-- per instance, replaced as a whole from a staging table, so readers never see two versions.
CREATE TABLE IF NOT EXISTS vos_instance_settings
(
    instance LowCardinality(String) COMMENT 'vos_instances.slug of the switch',
    timezone String COMMENT 'IANA time zone of the switch',
    currency LowCardinality(String) COMMENT 'ISO 4217 code of every money value of the switch',
    default_region LowCardinality(String) COMMENT 'ISO 3166 region of numbers in national form',
    strip_prefixes Array(String) COMMENT 'routing prefixes removed from dialled numbers, longest first',
    international_prefixes Array(String) COMMENT 'prefixes that mark a dialled number as international',
    synced_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY instance
ORDER BY instance;

-- UTC offset of each instance's time zone from valid_from until the next row's valid_from,
-- covering 1970 to 2100, for local hours of day through an ASOF JOIN on start.
CREATE TABLE IF NOT EXISTS instance_utc_offsets
(
    instance LowCardinality(String),
    valid_from DateTime64(3, 'UTC'),
    utc_offset_seconds Int32
)
ENGINE = MergeTree
PARTITION BY instance
ORDER BY (instance, valid_from);

-- Destination of dialled numbers, one row per (default region, lookup key): the first digits of
-- the number after the routing prefix is stripped, plus its length. Parsing depends only on the
-- key and the phonenumbers version, so rows are only ever added, or re-parsed after an upgrade
-- with a newer parsed_at. Read it with FINAL.
CREATE TABLE IF NOT EXISTS destination_prefixes
(
    default_region LowCardinality(String),
    number_prefix String COMMENT 'first digits of the dialled number without routing prefix',
    number_length UInt16 COMMENT 'length of the dialled number without routing prefix',
    status LowCardinality(String) COMMENT 'ok, invalid (length does not fit the country) or unparseable',
    country LowCardinality(String) COMMENT 'ISO 3166 code of the destination, ZZ when unknown',
    country_code UInt16 COMMENT 'E.164 country calling code, 0 when unparseable',
    destination_prefix String COMMENT '+, country code and national destination code',
    sample_number String COMMENT 'the number that was parsed for this key',
    parsed_with String COMMENT 'phonenumbers version',
    parsed_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(parsed_at)
ORDER BY (default_region, number_prefix, number_length);
