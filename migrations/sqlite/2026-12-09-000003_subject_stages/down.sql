DROP TABLE subject_stage_marks;
DELETE FROM warnings WHERE subject_kind IS NOT NULL;
ALTER TABLE warnings DROP COLUMN subject_id;
ALTER TABLE warnings DROP COLUMN subject_kind;
DELETE FROM deadlines WHERE subject_kind <> 'message';
ALTER TABLE deadlines DROP COLUMN stage_fa;
ALTER TABLE deadlines DROP COLUMN subject_message_id;
ALTER TABLE deadlines DROP COLUMN subject_kind;
