-- GetCdr requests of an unfinished instance-day pull, with the end offset of its spool file
-- after each one, so that a retry on the same host continues instead of starting over. Rows
-- are deleted when the load succeeds.
CREATE TABLE IF NOT EXISTS cdr_pull_progress (
    instance text NOT NULL REFERENCES vos_instances (slug),
    call_day date NOT NULL,
    request_key text NOT NULL,
    spool_offset bigint NOT NULL,
    has_records boolean NOT NULL,
    run_id text,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, call_day, request_key)
);
