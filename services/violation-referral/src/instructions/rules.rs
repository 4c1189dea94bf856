//! Where an instruction stands and what may move it: pure functions over its state.

nazer_shared::closed_set! {
    /// Where an instruction stands.
    pub enum InstructionState {
        /// Issued at a meeting; the agency's first action is awaited.
        Issued = "issued",
        /// The agency has it.
        Acknowledged = "acknowledged",
        /// The agency reported progress.
        InProgress = "in_progress",
        /// The agency reported it done; the follow-up group's verdict is awaited.
        ReportedDone = "reported_done",
        Fulfilled = "fulfilled",
        Unfulfilled = "unfulfilled",
        /// Withdrawn by the follow-up group, with a reason.
        Cancelled = "cancelled",
    }
}

nazer_shared::closed_set! {
    /// What the agency reports.
    pub enum AgencyStep {
        Acknowledgement = "acknowledgement",
        Progress = "progress",
        Report = "report",
    }
}

impl InstructionState {
    pub fn is_final(self) -> bool {
        matches!(self, Self::Fulfilled | Self::Unfulfilled | Self::Cancelled)
    }

    /// What a citizen following the meeting's message sees: `issued`, `in_progress` or `done`.
    pub fn public(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Acknowledged | Self::InProgress | Self::ReportedDone => "in_progress",
            Self::Fulfilled | Self::Unfulfilled | Self::Cancelled => "done",
        }
    }
}

/// The state the agency's `step` leads to from `state`. Progress and a report acknowledge an
/// instruction not yet acknowledged; a report the group did not accept may be made again.
pub fn after_agency_step(state: InstructionState, step: AgencyStep) -> Result<InstructionState, String> {
    use InstructionState::*;
    match (state, step) {
        (Issued, AgencyStep::Acknowledgement) => Ok(Acknowledged),
        (_, AgencyStep::Acknowledgement) if !state.is_final() => Err("the instruction is acknowledged already".into()),
        (Issued | Acknowledged | InProgress, AgencyStep::Progress) => Ok(InProgress),
        (Issued | Acknowledged | InProgress, AgencyStep::Report) => Ok(ReportedDone),
        (ReportedDone, _) => Err("the instruction is reported done; the follow-up group's verdict is awaited".into()),
        (final_state, _) => Err(format!("the instruction is `{final_state}`")),
    }
}

/// The state the follow-up group's verdict on a reported instruction leads to.
pub fn after_verdict(state: InstructionState, fulfilled: bool) -> Result<InstructionState, String> {
    match state {
        InstructionState::ReportedDone if fulfilled => Ok(InstructionState::Fulfilled),
        InstructionState::ReportedDone => Ok(InstructionState::Unfulfilled),
        state if state.is_final() => Err(format!("the instruction is `{state}`")),
        _ => Err("the agency has not reported it done".into()),
    }
}

/// Whether the follow-up group may cancel an instruction in `state`.
pub fn after_cancellation(state: InstructionState) -> Result<InstructionState, String> {
    if state.is_final() {
        return Err(format!("the instruction is `{state}`"));
    }
    Ok(InstructionState::Cancelled)
}

/// What the result stage's last warning level does: an instruction with no report accepted
/// becomes `unfulfilled`, once; any other is left as it is (None).
pub fn after_last_level(state: InstructionState) -> Option<InstructionState> {
    match state {
        InstructionState::Issued | InstructionState::Acknowledged | InstructionState::InProgress => {
            Some(InstructionState::Unfulfilled)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::InstructionState::*;
    use super::*;

    #[test]
    fn the_agency_moves_an_instruction_forward_only() {
        assert_eq!(after_agency_step(Issued, AgencyStep::Acknowledgement), Ok(Acknowledged));
        assert_eq!(after_agency_step(Issued, AgencyStep::Progress), Ok(InProgress));
        assert_eq!(after_agency_step(Acknowledged, AgencyStep::Report), Ok(ReportedDone));
        assert_eq!(after_agency_step(InProgress, AgencyStep::Progress), Ok(InProgress));
        assert!(after_agency_step(Acknowledged, AgencyStep::Acknowledgement).unwrap_err().contains("already"));
        assert!(after_agency_step(ReportedDone, AgencyStep::Progress).unwrap_err().contains("verdict"));
        for state in [Fulfilled, Unfulfilled, Cancelled] {
            for step in AgencyStep::ALL {
                assert!(after_agency_step(state, *step).is_err(), "{state} {step}");
            }
        }
    }

    #[test]
    fn a_verdict_ends_a_reported_instruction_once() {
        assert_eq!(after_verdict(ReportedDone, true), Ok(Fulfilled));
        assert_eq!(after_verdict(ReportedDone, false), Ok(Unfulfilled));
        assert!(after_verdict(InProgress, true).unwrap_err().contains("not reported"));
        assert!(after_verdict(Fulfilled, false).is_err());
        assert_eq!(after_cancellation(InProgress), Ok(Cancelled));
        assert!(after_cancellation(Unfulfilled).is_err());
    }

    #[test]
    fn the_last_level_makes_an_unreported_instruction_unfulfilled_and_nothing_else() {
        assert_eq!(after_last_level(Issued), Some(Unfulfilled));
        assert_eq!(after_last_level(InProgress), Some(Unfulfilled));
        for state in [ReportedDone, Fulfilled, Unfulfilled, Cancelled] {
            assert_eq!(after_last_level(state), None, "{state}");
        }
        let public: Vec<&str> = InstructionState::ALL.iter().map(|s| s.public()).collect();
        assert_eq!(public, ["issued", "in_progress", "in_progress", "in_progress", "done", "done", "done"]);
    }
}
