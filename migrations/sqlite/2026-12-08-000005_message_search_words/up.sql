-- Words are found through an FTS5 index of the search column (the unicode61 tokenizer; the
-- column is already normalised), each word of a query matching the start of a word of the
-- subject or body, as on PostgreSQL; LIKE then checks the text of the messages found. The
-- index keeps its own copy of the text beside each message's id, written by triggers: on
-- insert, and when `nazer migrate` or start-up fills the column of a message stored before it.
-- Search text is never changed once written, so the index needs nothing else.
CREATE VIRTUAL TABLE message_words USING fts5(message_id UNINDEXED, search_text, tokenize = 'unicode61 remove_diacritics 0');
INSERT INTO message_words (message_id, search_text) SELECT id, search_text FROM messages WHERE search_text IS NOT NULL;
CREATE TRIGGER message_words_on_insert AFTER INSERT ON messages WHEN new.search_text IS NOT NULL
BEGIN
    INSERT INTO message_words (message_id, search_text) VALUES (new.id, new.search_text);
END;
CREATE TRIGGER message_words_on_first_text AFTER UPDATE OF search_text ON messages
    WHEN old.search_text IS NULL AND new.search_text IS NOT NULL
BEGIN
    INSERT INTO message_words (message_id, search_text) VALUES (new.id, new.search_text);
END;
