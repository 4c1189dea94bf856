DROP TABLE violation_types;
