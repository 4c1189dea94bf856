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
-- What each subject's stage last heard from its owner — closed, paused (and why), resumed —
-- so an event that overtook another on the bus is applied as if they had come in order.
CREATE TABLE subject_stage_marks (
    subject_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    closed_at TIMESTAMP,
    paused_at TIMESTAMP,
    pause_reason TEXT,
    resumed_at TIMESTAMP,
    PRIMARY KEY (subject_id, stage)
);
