-- Views for analysts. Every view reads cdrs when it is queried, never a copy. A re-pulled
-- instance-day replaces its partition of cdrs atomically, so the views can neither count a CDR
-- twice nor miss a reloaded day. Materialized views would instead add up every insert.
--
-- Days are call days: the switch's server-local day whose GetCdr pull returned the CDR.
-- KPI columns, in every aggregate view:
--   attempts        count() of CDRs
--   answered        CDRs with hold_time > 0
--   asr_percent     answered / attempts x 100, rounded half up to 2 places
--   talk_seconds    hold_time summed over answered CDRs
--   acd_seconds     talk_seconds / answered, rounded half up to 2 places, 0 without answered CDRs
--   billed_seconds  fee_time summed over all CDRs
--   billed_minutes  billed_seconds / 60, rounded half up to 2 places
--   revenue         fee summed over all CDRs, in currency
-- Money is only summed within one instance, and every instance has one currency. Group by
-- currency when you add up several instances.

-- One row per CDR with the columns analysts use, the instance's currency, the local hour of
-- start and the destination of the dialled number. destination_status is pending until the
-- cdr_destinations asset has parsed the number's lookup key, and start_hour_local is NULL until
-- the instance's settings are synced to ClickHouse.
CREATE OR REPLACE VIEW cdr_calls AS
SELECT
    calls.instance AS instance,
    calls.call_day AS call_day,
    calls.flow_no AS flow_no,
    calls.account AS account,
    calls.account_name AS account_name,
    calls.mapping_gateway AS mapping_gateway,
    calls.routing_gateway AS routing_gateway,
    calls.caller_number AS caller_number,
    calls.callee_number AS callee_number,
    calls.dialled_number AS dialled_number,
    calls.start AS start,
    calls.stop AS stop,
    if(offsets.instance = '', NULL,
        toHour(calls.start + toIntervalSecond(offsets.utc_offset_seconds))) AS start_hour_local,
    calls.hold_time AS hold_time,
    calls.hold_time > 0 AS answered,
    calls.fee_time AS fee_time,
    calls.fee AS fee,
    calls.currency AS currency,
    calls.call_level AS call_level,
    calls.end_direction AS end_direction,
    calls.end_reason AS end_reason,
    calls.destination_key AS destination_key,
    if(destinations.status = '', 'pending', destinations.status) AS destination_status,
    if(destinations.status = '', 'ZZ', destinations.country) AS destination_country,
    destinations.country_code AS destination_country_code,
    destinations.destination_prefix AS destination_prefix
FROM
(
    SELECT
        c.instance AS instance,
        c.call_day AS call_day,
        c.flow_no AS flow_no,
        c.account AS account,
        c.account_name AS account_name,
        c.caller_gateway AS mapping_gateway,
        c.callee_gateway AS routing_gateway,
        c.caller_access_e164 AS caller_number,
        c.callee_access_e164 AS callee_number,
        c.start AS start,
        c.stop AS stop,
        c.hold_time AS hold_time,
        c.fee_time AS fee_time,
        c.fee AS fee,
        c.call_level AS call_level,
        c.end_direction AS end_direction,
        c.end_reason AS end_reason,
        s.currency AS currency,
        s.default_region AS default_region,
        substring(c.callee_access_e164,
            1 + length(arrayFirst(p -> startsWith(c.callee_access_e164, p), s.strip_prefixes)))
            AS dialled_number,
        arrayFirst(p -> startsWith(dialled_number, p), s.international_prefixes)
            AS international_prefix,
        -- The lookup key: 6 leading characters of a national number, or the international
        -- prefix and 8 more of an international one (numbering.py explains the lengths).
        if(s.instance = '', '',
            left(dialled_number,
                if(international_prefix = '', 6, length(international_prefix) + 8)))
            AS destination_key,
        toUInt16(length(dialled_number)) AS dialled_length
    FROM cdrs AS c
    LEFT JOIN vos_instance_settings AS s ON s.instance = c.instance
) AS calls
ASOF LEFT JOIN instance_utc_offsets AS offsets
    ON offsets.instance = calls.instance AND calls.start >= offsets.valid_from
LEFT ANY JOIN (SELECT * FROM destination_prefixes FINAL) AS destinations
    ON destinations.default_region = calls.default_region
    AND destinations.number_prefix = calls.destination_key
    AND destinations.number_length = calls.dialled_length;

-- Calls per instance and call day.
CREATE OR REPLACE VIEW cdr_kpi_daily AS
SELECT
    c.instance AS instance,
    c.call_day AS call_day,
    s.currency AS currency,
    uniqExact(c.account) AS accounts,
    count() AS attempts,
    countIf(c.hold_time > 0) AS answered,
    CAST(round(toDecimal128(answered, 6) * 100 / attempts, 2) AS Decimal(9, 2)) AS asr_percent,
    sumIf(c.hold_time, c.hold_time > 0) AS talk_seconds,
    CAST(if(answered = 0, 0, round(toDecimal128(talk_seconds, 6) / answered, 2))
        AS Decimal(18, 2)) AS acd_seconds,
    sum(c.fee_time) AS billed_seconds,
    CAST(round(toDecimal128(billed_seconds, 6) / 60, 2) AS Decimal(18, 2)) AS billed_minutes,
    sum(c.fee) AS revenue
FROM cdrs AS c
LEFT JOIN vos_instance_settings AS s ON s.instance = c.instance
GROUP BY instance, call_day, currency;

-- Calls per account and call day. account_name is the name on the account's latest CDR.
CREATE OR REPLACE VIEW cdr_account_daily AS
SELECT
    c.instance AS instance,
    c.call_day AS call_day,
    c.account AS account,
    argMax(c.account_name, c.start) AS account_name,
    s.currency AS currency,
    count() AS attempts,
    countIf(c.hold_time > 0) AS answered,
    CAST(round(toDecimal128(answered, 6) * 100 / attempts, 2) AS Decimal(9, 2)) AS asr_percent,
    sumIf(c.hold_time, c.hold_time > 0) AS talk_seconds,
    CAST(if(answered = 0, 0, round(toDecimal128(talk_seconds, 6) / answered, 2))
        AS Decimal(18, 2)) AS acd_seconds,
    sum(c.fee_time) AS billed_seconds,
    CAST(round(toDecimal128(billed_seconds, 6) / 60, 2) AS Decimal(18, 2)) AS billed_minutes,
    sum(c.fee) AS revenue
FROM cdrs AS c
LEFT JOIN vos_instance_settings AS s ON s.instance = c.instance
GROUP BY instance, call_day, account, currency;

-- Calls per account over every loaded call day.
CREATE OR REPLACE VIEW cdr_account_totals AS
SELECT
    c.instance AS instance,
    c.account AS account,
    argMax(c.account_name, c.start) AS account_name,
    s.currency AS currency,
    min(c.call_day) AS first_call_day,
    max(c.call_day) AS last_call_day,
    uniqExact(c.call_day) AS call_days,
    count() AS attempts,
    countIf(c.hold_time > 0) AS answered,
    CAST(round(toDecimal128(answered, 6) * 100 / attempts, 2) AS Decimal(9, 2)) AS asr_percent,
    sumIf(c.hold_time, c.hold_time > 0) AS talk_seconds,
    CAST(if(answered = 0, 0, round(toDecimal128(talk_seconds, 6) / answered, 2))
        AS Decimal(18, 2)) AS acd_seconds,
    sum(c.fee_time) AS billed_seconds,
    CAST(round(toDecimal128(billed_seconds, 6) / 60, 2) AS Decimal(18, 2)) AS billed_minutes,
    sum(c.fee) AS revenue
FROM cdrs AS c
LEFT JOIN vos_instance_settings AS s ON s.instance = c.instance
GROUP BY instance, account, currency;

-- Calls per routing (egress) gateway, calleeGateway, and call day. routing_gateway is '' for
-- calls that never reached a routing gateway, such as those the switch rejected itself.
CREATE OR REPLACE VIEW cdr_routing_gateway_daily AS
SELECT
    c.instance AS instance,
    c.call_day AS call_day,
    c.callee_gateway AS routing_gateway,
    s.currency AS currency,
    uniqExact(c.account) AS accounts,
    count() AS attempts,
    countIf(c.hold_time > 0) AS answered,
    CAST(round(toDecimal128(answered, 6) * 100 / attempts, 2) AS Decimal(9, 2)) AS asr_percent,
    sumIf(c.hold_time, c.hold_time > 0) AS talk_seconds,
    CAST(if(answered = 0, 0, round(toDecimal128(talk_seconds, 6) / answered, 2))
        AS Decimal(18, 2)) AS acd_seconds,
    sum(c.fee_time) AS billed_seconds,
    CAST(round(toDecimal128(billed_seconds, 6) / 60, 2) AS Decimal(18, 2)) AS billed_minutes,
    sum(c.fee) AS revenue
FROM cdrs AS c
LEFT JOIN vos_instance_settings AS s ON s.instance = c.instance
GROUP BY instance, call_day, routing_gateway, currency;

-- Calls per mapping (ingress) gateway, callerGateway, and call day.
CREATE OR REPLACE VIEW cdr_mapping_gateway_daily AS
SELECT
    c.instance AS instance,
    c.call_day AS call_day,
    c.caller_gateway AS mapping_gateway,
    s.currency AS currency,
    uniqExact(c.account) AS accounts,
    count() AS attempts,
    countIf(c.hold_time > 0) AS answered,
    CAST(round(toDecimal128(answered, 6) * 100 / attempts, 2) AS Decimal(9, 2)) AS asr_percent,
    sumIf(c.hold_time, c.hold_time > 0) AS talk_seconds,
    CAST(if(answered = 0, 0, round(toDecimal128(talk_seconds, 6) / answered, 2))
        AS Decimal(18, 2)) AS acd_seconds,
    sum(c.fee_time) AS billed_seconds,
    CAST(round(toDecimal128(billed_seconds, 6) / 60, 2) AS Decimal(18, 2)) AS billed_minutes,
    sum(c.fee) AS revenue
FROM cdrs AS c
LEFT JOIN vos_instance_settings AS s ON s.instance = c.instance
GROUP BY instance, call_day, mapping_gateway, currency;

-- Calls per call day and hour of start in the instance's own time zone (0-23; NULL until the
-- instance's settings are synced). A call just after midnight can belong to the previous call
-- day, so hour 0 of a call day may be short or hold a few calls of the next night.
CREATE OR REPLACE VIEW cdr_kpi_hourly AS
SELECT
    instance,
    call_day,
    start_hour_local,
    currency,
    count() AS attempts,
    countIf(hold_time > 0) AS answered,
    CAST(round(toDecimal128(answered, 6) * 100 / attempts, 2) AS Decimal(9, 2)) AS asr_percent,
    sumIf(hold_time, hold_time > 0) AS talk_seconds,
    CAST(if(answered = 0, 0, round(toDecimal128(talk_seconds, 6) / answered, 2))
        AS Decimal(18, 2)) AS acd_seconds,
    sum(fee_time) AS billed_seconds,
    CAST(round(toDecimal128(billed_seconds, 6) / 60, 2) AS Decimal(18, 2)) AS billed_minutes,
    sum(fee) AS revenue
FROM cdr_calls
GROUP BY instance, call_day, start_hour_local, currency;

-- Calls per destination of the dialled number (calleeAccessE164) and call day. Numbers that
-- cannot be parsed stay in the totals with destination_status 'unparseable' and country 'ZZ'.
CREATE OR REPLACE VIEW cdr_destination_daily AS
SELECT
    instance,
    call_day,
    destination_country,
    destination_prefix,
    destination_status,
    currency,
    uniqExact(account) AS accounts,
    count() AS attempts,
    countIf(hold_time > 0) AS answered,
    CAST(round(toDecimal128(answered, 6) * 100 / attempts, 2) AS Decimal(9, 2)) AS asr_percent,
    sumIf(hold_time, hold_time > 0) AS talk_seconds,
    CAST(if(answered = 0, 0, round(toDecimal128(talk_seconds, 6) / answered, 2))
        AS Decimal(18, 2)) AS acd_seconds,
    sum(fee_time) AS billed_seconds,
    CAST(round(toDecimal128(billed_seconds, 6) / 60, 2) AS Decimal(18, 2)) AS billed_minutes,
    sum(fee) AS revenue
FROM cdr_calls
GROUP BY instance, call_day, destination_country, destination_prefix, destination_status,
    currency;
