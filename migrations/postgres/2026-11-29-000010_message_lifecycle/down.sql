ALTER TABLE deadlines DROP COLUMN agency_ancestors;
-- Clocks of a reassigned message do not fit the older schema: only the latest of each stage stays.
DELETE FROM warnings w USING deadlines d, deadlines n
WHERE w.deadline_id = d.id AND n.message_id = d.message_id AND n.stage = d.stage AND n.started_at > d.started_at;
DELETE FROM deadlines d USING deadlines n
WHERE n.message_id = d.message_id AND n.stage = d.stage AND n.started_at > d.started_at;
DROP INDEX deadlines_per_assignment;
ALTER TABLE deadlines ADD CONSTRAINT deadlines_message_id_stage_key UNIQUE (message_id, stage);
ALTER TABLE assignments DROP COLUMN needs_supervisor;
DROP TABLE declines;
DROP INDEX message_timeline_of_message;
DROP TABLE message_timeline;
ALTER TABLE agency_responses DROP COLUMN attachments;
DROP INDEX messages_assigned_agency;
DROP INDEX messages_received;
ALTER TABLE messages DROP COLUMN closed_at;
ALTER TABLE messages DROP COLUMN needs_supervisor;
ALTER TABLE messages DROP COLUMN decline_count;
ALTER TABLE messages DROP COLUMN agency_ancestors;
