DROP INDEX messages_search_text_trgm;
ALTER TABLE messages DROP COLUMN search_text;
DROP INDEX reporters_national_id_blind_index;
DROP INDEX reporters_mobile_blind_index;
ALTER TABLE reporters DROP COLUMN national_id_blind_index;
ALTER TABLE reporters DROP COLUMN mobile_blind_index;
