DROP TABLE violation_cases;
