DROP TABLE counterpart_units;
DROP TABLE violation_types;
