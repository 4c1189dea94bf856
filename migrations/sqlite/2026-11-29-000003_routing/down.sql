DROP TABLE assignments;
DROP TABLE routing_rules;
DROP TABLE agencies;
