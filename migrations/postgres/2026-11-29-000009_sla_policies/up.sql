-- Owned by deadline-timer. SLA policies replace the flat stage budgets: per category ×
-- priority × channel ('*' for any), stages with budgets, reminders and an escalation ladder,
-- kept as the validated JSON document the admin API takes and gives.
CREATE TABLE sla_policies (
    id TEXT PRIMARY KEY,
    category TEXT NOT NULL,
    priority TEXT NOT NULL,
    channel TEXT NOT NULL,
    document TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (category, priority, channel)
);
-- Each stage budget becomes a policy with its respond stage, without reminders or further
-- levels: deadlines keep behaving as they did. The `*` budget becomes policy `default`
-- (`all-categories` if a category is itself called `default`).
INSERT INTO sla_policies (id, category, priority, channel, document, updated_at)
SELECT CASE WHEN category <> '*' THEN category
            WHEN EXISTS (SELECT 1 FROM stage_budgets WHERE category = 'default') THEN 'all-categories'
            ELSE 'default' END,
       category, '*', '*',
       '{"id":"' || (CASE WHEN category <> '*' THEN category
                WHEN EXISTS (SELECT 1 FROM stage_budgets WHERE category = 'default') THEN 'all-categories'
                ELSE 'default' END) || '","category":"'
       || category || '","priority":"*","channel":"*","calendar":null,"stages":[{"stage":"respond","budget":"'
       || budget || '","reminders":[],"level_2_after":null,"level_3_after":null}]}',
       (now() AT TIME ZONE 'UTC')
FROM stage_budgets WHERE stage = 'respond';
DROP TABLE stage_budgets;

-- A deadline carries a copy of its stage's policy and the timed steps it leads to (reminders,
-- then warning levels 1–3); next_fire_at is the instant of the next step, NULL once none is left.
ALTER TABLE deadlines ADD COLUMN policy_id TEXT;
ALTER TABLE deadlines ADD COLUMN calendar_id TEXT;
ALTER TABLE deadlines ADD COLUMN province TEXT;
ALTER TABLE deadlines ADD COLUMN escalation_agency_id TEXT;
ALTER TABLE deadlines ADD COLUMN stage_policy TEXT NOT NULL DEFAULT '{}';
ALTER TABLE deadlines ADD COLUMN ladder TEXT NOT NULL DEFAULT '[]';
ALTER TABLE deadlines ADD COLUMN next_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deadlines ADD COLUMN next_fire_at TIMESTAMP;
-- Set while the stage waits for the citizen: its clock and its ladder stand still. Past
-- pauses are kept, so a ladder can be recomputed on a changed calendar.
ALTER TABLE deadlines ADD COLUMN paused_at TIMESTAMP;
ALTER TABLE deadlines ADD COLUMN pauses TEXT NOT NULL DEFAULT '[]';
UPDATE deadlines
SET next_fire_at = due_at,
    stage_policy = '{"stage":"' || stage || '","budget":"' || budget || '","reminders":[]}',
    ladder = '[{"kind":"warning","level":1,"at":"' || to_char(due_at, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"}]'
WHERE state = 'pending';
DROP INDEX deadlines_pending_due;
CREATE INDEX deadlines_next_fire ON deadlines (next_fire_at) WHERE next_fire_at IS NOT NULL;

-- An acknowledgement can overtake the assignment on the bus, like a response.
CREATE TABLE acknowledged_messages (
    message_id TEXT PRIMARY KEY,
    acknowledged_at TIMESTAMP NOT NULL
);

ALTER TABLE warnings ADD COLUMN stage TEXT NOT NULL DEFAULT 'respond';
ALTER TABLE warnings ADD COLUMN escalated_to TEXT;
ALTER TABLE warnings ADD COLUMN acknowledged_at TIMESTAMP;
ALTER TABLE warnings ADD COLUMN acknowledged_by TEXT;
CREATE INDEX warnings_issued ON warnings (issued_at);
