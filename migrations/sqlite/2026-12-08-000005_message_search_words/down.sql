DROP TRIGGER message_words_on_first_text;
DROP TRIGGER message_words_on_insert;
DROP TABLE message_words;
