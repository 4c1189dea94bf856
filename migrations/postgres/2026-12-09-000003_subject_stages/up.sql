-- Owned by deadline-timer: clocks for the stages of other subjects than a message's own
-- handling (a violation case's track stages, later meeting instructions), started and stopped
-- by their owners' `stage.*` events. Such a clock keys on its subject's id in `message_id`
-- (so no message's event ever reaches it, and one per subject, stage and start), names the
-- subject's kind in `subject_kind` (`message` for a message's own clocks), the message the
-- subject is about in `subject_message_id`, and what the stage asks, in Persian, in `stage_fa`.
ALTER TABLE deadlines ADD COLUMN subject_kind TEXT NOT NULL DEFAULT 'message';
ALTER TABLE deadlines ADD COLUMN subject_message_id TEXT;
ALTER TABLE deadlines ADD COLUMN stage_fa TEXT;
-- A warning registered on such a clock names its subject too.
ALTER TABLE warnings ADD COLUMN subject_kind TEXT;
ALTER TABLE warnings ADD COLUMN subject_id TEXT;
-- When each subject's stage was last closed, so a close that overtook its opening on the bus
-- leaves the clock met from the start.
CREATE TABLE subject_stage_closures (
    subject_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    closed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (subject_id, stage)
);
