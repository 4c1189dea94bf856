ALTER TABLE deliveries DROP COLUMN trace_context;
ALTER TABLE outbox DROP COLUMN trace_context;
