ALTER TABLE violation_cases DROP COLUMN opened_reason;
DROP TABLE violation_message_assignments;
