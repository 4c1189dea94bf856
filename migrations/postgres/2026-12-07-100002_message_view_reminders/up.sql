-- The message view shows the pre-breach reminders deadline-timer sent, and where each warning
-- was escalated (the agency's parent at level 2, Special Follow-up at level 3). Warnings kept
-- before this carry no recipient.
ALTER TABLE message_warnings ADD COLUMN escalated_to TEXT;
CREATE TABLE message_reminders (
    deadline_id TEXT NOT NULL,
    fraction DOUBLE PRECISION NOT NULL,
    message_id TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    PRIMARY KEY (deadline_id, fraction)
);
CREATE INDEX message_reminders_message ON message_reminders (message_id);
