-- Owned by deadline-timer.
-- Budgets are ISO 8601 durations; category '*' is the default for every category.
CREATE TABLE stage_budgets (
    category TEXT NOT NULL,
    stage TEXT NOT NULL,
    budget TEXT NOT NULL,
    PRIMARY KEY (category, stage)
);

CREATE TABLE deadlines (
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
    UNIQUE (message_id, stage)
);
CREATE INDEX deadlines_pending_due ON deadlines (due_at) WHERE state = 'pending';

-- Exactly one warning per (deadline, level), whatever the number of replicas.
CREATE TABLE warnings (
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
    UNIQUE (deadline_id, level)
);
CREATE INDEX warnings_agency ON warnings (agency_id, issued_at);

-- A response can overtake the assignment on the bus; remember it so the clock never starts.
CREATE TABLE responded_messages (
    message_id TEXT PRIMARY KEY,
    responded_at TIMESTAMP NOT NULL
);
