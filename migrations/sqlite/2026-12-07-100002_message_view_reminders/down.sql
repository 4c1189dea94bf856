DROP INDEX message_reminders_message;
DROP TABLE message_reminders;
ALTER TABLE message_warnings DROP COLUMN escalated_to;
