-- The message view shows an agency only what happened while the message was its own: each clock
-- and warning intake keeps carries the agency it ran against. Rows written before are filled in
-- where the past tells (a warning from its timeline entry, a clock from its warning, or from the
-- message's only agency when it was never declined); the rest stay empty and only staff see them.
ALTER TABLE message_deadlines ADD COLUMN agency_id TEXT;
ALTER TABLE message_warnings ADD COLUMN agency_id TEXT;
UPDATE message_warnings SET agency_id = (
    SELECT MIN(t.agency_id) FROM message_timeline t
    WHERE t.message_id = message_warnings.message_id
      AND t.transition = 'warning'
      AND t.happened_at = message_warnings.issued_at
);
UPDATE message_deadlines SET agency_id = (
    SELECT MIN(w.agency_id) FROM message_warnings w WHERE w.deadline_id = message_deadlines.deadline_id
);
UPDATE message_deadlines SET agency_id = (
    SELECT m.assigned_agency_id FROM messages m
    WHERE m.id = message_deadlines.message_id AND m.decline_count = 0
) WHERE agency_id IS NULL;
