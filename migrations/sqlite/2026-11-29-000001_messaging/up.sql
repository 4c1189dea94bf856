-- Shared messaging infrastructure: every service writes its events here in the same
-- transaction as its state change (outbox) and records what it consumed (inbox).
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    producer TEXT NOT NULL,
    event_type TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    envelope TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    lease_until TIMESTAMP,
    publish_attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    published_at TIMESTAMP
);
CREATE INDEX outbox_unpublished ON outbox (producer, id) WHERE published_at IS NULL;

CREATE TABLE inbox (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    processed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Events a consumer gave up on after the delivery limit (the in-process bus; RabbitMQ parks
-- them in its parking queue instead).
CREATE TABLE parked_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    envelope TEXT NOT NULL,
    error TEXT NOT NULL,
    parked_at TIMESTAMP NOT NULL
);

-- Machine clients (the call centre, Open311 apps, agency systems). Only a hash is kept.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    agency_id TEXT,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
