-- Owned by deadline-timer: business calendars, kept as the JSON document they are imported
-- and exported as (validated before it is stored).
CREATE TABLE business_calendars (
    id TEXT PRIMARY KEY,
    document TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
