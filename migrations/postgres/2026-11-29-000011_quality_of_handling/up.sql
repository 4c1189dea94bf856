-- The quality of handling, citizen tracking and Open311.
-- intake: reopening (how often, and until when the citizen may), where an Open311 report was
-- made (location, address, photo), the tracking PIN a citizen chose (sealed like the rest of
-- the reporter), citizens' ratings and supervisors' reviews of answers, and the counters that
-- limit tracking attempts per client and per code (in the database, so every replica agrees).
ALTER TABLE messages ADD COLUMN reopen_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN reopen_until TIMESTAMP;
ALTER TABLE messages ADD COLUMN latitude DOUBLE PRECISION;
ALTER TABLE messages ADD COLUMN longitude DOUBLE PRECISION;
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
    score DOUBLE PRECISION NOT NULL,
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
ALTER TABLE warnings DROP CONSTRAINT warnings_deadline_id_level_key;
CREATE UNIQUE INDEX warnings_per_stage_level ON warnings (deadline_id, stage, level);
