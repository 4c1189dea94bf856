-- Owned by intake.
CREATE TABLE categories (
    code TEXT PRIMARY KEY,
    name_fa TEXT NOT NULL,
    name_en TEXT NOT NULL,
    kinds TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    tracking_code TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    category TEXT NOT NULL REFERENCES categories (code),
    subject TEXT,
    body TEXT NOT NULL,
    province TEXT NOT NULL,
    city TEXT,
    status TEXT NOT NULL,
    assigned_agency_id TEXT,
    assigned_agency_name TEXT,
    submitted_by TEXT NOT NULL,
    idempotency_key TEXT,
    received_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX messages_idempotency ON messages (submitted_by, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- Personal data lives apart from the message so it can be protected and purged on its own.
CREATE TABLE reporters (
    message_id TEXT PRIMARY KEY REFERENCES messages (id),
    full_name TEXT,
    national_id TEXT,
    mobile TEXT,
    email TEXT,
    confidential BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE agency_responses (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages (id),
    agency_id TEXT NOT NULL,
    outcome TEXT NOT NULL,
    body TEXT NOT NULL,
    responded_at TIMESTAMP NOT NULL
);
CREATE INDEX agency_responses_message ON agency_responses (message_id);

-- Intake's read model of facts other services publish, so a lookup needs no other service.
CREATE TABLE message_deadlines (
    deadline_id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    due_at TIMESTAMP NOT NULL,
    state TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX message_deadlines_message ON message_deadlines (message_id);

CREATE TABLE message_warnings (
    warning_id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL,
    deadline_id TEXT NOT NULL,
    level INTEGER NOT NULL,
    reason TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL
);
CREATE INDEX message_warnings_message ON message_warnings (message_id);
