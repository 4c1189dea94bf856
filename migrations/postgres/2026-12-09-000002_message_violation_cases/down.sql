DROP TABLE message_violation_cases;
