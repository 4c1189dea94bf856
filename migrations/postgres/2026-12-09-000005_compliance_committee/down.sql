DROP TABLE compliance_decisions;
DROP TABLE compliance_sessions;
