-- Owned by intake and routing: how urgent a message is, and (in routing) the channel it came
-- by, so SLA policies can tell them apart (older messages were all normal); and when the
-- assigned agency acknowledged it.
ALTER TABLE messages ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE messages ADD COLUMN acknowledged_at TIMESTAMP;
ALTER TABLE assignments ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
ALTER TABLE assignments ADD COLUMN channel TEXT;
