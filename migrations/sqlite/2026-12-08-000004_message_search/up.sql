-- Finding a message again. By its reporter: the blind index of the mobile and the national ID
-- (HMAC-SHA256 under `privacy.search_key` of the normalised value; the identity stays sealed).
-- By its words: subject and body normalised for search (Persian letters unified, diacritics and
-- ZWNJ dropped, digits in ASCII, case-folded), matched with plain LIKE (no FTS5 table: the
-- embedded default holds few enough messages for a scan). Rows stored before are indexed by
-- `nazer migrate` and at start-up, which can open them.
ALTER TABLE reporters ADD COLUMN mobile_blind_index TEXT;
ALTER TABLE reporters ADD COLUMN national_id_blind_index TEXT;
CREATE INDEX reporters_mobile_blind_index ON reporters (mobile_blind_index);
CREATE INDEX reporters_national_id_blind_index ON reporters (national_id_blind_index);
ALTER TABLE messages ADD COLUMN search_text TEXT;
