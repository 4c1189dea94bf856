-- Owned by violation-referral: the latest assignment of every message (the `message.assigned`
-- event as received), so an inspector can open a case on any message by its tracking code.
CREATE TABLE violation_message_assignments (
    message_id TEXT PRIMARY KEY,
    tracking_code TEXT NOT NULL,
    assigned TEXT NOT NULL,
    assigned_at TIMESTAMP NOT NULL
);
CREATE INDEX violation_message_assignments_code ON violation_message_assignments (tracking_code);
-- Why an inspector opened a case on a message that is not a violation report.
ALTER TABLE violation_cases ADD COLUMN opened_reason TEXT;
