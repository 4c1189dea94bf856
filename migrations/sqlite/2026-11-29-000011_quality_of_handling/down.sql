PRAGMA foreign_keys = OFF;
BEGIN;
-- What the newer code wrote that the older one does not know.
UPDATE messages SET status = 'responded' WHERE status = 'reopened';
DELETE FROM message_timeline WHERE transition IN ('reopened', 'rated', 'reviewed');
DELETE FROM message_warnings WHERE reason = 'quality_below_standard';
CREATE TABLE warnings_rebuilt (
    id TEXT PRIMARY KEY,
    deadline_id TEXT NOT NULL REFERENCES deadlines (id),
    message_id TEXT NOT NULL,
    tracking_code TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    reason TEXT NOT NULL,
    text_fa TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    stage TEXT NOT NULL DEFAULT 'respond',
    escalated_to TEXT,
    acknowledged_at TIMESTAMP,
    acknowledged_by TEXT,
    UNIQUE (deadline_id, level)
);
INSERT INTO warnings_rebuilt SELECT id, deadline_id, message_id, tracking_code, agency_id, level, reason, text_fa, due_at, issued_at, stage, escalated_to, acknowledged_at, acknowledged_by FROM warnings WHERE stage <> 'quality';
DROP TABLE warnings;
ALTER TABLE warnings_rebuilt RENAME TO warnings;
CREATE INDEX warnings_agency ON warnings (agency_id, issued_at);
CREATE INDEX warnings_issued ON warnings (issued_at);
DROP TABLE rate_limits;
DROP INDEX response_reviews_of_message;
DROP TABLE response_reviews;
DROP INDEX response_ratings_of_message;
DROP TABLE response_ratings;
ALTER TABLE reporters DROP COLUMN tracking_pin;
ALTER TABLE messages DROP COLUMN media_url;
ALTER TABLE messages DROP COLUMN address;
ALTER TABLE messages DROP COLUMN longitude;
ALTER TABLE messages DROP COLUMN latitude;
ALTER TABLE messages DROP COLUMN reopen_until;
ALTER TABLE messages DROP COLUMN reopen_count;
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
