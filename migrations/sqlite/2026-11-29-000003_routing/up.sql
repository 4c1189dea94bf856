-- Owned by routing.
CREATE TABLE agencies (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_id TEXT REFERENCES agencies (id),
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX agencies_parent ON agencies (parent_id);

-- '*' is the wildcard for province and city, so the unique key also covers wildcards.
CREATE TABLE routing_rules (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    province TEXT NOT NULL,
    city TEXT NOT NULL,
    agency_id TEXT NOT NULL REFERENCES agencies (id),
    created_at TIMESTAMP NOT NULL,
    UNIQUE (category, province, city)
);

CREATE TABLE assignments (
    message_id TEXT PRIMARY KEY,
    tracking_code TEXT NOT NULL,
    kind TEXT NOT NULL,
    category TEXT NOT NULL,
    province TEXT NOT NULL,
    city TEXT,
    state TEXT NOT NULL,
    agency_id TEXT REFERENCES agencies (id),
    rule_id TEXT,
    decided_at TIMESTAMP NOT NULL
);
CREATE INDEX assignments_triage ON assignments (decided_at) WHERE state = 'triage';
