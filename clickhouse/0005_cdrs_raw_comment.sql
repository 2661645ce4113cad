-- The typed decoder stores the record text in cdrs.raw only when the other columns do not hold
-- the whole record. Rows loaded before it keep their text.
ALTER TABLE cdrs COMMENT COLUMN raw 'the InfoCdr object as received, JSON, when the other columns do not hold all of it (a member without a column, money with more than 6 decimals, or a record decoded by the SQL rules); empty otherwise'
