-- Owned by intake: the violation cases of its messages as violation-referral reports them, so
-- that a message closes only once its case's remedial track has a verdict (or was withdrawn).
CREATE TABLE message_violation_cases (
    case_id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    remedial_open BOOLEAN NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX message_violation_cases_message ON message_violation_cases (message_id);
