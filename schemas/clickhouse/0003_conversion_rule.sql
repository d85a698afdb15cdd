-- The payout rule that priced each conversion (`event: payout[, recurrent]`), so that a
-- reader can tell a fixed, percentage, kpi or reversal credit apart from a pass-through.
ALTER TABLE {database}.conversions ADD COLUMN IF NOT EXISTS rule String AFTER creative;
