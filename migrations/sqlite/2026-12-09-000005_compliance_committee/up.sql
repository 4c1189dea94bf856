-- Owned by violation-referral: the compliance committee's (کمیته تطبیق) sessions and the one
-- decision it records per case. The decision's reasoning is the case's culpability step; this
-- table keeps which session decided which case, and refuses a second decision on a case.
CREATE TABLE compliance_sessions (
    id TEXT PRIMARY KEY,
    held_on TEXT NOT NULL,
    members TEXT NOT NULL,
    note TEXT,
    created_at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT
);
CREATE INDEX compliance_sessions_held_on ON compliance_sessions (held_on, created_at);
CREATE TABLE compliance_decisions (
    case_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    decision TEXT NOT NULL,
    decided_at TIMESTAMP NOT NULL
);
CREATE INDEX compliance_decisions_session ON compliance_decisions (session_id, decided_at);
