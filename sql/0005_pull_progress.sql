-- Parts of an instance-day CDR pull already fetched by a failed attempt, so that a retry on
-- the same host skips them. Rows are deleted when the load succeeds.
CREATE TABLE IF NOT EXISTS cdr_pull_progress (
    instance text NOT NULL REFERENCES vos_instances (slug),
    call_day date NOT NULL,
    part_key text NOT NULL,
    rows bigint NOT NULL,
    spool_file text NOT NULL,
    run_id text,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, call_day, part_key)
);
