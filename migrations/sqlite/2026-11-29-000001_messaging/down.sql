DROP TABLE api_keys;
DROP TABLE parked_events;
DROP TABLE inbox;
DROP TABLE outbox;
