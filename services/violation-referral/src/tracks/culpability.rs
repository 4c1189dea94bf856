//! The culpability track (قصور و تقصیر): the negligence or fault of those responsible, examined
//! by the counterpart unit (معاونت نظیر) an inspector refers the case to — at any time, also
//! after the message became effective — and referred on to the compliance committee (کمیته
//! تطبیق). Never shown to agencies. Pure rules over the track's state, and how the officials
//! named in findings are sealed and shown.

use nazer_shared::db::DbError;
use nazer_shared::sealing::SealingKeys;
use serde_json::Value;

use super::steps::StepView;

nazer_shared::closed_set! {
    /// Where the culpability track stands.
    pub enum CulpabilityState {
        /// Referred to the counterpart unit, whose findings are awaited.
        UnderReview = "under_review",
        /// The unit recorded its findings; its referral to the committee is awaited.
        FindingsRecorded = "findings_recorded",
        /// Before the compliance committee.
        AtCommittee = "at_committee",
        /// The committee decided; the outcome (a penalty, a judicial result) is awaited.
        Decided = "decided",
        /// The outcome is recorded and watched.
        OutcomeRecorded = "outcome_recorded",
        Closed = "closed",
        /// Closed without fault found.
        ClosedNoFault = "closed_no_fault",
    }
}

nazer_shared::closed_set! {
    /// What the unit found of those responsible.
    pub enum Fault {
        /// قصور: a duty neglected.
        Negligence = "negligence",
        /// تقصیر: a fault committed.
        Misconduct = "misconduct",
        /// No fault found.
        None = "none",
    }
}

impl CulpabilityState {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Closed | Self::ClosedNoFault)
    }

    /// The budget (of the violation type's `budgets.culpability`) the track runs on in this
    /// state: the stage it waits to reach. None once the outcome is recorded.
    pub fn budget_stage(self) -> Option<&'static str> {
        match self {
            Self::UnderReview => Some("findings_recorded"),
            Self::FindingsRecorded => Some("at_committee"),
            Self::AtCommittee => Some("decided"),
            Self::Decided => Some("outcome_recorded"),
            _ => None,
        }
    }
}

/// Whether the track may open now: once per case.
pub fn may_open(current: Option<CulpabilityState>) -> Result<CulpabilityState, String> {
    match current {
        None => Ok(CulpabilityState::UnderReview),
        Some(state) => Err(format!("the culpability track is open already (`{state}`)")),
    }
}

/// The state the unit's findings lead to.
pub fn after_findings(state: CulpabilityState) -> Result<CulpabilityState, String> {
    match state {
        CulpabilityState::UnderReview => Ok(CulpabilityState::FindingsRecorded),
        other => Err(format!("the culpability track is `{other}`: its findings are recorded already")),
    }
}

/// The sealed fields of an official named in findings.
pub const OFFICIAL_FIELDS: [&str; 2] = ["full_name", "position"];

/// Seals an official's field for case `case_id`.
pub fn seal_official(keys: &SealingKeys, case_id: &str, field: &str, text: &str) -> Result<String, DbError> {
    keys.seal(case_id, &format!("official.{field}"), text).map_err(|e| DbError::Refused(e.to_string()))
}

/// Reseals the officials of a findings step's `detail` under the active key; true when
/// anything changed. Fails when a name no configured key opens is among them.
pub fn reseal_officials(keys: &SealingKeys, case_id: &str, detail: &mut Value) -> Result<bool, DbError> {
    let Some(officials) = detail.get_mut("officials").and_then(Value::as_array_mut) else {
        return Ok(false);
    };
    let mut changed = false;
    for official in officials {
        for field in OFFICIAL_FIELDS {
            let Some(stored) = official.get(field).and_then(Value::as_str).map(str::to_string) else { continue };
            if keys.is_current(&stored) {
                continue;
            }
            let resealed = keys
                .reseal(case_id, &format!("official.{field}"), &stored)
                .map_err(|e| DbError::Refused(format!("case `{case_id}`: an official's {field}: {e}")))?;
            official[field] = Value::String(resealed);
            changed = true;
        }
    }
    Ok(changed)
}

/// The officials of a findings step as `opened` readers see them (by name), or masked (the
/// fields null, `masked` true) for the others.
pub fn show_officials(case_id: &str, step: &mut StepView, opened: bool, keys: &SealingKeys) -> Result<(), DbError> {
    let Some(officials) = step.detail.get_mut("officials").and_then(Value::as_array_mut) else {
        return Ok(());
    };
    for official in officials {
        for field in OFFICIAL_FIELDS {
            let shown = match official.get(field).and_then(Value::as_str) {
                Some(sealed) if opened => match keys.open(case_id, &format!("official.{field}"), sealed) {
                    Ok(text) => Value::String(text),
                    // A key dropped before `nazer migrate` resealed it: the case still reads.
                    Err(error) => {
                        tracing::error!(case_id, field, %error, "an official's sealed field does not open");
                        official["unreadable"] = Value::Bool(true);
                        Value::Null
                    }
                },
                _ => Value::Null,
            };
            official[field] = shown;
        }
        official["masked"] = Value::Bool(!opened);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::CulpabilityState::*;
    use super::*;

    #[test]
    fn the_track_opens_once_and_takes_its_findings_once() {
        assert_eq!(may_open(None), Ok(UnderReview));
        assert!(may_open(Some(Closed)).unwrap_err().contains("open already"));
        assert_eq!(after_findings(UnderReview), Ok(FindingsRecorded));
        for state in [FindingsRecorded, AtCommittee, Decided, OutcomeRecorded, Closed, ClosedNoFault] {
            assert!(after_findings(state).is_err(), "{state}");
        }
    }

    #[test]
    fn each_open_state_runs_to_its_stage_and_final_ones_to_none() {
        let stages: Vec<Option<&str>> = CulpabilityState::ALL.iter().map(|s| s.budget_stage()).collect();
        assert_eq!(
            stages,
            [
                Some("findings_recorded"),
                Some("at_committee"),
                Some("decided"),
                Some("outcome_recorded"),
                None,
                None,
                None
            ]
        );
        assert!(Closed.is_final() && ClosedNoFault.is_final() && !OutcomeRecorded.is_final());
    }
}
