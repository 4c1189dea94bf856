-- The W3C trace context (`traceparent`) of the work that wrote the row, so that publishing an
-- event and calling a webhook continue the trace of the message that caused them.
ALTER TABLE outbox ADD COLUMN trace_context TEXT;
ALTER TABLE deliveries ADD COLUMN trace_context TEXT;
