DROP TABLE responded_messages;
DROP TABLE warnings;
DROP TABLE deadlines;
DROP TABLE stage_budgets;
