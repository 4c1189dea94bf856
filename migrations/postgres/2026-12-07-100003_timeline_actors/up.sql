-- Who made each state change of a message: an API key (its id and name), a signed-in person (a
-- digest of the sign-in subject and the token's name claim), the citizen (no personal data), or
-- a service acting on its own. Steps recorded before are left without an actor.
ALTER TABLE message_timeline ADD COLUMN actor_kind TEXT;
ALTER TABLE message_timeline ADD COLUMN actor_id TEXT;
ALTER TABLE message_timeline ADD COLUMN actor_name TEXT;
