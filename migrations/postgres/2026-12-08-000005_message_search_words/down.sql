CREATE INDEX messages_search_text_trgm ON messages USING gin (search_text gin_trgm_ops);
DROP INDEX messages_search_words;
