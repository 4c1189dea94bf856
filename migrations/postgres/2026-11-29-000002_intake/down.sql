DROP TABLE message_warnings;
DROP TABLE message_deadlines;
DROP TABLE agency_responses;
DROP TABLE reporters;
DROP TABLE messages;
DROP TABLE categories;
