ALTER TABLE api_keys DROP COLUMN unit_id;
