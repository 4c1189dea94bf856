ALTER TABLE assignments DROP COLUMN channel;
ALTER TABLE assignments DROP COLUMN priority;
ALTER TABLE messages DROP COLUMN priority;
ALTER TABLE messages DROP COLUMN acknowledged_at;
