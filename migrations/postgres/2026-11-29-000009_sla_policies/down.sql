-- Back to flat stage budgets: a paused clock runs again, and each policy for every priority
-- and channel gives back its respond budget when it is a plain duration (all the old code knew).
UPDATE deadlines SET state = 'pending' WHERE state = 'paused';
DROP TABLE acknowledged_messages;
DROP INDEX warnings_issued;
ALTER TABLE warnings DROP COLUMN acknowledged_by;
ALTER TABLE warnings DROP COLUMN acknowledged_at;
ALTER TABLE warnings DROP COLUMN escalated_to;
ALTER TABLE warnings DROP COLUMN stage;
DROP INDEX deadlines_next_fire;
CREATE INDEX deadlines_pending_due ON deadlines (due_at) WHERE state = 'pending';
ALTER TABLE deadlines DROP COLUMN pauses;
ALTER TABLE deadlines DROP COLUMN paused_at;
ALTER TABLE deadlines DROP COLUMN next_fire_at;
ALTER TABLE deadlines DROP COLUMN next_step;
ALTER TABLE deadlines DROP COLUMN ladder;
ALTER TABLE deadlines DROP COLUMN stage_policy;
ALTER TABLE deadlines DROP COLUMN escalation_agency_id;
ALTER TABLE deadlines DROP COLUMN province;
ALTER TABLE deadlines DROP COLUMN calendar_id;
ALTER TABLE deadlines DROP COLUMN policy_id;
CREATE TABLE stage_budgets (
    category TEXT NOT NULL,
    stage TEXT NOT NULL,
    budget TEXT NOT NULL,
    PRIMARY KEY (category, stage)
);
INSERT INTO stage_budgets (category, stage, budget)
SELECT category, 'respond', budget FROM (
    SELECT category, (SELECT s ->> 'budget' FROM json_array_elements(document::json -> 'stages') AS s WHERE s ->> 'stage' = 'respond' LIMIT 1) AS budget
    FROM sla_policies WHERE priority = '*' AND channel = '*'
) AS respond_budgets
WHERE budget LIKE 'P%';
DROP TABLE sla_policies;
