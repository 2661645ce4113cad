-- InfoCdr records that a pull could not store in cdrs without inventing a value: a missing flowNo,
-- start or stop, a value of the wrong type or outside its range, stop before start.
--
-- Grain: one row per rejected record. Each (instance, call_day) is its own partition and is
-- replaced by every load of that instance-day, so the table contains the rejects of the latest load.
CREATE TABLE IF NOT EXISTS cdrs_quarantine
(
    instance LowCardinality(String) COMMENT 'vos_instances.slug of the switch',
    call_day Date COMMENT 'server-local day whose GetCdr pull returned the record',
    account String COMMENT 'the record''s account, empty when it has none',
    reason String COMMENT 'why the record was not stored in cdrs',
    raw String COMMENT 'the InfoCdr object as received, JSON',
    loaded_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY (instance, call_day)
ORDER BY (instance, call_day, account);
