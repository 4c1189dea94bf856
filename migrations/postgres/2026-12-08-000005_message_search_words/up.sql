-- Words are found through a full-text index of the search column (the `simple` configuration:
-- the column is already normalised), each word of a query matching the start of a word of the
-- subject or body; LIKE then checks the exact text on the rows found. The trigram index it
-- replaces read the posting list of every trigram of a word, a cost that grew with the number
-- of messages rather than with the messages found.
CREATE INDEX messages_search_words ON messages USING gin (to_tsvector('simple', search_text));
DROP INDEX messages_search_text_trgm;
