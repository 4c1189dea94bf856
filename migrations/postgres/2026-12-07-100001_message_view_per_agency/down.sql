ALTER TABLE message_warnings DROP COLUMN agency_id;
ALTER TABLE message_deadlines DROP COLUMN agency_id;
