PRAGMA foreign_keys = OFF;
BEGIN;
-- The lifecycle of a message and who may see it.
-- intake: an assignment's ancestors (so a parent agency sees its sub-agencies' messages), how
-- often the message was declined, a flag for the supervisor, closing, the timeline of every
-- transition, attachments of answers.
ALTER TABLE messages ADD COLUMN agency_ancestors TEXT;
ALTER TABLE messages ADD COLUMN decline_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN needs_supervisor BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE messages ADD COLUMN closed_at TIMESTAMP;
CREATE INDEX messages_received ON messages (received_at, id);
CREATE INDEX messages_assigned_agency ON messages (assigned_agency_id, received_at);
ALTER TABLE agency_responses ADD COLUMN attachments TEXT NOT NULL DEFAULT '[]';
CREATE TABLE message_timeline (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    happened_at TIMESTAMP NOT NULL,
    transition TEXT NOT NULL,
    agency_id TEXT,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX message_timeline_of_message ON message_timeline (message_id, happened_at, id);

-- routing: every decline, so a message is not routed back to an agency that declined it and
-- its third decline goes to a supervisor.
CREATE TABLE declines (
    message_id TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    declined_at TIMESTAMP NOT NULL,
    PRIMARY KEY (message_id, agency_id, declined_at)
);
ALTER TABLE assignments ADD COLUMN needs_supervisor BOOLEAN NOT NULL DEFAULT FALSE;

-- deadline-timer: a message declined and assigned again gets fresh clocks, so a stage is unique
-- per assignment (its start), not per message; and the ancestors of the agency a clock runs
-- for, so parents see its clocks and warnings. SQLite cannot drop a table constraint: the
-- table is rebuilt (outside a transaction, with foreign keys off, as SQLite prescribes).
CREATE TABLE deadlines_rebuilt (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    tracking_code TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    budget TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    due_at TIMESTAMP NOT NULL,
    state TEXT NOT NULL,
    closed_at TIMESTAMP,
    policy_id TEXT,
    calendar_id TEXT,
    province TEXT,
    escalation_agency_id TEXT,
    stage_policy TEXT NOT NULL DEFAULT '{}',
    ladder TEXT NOT NULL DEFAULT '[]',
    next_step INTEGER NOT NULL DEFAULT 0,
    next_fire_at TIMESTAMP,
    paused_at TIMESTAMP,
    pauses TEXT NOT NULL DEFAULT '[]',
    agency_ancestors TEXT,
    UNIQUE (message_id, stage, started_at)
);
INSERT INTO deadlines_rebuilt (id, message_id, tracking_code, agency_id, stage, budget, started_at, due_at, state, closed_at, policy_id, calendar_id, province, escalation_agency_id, stage_policy, ladder, next_step, next_fire_at, paused_at, pauses) SELECT id, message_id, tracking_code, agency_id, stage, budget, started_at, due_at, state, closed_at, policy_id, calendar_id, province, escalation_agency_id, stage_policy, ladder, next_step, next_fire_at, paused_at, pauses FROM deadlines;
DROP TABLE deadlines;
ALTER TABLE deadlines_rebuilt RENAME TO deadlines;
CREATE INDEX deadlines_next_fire ON deadlines (next_fire_at) WHERE next_fire_at IS NOT NULL;
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
