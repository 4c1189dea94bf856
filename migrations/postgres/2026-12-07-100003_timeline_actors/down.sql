ALTER TABLE message_timeline DROP COLUMN actor_name;
ALTER TABLE message_timeline DROP COLUMN actor_id;
ALTER TABLE message_timeline DROP COLUMN actor_kind;
