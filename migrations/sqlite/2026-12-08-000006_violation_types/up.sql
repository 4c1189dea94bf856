-- Owned by violation-referral: the catalogue of violation types, each a checked JSON document
-- (legal bases, remedial actions, counterpart unit, stage budgets) by code. The shipped ones
-- are stored when absent, at migration and start-up; an admin's edits are never overwritten.
CREATE TABLE violation_types (
    code TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- The counterpart units (معاونت‌های نظیر) of the inspection organization that weigh the
-- culpability of those responsible; a violation type names one.
CREATE TABLE counterpart_units (
    id TEXT PRIMARY KEY,
    name_fa TEXT NOT NULL,
    name_en TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
