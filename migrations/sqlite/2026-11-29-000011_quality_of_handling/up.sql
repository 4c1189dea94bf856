PRAGMA foreign_keys = OFF;
BEGIN;
-- The quality of handling, citizen tracking and Open311.
-- intake: reopening (how often, and until when the citizen may), where an Open311 report was
-- made (location, address, photo), the tracking PIN a citizen chose (sealed like the rest of
-- the reporter), citizens' ratings and supervisors' reviews of answers, and the counters that
-- limit tracking attempts per client and per code (in the database, so every replica agrees).
ALTER TABLE messages ADD COLUMN reopen_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reopen_until TIMESTAMP;
ALTER TABLE messages ADD COLUMN latitude REAL;
ALTER TABLE messages ADD COLUMN longitude REAL;
ALTER TABLE messages ADD COLUMN address TEXT;
ALTER TABLE messages ADD COLUMN media_url TEXT;
ALTER TABLE reporters ADD COLUMN tracking_pin TEXT;
CREATE TABLE response_ratings (
    response_id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    rating INTEGER NOT NULL,
    comment TEXT,
    rated_at TIMESTAMP NOT NULL
);
CREATE INDEX response_ratings_of_message ON response_ratings (message_id);
CREATE TABLE response_reviews (
    response_id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    relevant INTEGER NOT NULL,
    complete INTEGER NOT NULL,
    lawful INTEGER NOT NULL,
    respectful INTEGER NOT NULL,
    score REAL NOT NULL,
    below_standard BOOLEAN NOT NULL,
    comment TEXT,
    reviewed_at TIMESTAMP NOT NULL
);
CREATE INDEX response_reviews_of_message ON response_reviews (message_id);
CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY,
    window_start TIMESTAMP NOT NULL,
    hits INTEGER NOT NULL
);

-- deadline-timer: a response reviewed below standard registers a quality warning on the clock
-- it answered, so a warning is unique per deadline, stage and level (the quality stage beside
-- the overdue levels of the same clock).
-- SQLite cannot drop a table constraint: the table is rebuilt (outside a transaction, with
-- foreign keys off, as SQLite prescribes).
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
    UNIQUE (deadline_id, stage, level)
);
INSERT INTO warnings_rebuilt (id, deadline_id, message_id, tracking_code, agency_id, level, reason, text_fa, due_at, issued_at, stage, escalated_to, acknowledged_at, acknowledged_by)
SELECT id, deadline_id, message_id, tracking_code, agency_id, level, reason, text_fa, due_at, issued_at, stage, escalated_to, acknowledged_at, acknowledged_by FROM warnings;
DROP TABLE warnings;
ALTER TABLE warnings_rebuilt RENAME TO warnings;
CREATE INDEX warnings_agency ON warnings (agency_id, issued_at);
CREATE INDEX warnings_issued ON warnings (issued_at);
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
