DROP TABLE acknowledged_messages;
DROP INDEX warnings_issued;
ALTER TABLE warnings DROP COLUMN acknowledged_by;
ALTER TABLE warnings DROP COLUMN acknowledged_at;
ALTER TABLE warnings DROP COLUMN escalated_to;
ALTER TABLE warnings DROP COLUMN stage;
DROP INDEX deadlines_next_fire;
CREATE INDEX deadlines_pending_due ON deadlines (due_at) WHERE state = 'pending';
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
DROP TABLE sla_policies;
