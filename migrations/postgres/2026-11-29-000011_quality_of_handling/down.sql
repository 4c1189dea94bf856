-- What the newer code wrote that the older one does not know.
UPDATE messages SET status = 'responded' WHERE status = 'reopened';
DELETE FROM message_timeline WHERE transition IN ('reopened', 'rated', 'reviewed');
DELETE FROM message_warnings WHERE reason = 'quality_below_standard';
DELETE FROM warnings WHERE stage = 'quality';
DROP INDEX warnings_per_stage_level;
ALTER TABLE warnings ADD CONSTRAINT warnings_deadline_id_level_key UNIQUE (deadline_id, level);
DROP TABLE rate_limits;
DROP INDEX response_reviews_of_message;
DROP TABLE response_reviews;
DROP INDEX response_ratings_of_message;
DROP TABLE response_ratings;
ALTER TABLE reporters DROP COLUMN tracking_pin;
ALTER TABLE messages DROP COLUMN media_url;
ALTER TABLE messages DROP COLUMN address;
ALTER TABLE messages DROP COLUMN longitude;
ALTER TABLE messages DROP COLUMN latitude;
ALTER TABLE messages DROP COLUMN reopen_until;
ALTER TABLE messages DROP COLUMN reopen_count;
