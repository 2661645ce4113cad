-- Registry of VOS3000 switches. slug is immutable and is the Dagster partition key.
CREATE TABLE IF NOT EXISTS vos_instances (
    slug text PRIMARY KEY CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    uuid uuid NOT NULL UNIQUE,
    name text NOT NULL,
    base_url text NOT NULL,
    path_prefix text NOT NULL DEFAULT '/external/server',
    timezone text NOT NULL DEFAULT 'Asia/Shanghai',
    currency text NOT NULL DEFAULT 'CNY',
    first_day date NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    pause_seconds numeric(8, 3) NOT NULL DEFAULT 2 CHECK (pause_seconds >= 0),
    timeout_seconds numeric(8, 3) NOT NULL DEFAULT 60 CHECK (timeout_seconds > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per successful CDR load of an instance-day; a day with no calls is a load with 0 rows.
CREATE TABLE IF NOT EXISTS cdr_loads (
    id bigserial PRIMARY KEY,
    instance text NOT NULL REFERENCES vos_instances (slug),
    call_day date NOT NULL,
    rows bigint NOT NULL,
    accounts integer NOT NULL,
    answered_calls bigint NOT NULL,
    total_fee numeric(24, 6) NOT NULL,
    run_id text,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS cdr_loads_instance_day ON cdr_loads (instance, call_day);

-- Call statistics for every level and period. dimension_value is '' for the vos level, the
-- account for the account level and the routing gateway (calleeGateway) for the gateway level.
CREATE TABLE IF NOT EXISTS cdr_statistics (
    id bigserial PRIMARY KEY,
    instance text NOT NULL REFERENCES vos_instances (slug),
    instance_uuid uuid NOT NULL,
    statistic_type text NOT NULL CHECK (statistic_type IN ('vos', 'account', 'gateway')),
    dimension_value text NOT NULL,
    dimension_name text NOT NULL DEFAULT '',
    period_type text NOT NULL CHECK (period_type IN ('day', 'month', 'quarter', 'year')),
    period_start date NOT NULL,
    period_end date NOT NULL,
    total_calls bigint NOT NULL,
    connected_calls bigint NOT NULL,
    total_duration bigint NOT NULL,
    total_billed_seconds bigint NOT NULL,
    total_fee numeric(24, 6) NOT NULL,
    currency text NOT NULL,
    connection_rate numeric(5, 2) NOT NULL,
    days_in_period integer NOT NULL,
    days_elapsed integer NOT NULL,
    days_loaded integer NOT NULL,
    is_complete boolean NOT NULL,
    computed_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (instance, statistic_type, dimension_value, period_type, period_start)
);
CREATE INDEX IF NOT EXISTS cdr_statistics_period ON cdr_statistics (instance, period_type, period_start);

-- Time of the last VOS3000 request per instance, read under the instance's advisory lock to keep
-- the configured pause between requests across runs.
CREATE TABLE IF NOT EXISTS vos_request_pacing (
    instance text PRIMARY KEY,
    last_request_at timestamptz NOT NULL
);
