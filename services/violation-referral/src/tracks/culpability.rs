//! The culpability track (قصور و تقصیر): the negligence or fault of those responsible, examined
//! by the counterpart unit (معاونت نظیر) an inspector refers the case to — at any time, also
//! after the message became effective — and referred on to the compliance committee (کمیته
//! تطبیق). Never shown to agencies. Pure rules over the track's state, and how the officials
//! named in findings are sealed and shown.

use nazer_shared::db::DbError;
use nazer_shared::sealing::SealingKeys;
use serde_json::Value;

use super::steps::StepView;
pub use crate::types::law::ARTICLE_9_PENALTIES;

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

nazer_shared::closed_set! {
    /// What the compliance committee decides of a case.
    pub enum Decision {
        /// Referred to the administrative violations board (هیئت رسیدگی به تخلفات اداری).
        ViolationsBoard = "violations_board",
        /// Referred to the prosecutor (دادسرا): a crime is suspected.
        Prosecutor = "prosecutor",
        /// Left to the agency's own disciplinary process.
        AgencyDisciplinary = "agency_disciplinary",
        /// A procedure of the agency to be corrected; no one is to be punished.
        ProcedureCorrection = "procedure_correction",
        /// No fault: the track closes (`closed_no_fault`).
        NoFault = "no_fault",
    }
}

/// The Article 9 clause letter `text` names (`ه` also written `هـ`), if any.
pub fn penalty_clause(text: &str) -> Option<&'static str> {
    let letter = text.trim().trim_end_matches('ـ').replace('ي', "ی").replace('ك', "ک");
    ARTICLE_9_PENALTIES.iter().map(|(clause, _)| *clause).find(|clause| *clause == letter)
}

/// What the committee records as the outcome of its decision: a penalty (an Article 9 clause)
/// where the violations board or the agency's disciplinary process imposed one, or their ruling
/// as a judicial result (an acquittal, a court's ruling on appeal); a judicial result where the
/// case went to the prosecutor; neither for a procedure corrected (its text says what was done).
pub fn check_outcome(decision: Decision, penalty: bool, judicial_result: bool) -> Result<(), String> {
    match (decision, penalty, judicial_result) {
        (Decision::NoFault, ..) => Err("the committee found no fault: there is no outcome to record".into()),
        (Decision::ProcedureCorrection, false, false) => Ok(()),
        (Decision::ProcedureCorrection, ..) => {
            Err("a procedure corrected punishes no one: leave out `penalty` and `judicial_result`".into())
        }
        (_, true, true) => Err("a penalty or a judicial result, not both".into()),
        (Decision::Prosecutor, true, _) => {
            Err("the case went to the prosecutor: record its `judicial_result`, not a penalty".into())
        }
        (Decision::Prosecutor, false, false) => {
            Err("the case went to the prosecutor: `judicial_result` is required".into())
        }
        (Decision::ViolationsBoard | Decision::AgencyDisciplinary, false, false) => {
            Err("`penalty` (an Article 9 clause letter) or `judicial_result` is required".into())
        }
        (Decision::ViolationsBoard | Decision::AgencyDisciplinary | Decision::Prosecutor, ..) => Ok(()),
    }
}

impl CulpabilityState {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Closed | Self::ClosedNoFault)
    }

    /// The budget (of the violation type's `budgets.culpability`) the track runs on in this
    /// state: the stage it waits to reach. None once closed.
    pub fn budget_stage(self) -> Option<&'static str> {
        match self {
            Self::UnderReview => Some("findings_recorded"),
            Self::FindingsRecorded => Some("at_committee"),
            Self::AtCommittee => Some("decided"),
            Self::Decided => Some("outcome_recorded"),
            Self::OutcomeRecorded => Some("closed"),
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

/// The state the unit's referral to the committee leads to.
pub fn after_referral(state: CulpabilityState) -> Result<CulpabilityState, String> {
    match state {
        CulpabilityState::FindingsRecorded => Ok(CulpabilityState::AtCommittee),
        CulpabilityState::UnderReview => Err("the unit records its findings before referring the case".into()),
        other => Err(format!("the culpability track is `{other}`: it was referred to the committee already")),
    }
}

/// The state the committee's decision leads to: `closed_no_fault` for no fault.
pub fn after_decision(state: CulpabilityState, decision: Decision) -> Result<CulpabilityState, String> {
    match state {
        CulpabilityState::AtCommittee if decision == Decision::NoFault => Ok(CulpabilityState::ClosedNoFault),
        CulpabilityState::AtCommittee => Ok(CulpabilityState::Decided),
        CulpabilityState::UnderReview | CulpabilityState::FindingsRecorded => {
            Err(format!("the culpability track is `{state}`: the unit has not referred it to the committee"))
        }
        other => {
            Err(format!("the culpability track is `{other}`: the committee decided it already; one decision per case"))
        }
    }
}

/// The state the outcome leads to: watched until closed.
pub fn after_outcome(state: CulpabilityState) -> Result<CulpabilityState, String> {
    match state {
        CulpabilityState::Decided => Ok(CulpabilityState::OutcomeRecorded),
        CulpabilityState::OutcomeRecorded | CulpabilityState::Closed => {
            Err(format!("the culpability track is `{state}`: its outcome is recorded already"))
        }
        other => Err(format!("the culpability track is `{other}`: the committee has not decided it")),
    }
}

/// The state closing the watched outcome leads to.
pub fn after_closure(state: CulpabilityState) -> Result<CulpabilityState, String> {
    match state {
        CulpabilityState::OutcomeRecorded => Ok(CulpabilityState::Closed),
        other if other.is_final() => Err(format!("the culpability track is `{other}` already")),
        other => Err(format!("the culpability track is `{other}`: its outcome is not recorded yet")),
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
    fn the_track_runs_through_the_committee_in_order() {
        assert_eq!(after_referral(FindingsRecorded), Ok(AtCommittee));
        assert!(after_referral(UnderReview).unwrap_err().contains("findings before"));
        assert!(after_referral(AtCommittee).unwrap_err().contains("already"));
        assert_eq!(after_decision(AtCommittee, Decision::ViolationsBoard), Ok(Decided));
        assert_eq!(after_decision(AtCommittee, Decision::NoFault), Ok(ClosedNoFault));
        assert!(after_decision(FindingsRecorded, Decision::Prosecutor).unwrap_err().contains("not referred"));
        assert!(after_decision(Decided, Decision::Prosecutor).unwrap_err().contains("decided it already"));
        assert_eq!(after_outcome(Decided), Ok(OutcomeRecorded));
        assert!(after_outcome(AtCommittee).is_err() && after_outcome(OutcomeRecorded).is_err());
        assert_eq!(after_closure(OutcomeRecorded), Ok(Closed));
        assert!(
            after_closure(Decided).is_err() && after_closure(Closed).is_err() && after_closure(ClosedNoFault).is_err()
        );
    }

    #[test]
    fn an_outcome_fits_its_decision() {
        use Decision::*;
        assert!(check_outcome(ViolationsBoard, true, false).is_ok());
        assert!(check_outcome(ViolationsBoard, false, true).is_ok());
        assert!(check_outcome(ViolationsBoard, false, false).unwrap_err().contains("`penalty`"));
        assert!(check_outcome(AgencyDisciplinary, true, true).unwrap_err().contains("not both"));
        assert!(check_outcome(Prosecutor, true, false).unwrap_err().contains("judicial_result"));
        assert!(check_outcome(Prosecutor, false, false).is_err());
        assert!(check_outcome(Prosecutor, false, true).is_ok());
        assert!(check_outcome(ProcedureCorrection, false, false).is_ok());
        assert!(check_outcome(ProcedureCorrection, true, false).unwrap_err().contains("punishes no one"));
        assert!(check_outcome(ProcedureCorrection, false, true).is_err());
        assert!(check_outcome(NoFault, false, false).is_err());
    }

    #[test]
    fn penalties_are_named_by_their_article_9_clause() {
        assert_eq!(ARTICLE_9_PENALTIES.len(), 11);
        assert_eq!(penalty_clause(" الف "), Some("الف"));
        assert_eq!(penalty_clause("هـ"), Some("ه"));
        assert_eq!(penalty_clause("ي"), Some("ی"), "an Arabic yeh is the same letter");
        assert_eq!(penalty_clause("ك"), Some("ک"));
        assert_eq!(penalty_clause("ل"), None);
        assert_eq!(penalty_clause(""), None);
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
                Some("closed"),
                None,
                None
            ]
        );
        assert!(Closed.is_final() && ClosedNoFault.is_final() && !OutcomeRecorded.is_final());
    }
}
