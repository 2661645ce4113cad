-- Inventory and live state of each VOS3000 instance, the reply cache, health probes and the
-- switch's own daily account reports. Every inventory table is replaced per instance in one
-- transaction, so readers see one complete pull. raw is the record as received, without
-- secrets (passwords are removed before anything is stored).

-- Accounts: GetAllCustomers (type 1) for the list and balances, GetCustomer for the details.
CREATE TABLE IF NOT EXISTS customers (
    instance text NOT NULL REFERENCES vos_instances (slug),
    account text NOT NULL,
    name text,
    money numeric(24, 6),
    limit_money numeric(24, 6),
    is_in_debt boolean NOT NULL,
    fee_rate_group text,
    account_type smallint,
    lock_type smallint,
    agent_account text,
    category smallint,
    canceled boolean,
    start_time timestamptz,
    valid_time timestamptz,
    today_consumption numeric(24, 6),
    binded_e164s text[],
    memo text,
    raw jsonb NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (instance, account)
);

-- Mapping (ingress) and routing (egress) gateways with their online state. The online columns
-- are refreshed every minute. A gateway missing from the switch's online list has
-- is_online = false and NULL online columns.
CREATE TABLE IF NOT EXISTS gateways (
    instance text NOT NULL REFERENCES vos_instances (slug),
    gateway_type text NOT NULL CHECK (gateway_type IN ('mapping', 'routing')),
    name text NOT NULL,
    account text,
    account_name text,
    clearing_account text,
    prefix text,
    lock_type smallint,
    capacity integer,
    priority integer,
    call_level smallint,
    register_type smallint,
    protocol smallint,
    remote_ips text,
    softswitch_name text,
    gateway_groups text,
    memo text,
    raw jsonb,
    fetched_at timestamptz,
    is_online boolean NOT NULL DEFAULT false,
    online_id integer,
    current_calls integer,
    online_capacity integer,
    asr numeric(12, 4),
    acd_seconds bigint,
    response_ratio numeric(12, 4),
    connected_ratio numeric(12, 4),
    online_remote_ips text,
    nat_ip text,
    local_ip text,
    register_time timestamptz,
    update_time timestamptz,
    keep_time_seconds bigint,
    register_name text,
    retry_after_ms bigint,
    crypto_type smallint,
    online_softswitch_name text,
    softswitch_ip text,
    online_raw jsonb,
    online_fetched_at timestamptz,
    PRIMARY KEY (instance, gateway_type, name)
);
COMMENT ON COLUMN gateways.asr IS 'answer-seizure ratio in the scale the switch sends, which VOS3000 does not document (fraction or percentage)';

-- Phones (terminals) from GetPhone.
CREATE TABLE IF NOT EXISTS phones (
    instance text NOT NULL REFERENCES vos_instances (slug),
    e164 text NOT NULL,
    account text,
    display_number text,
    lock_type smallint,
    call_level smallint,
    fee_rate_group text,
    line_capacity integer,
    line_call_in integer,
    line_call_out integer,
    register_type smallint,
    protocol smallint,
    ip text,
    port integer,
    memo text,
    raw jsonb NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (instance, e164)
);

-- Online phones: GetAllPhoneOnline for the numbers, GetPhoneOnline for their registration.
CREATE TABLE IF NOT EXISTS phones_online (
    instance text NOT NULL REFERENCES vos_instances (slug),
    e164 text NOT NULL,
    current_calls integer,
    remote_ip text,
    local_ip text,
    register_time timestamptz,
    update_time timestamptz,
    protocol smallint,
    crypto_type smallint,
    product_id text,
    raw jsonb NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (instance, e164)
);

CREATE TABLE IF NOT EXISTS fee_rate_groups (
    instance text NOT NULL REFERENCES vos_instances (slug),
    name text NOT NULL,
    memo text,
    raw jsonb NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (instance, name)
);

-- fee is the price of one period of period_seconds for calls whose number starts with
-- fee_prefix. rate_type is 1 on-net, 2 local, 4 national, 5 international.
CREATE TABLE IF NOT EXISTS fee_rates (
    instance text NOT NULL REFERENCES vos_instances (slug),
    fee_rate_group text NOT NULL,
    fee_prefix text NOT NULL,
    area_code text,
    area_name text,
    rate_type smallint,
    fee numeric(24, 6),
    period_seconds integer,
    lock_type smallint,
    ivr_fee numeric(24, 6),
    ivr_period integer,
    sections jsonb,
    raw jsonb NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (instance, fee_rate_group, fee_prefix)
);

-- Packages (GetSuite). rent_type: 0 day, 1 month, 2 year, 3 one-off.
CREATE TABLE IF NOT EXISTS suites (
    instance text NOT NULL REFERENCES vos_instances (slug),
    suite_id integer NOT NULL,
    name text,
    rent_period integer,
    rent_type smallint,
    nonholonomic_order boolean,
    rent_fee numeric(24, 6),
    min_consumption numeric(24, 6),
    lower_consumption numeric(24, 6),
    gift_money numeric(24, 6),
    gift_times jsonb,
    memo text,
    raw jsonb NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (instance, suite_id)
);

CREATE TABLE IF NOT EXISTS soft_switches (
    instance text NOT NULL REFERENCES vos_instances (slug),
    name text NOT NULL,
    identification text,
    create_time timestamptz,
    access_time timestamptz,
    access_address text,
    memo text,
    raw jsonb NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (instance, name)
);

-- The latest GetPerformance sample of each instance.
CREATE TABLE IF NOT EXISTS vos_performance (
    instance text PRIMARY KEY REFERENCES vos_instances (slug),
    call_size integer,
    cdr_queue_size integer,
    raw jsonb NOT NULL,
    fetched_at timestamptz NOT NULL
);

-- GetAlarmCurrent. level: 0 normal, 1 minor, 2 major, 3 critical.
CREATE TABLE IF NOT EXISTS alarms_current (
    instance text NOT NULL REFERENCES vos_instances (slug),
    alarm_id bigint NOT NULL,
    alarm_type integer,
    level smallint,
    name text,
    start_time timestamptz,
    stop_time timestamptz,
    value numeric(24, 6),
    upper numeric(24, 6),
    lower numeric(24, 6),
    confirm_user text,
    confirm_time timestamptz,
    memo text,
    raw jsonb NOT NULL,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (instance, alarm_id)
);

-- The latest reply per instance, interface and request, without secrets. expires_at follows
-- the time-to-live of the interface's kind, and a daily job deletes expired rows.
CREATE TABLE IF NOT EXISTS vos_data_cache (
    instance text NOT NULL REFERENCES vos_instances (slug),
    interface text NOT NULL,
    request_hash text NOT NULL,
    request jsonb NOT NULL,
    reply jsonb NOT NULL,
    fetched_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (instance, interface, request_hash)
);
CREATE INDEX IF NOT EXISTS vos_data_cache_expires_at ON vos_data_cache (expires_at);

-- One row per health probe (a light request) of an instance.
CREATE TABLE IF NOT EXISTS vos_health_checks (
    id bigserial PRIMARY KEY,
    instance text NOT NULL REFERENCES vos_instances (slug),
    checked_at timestamptz NOT NULL,
    interface text NOT NULL,
    ok boolean NOT NULL,
    latency_ms numeric(12, 3) NOT NULL,
    ret_code integer,
    error text
);
CREATE INDEX IF NOT EXISTS vos_health_checks_instance_time
    ON vos_health_checks (instance, checked_at DESC);

-- GetReportCustomerFee per account and server-local day. Times are billed seconds.
CREATE TABLE IF NOT EXISTS account_detail_reports (
    instance text NOT NULL REFERENCES vos_instances (slug),
    report_day date NOT NULL,
    account text NOT NULL,
    account_name text,
    begin_time timestamptz,
    end_time timestamptz,
    cdr_count bigint NOT NULL,
    total_fee numeric(24, 6) NOT NULL,
    total_time bigint NOT NULL,
    total_suite_fee numeric(24, 6),
    total_suite_fee_time bigint,
    net_fee numeric(24, 6),
    net_time bigint,
    net_count bigint,
    local_fee numeric(24, 6),
    local_time bigint,
    local_count bigint,
    domestic_fee numeric(24, 6),
    domestic_time bigint,
    domestic_count bigint,
    international_fee numeric(24, 6),
    international_time bigint,
    international_count bigint,
    fetched_at timestamptz NOT NULL,
    PRIMARY KEY (instance, report_day, account)
);

-- One row per report pull of an instance-day, which distinguishes a day whose report had no
-- rows from a day never pulled.
CREATE TABLE IF NOT EXISTS account_detail_report_loads (
    instance text NOT NULL REFERENCES vos_instances (slug),
    report_day date NOT NULL,
    accounts_requested integer NOT NULL,
    rows integer NOT NULL,
    loaded_at timestamptz NOT NULL,
    PRIMARY KEY (instance, report_day)
);
