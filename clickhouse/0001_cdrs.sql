-- Call-detail records pulled from VOS3000 GetCdr, one row per CDR.
--
-- Grain: one row per (instance, flow_no). call_day is the server-local day whose GetCdr pull
-- returned the row, and each (instance, call_day) is its own partition, so a re-pull replaces
-- exactly one instance-day with ALTER TABLE ... REPLACE PARTITION from a staging table.
-- Instants are UTC; start_day is the server-local date of start in the instance's time zone.
CREATE TABLE IF NOT EXISTS cdrs
(
    instance LowCardinality(String) COMMENT 'vos_instances.slug of the switch',
    instance_uuid UUID COMMENT 'vos_instances.uuid of the switch',
    call_day Date COMMENT 'server-local day whose GetCdr pull returned the CDR',
    flow_no Int64 COMMENT 'flowNo: CDR id, unique within one switch',
    account String COMMENT 'billed account number',
    account_name String,
    caller_e164 String,
    caller_access_e164 String,
    caller_to_gateway_e164 String,
    caller_product_id String,
    caller_gateway String COMMENT 'mapping (ingress) gateway name',
    caller_ip String,
    callee_e164 String,
    callee_access_e164 String COMMENT 'dialled callee number',
    callee_to_gateway_e164 String,
    callee_product_id String,
    callee_gateway String COMMENT 'routing (egress) gateway name; empty when no gateway was reached',
    callee_ip String,
    start DateTime64(3, 'UTC'),
    stop DateTime64(3, 'UTC'),
    start_day Date COMMENT 'server-local date of start',
    hold_time UInt32 COMMENT 'talk seconds',
    fee_time UInt32 COMMENT 'billed seconds',
    fee Decimal(18, 6),
    fee_prefix String,
    suite_fee Decimal(18, 6),
    suite_fee_time UInt32,
    agent_account String,
    agent_name String,
    agent_fee Decimal(18, 6) COMMENT 'charged to the agent (reseller) account, not a carrier cost',
    agent_fee_time UInt32,
    agent_fee_prefix String,
    agent_suite_fee Decimal(18, 6),
    agent_suite_fee_time UInt32,
    call_level Int16 COMMENT '1 on-net, 2 local, 4 national, 5 international',
    end_direction Int16 COMMENT '0 caller hung up, 1 callee, 2 server',
    end_reason Int32,
    callee_billing Nullable(Int16) COMMENT 'absent in some VOS versions',
    billing_mode Int16,
    billing_type Nullable(Int16) COMMENT 'absent in some VOS versions',
    raw String COMMENT 'the InfoCdr object as received, JSON',
    loaded_at DateTime64(3, 'UTC')
)
ENGINE = MergeTree
PARTITION BY (instance, call_day)
ORDER BY (instance, call_day, account, flow_no);
