-- Owned by violation-referral: a case's classification and its two tracks. The remedial track
-- (effectiveness) opens when an inspector classifies the case; the culpability track when an
-- inspector refers it to a counterpart unit. Each stores its state; its steps are rows of
-- violation_case_steps. `version` counts changes, so two writers never both move a case.
ALTER TABLE violation_cases ADD COLUMN agency_ancestors TEXT;
ALTER TABLE violation_cases ADD COLUMN area_path TEXT;
ALTER TABLE violation_cases ADD COLUMN assigned_at TIMESTAMP;
ALTER TABLE violation_cases ADD COLUMN remedial_paused_at TIMESTAMP;
ALTER TABLE violation_cases ADD COLUMN opened_by TEXT;
ALTER TABLE violation_cases ADD COLUMN violation_type TEXT;
ALTER TABLE violation_cases ADD COLUMN budgets TEXT;
ALTER TABLE violation_cases ADD COLUMN remedial_state TEXT;
ALTER TABLE violation_cases ADD COLUMN culpability_state TEXT;
ALTER TABLE violation_cases ADD COLUMN culpability_unit_id TEXT;
ALTER TABLE violation_cases ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX violation_cases_type ON violation_cases (violation_type, opened_at);
-- Every step of every track, with its actor, its reference letter and its documents (a JSON
-- array of references). `detail` holds what a step carries beside them (a verdict's outcome).
CREATE TABLE violation_case_steps (
    id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    track TEXT NOT NULL,
    step TEXT NOT NULL,
    acted_at TIMESTAMP NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    actor_name TEXT,
    reference TEXT,
    reference_date TEXT,
    authority TEXT,
    body TEXT,
    documents TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX violation_case_steps_case ON violation_case_steps (case_id, acted_at);
-- The clocks deadline-timer runs for the cases' track stages, as its events report them.
CREATE TABLE violation_case_deadlines (
    deadline_id TEXT PRIMARY KEY,
    case_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    agency_id TEXT NOT NULL,
    started_at TIMESTAMP,
    due_at TIMESTAMP NOT NULL,
    state TEXT NOT NULL,
    warning_level INTEGER NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX violation_case_deadlines_case ON violation_case_deadlines (case_id);
