-- A counterpart unit's API key is bound to its unit, as an agency's key is to its agency.
ALTER TABLE api_keys ADD COLUMN unit_id TEXT;
