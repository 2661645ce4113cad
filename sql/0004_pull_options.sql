-- Per-instance options of the CDR pull. Both default to on; turn them off for a switch whose
-- GetReportCustomerFee is missing or disagrees with GetCdr.
--   skip_idle_accounts: request no CDRs for accounts that GetReportCustomerFee reports without
--     CDRs that day and that have none stored.
--   batch_accounts: put several small accounts into one GetCdr request, up to batch_max_rows CDRs
--     by the report's cdrCount.
ALTER TABLE vos_instances ADD COLUMN IF NOT EXISTS skip_idle_accounts boolean NOT NULL DEFAULT true;
ALTER TABLE vos_instances ADD COLUMN IF NOT EXISTS batch_accounts boolean NOT NULL DEFAULT true;
ALTER TABLE vos_instances ADD COLUMN IF NOT EXISTS batch_max_rows integer NOT NULL DEFAULT 5000
    CHECK (batch_max_rows > 0);

-- Records of a load that went to the ClickHouse table cdrs_quarantine instead of cdrs.
ALTER TABLE cdr_loads ADD COLUMN IF NOT EXISTS quarantined bigint NOT NULL DEFAULT 0;
