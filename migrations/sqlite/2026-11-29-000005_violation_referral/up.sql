-- Owned by violation-referral.
CREATE TABLE violation_cases (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    tracking_code TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    category TEXT NOT NULL,
    province TEXT NOT NULL,
    status TEXT NOT NULL,
    opened_at TIMESTAMP NOT NULL
);
CREATE INDEX violation_cases_agency ON violation_cases (agency_id, opened_at);
