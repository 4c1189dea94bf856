//! The remedial track (effectiveness, اثربخشی): the agency refers the violation to the authority
//! the law names (the Article 100 commission, a tender committee …), reports its decision and
//! then its execution; 1888's inspector rules whether the message became effective. Pure rules
//! over the track's state: what a step leads to, or why it may not be taken now.

nazer_shared::closed_set! {
    /// Where the remedial track stands.
    pub enum RemedialState {
        /// Classified: the agency has yet to refer the violation to the competent authority.
        Pending = "pending",
        /// Referred to the authority, whose decision is awaited.
        Referred = "referred",
        /// The authority decided; its decision awaits execution.
        Decided = "decided",
        /// Executed, with evidence; 1888's verdict is awaited.
        Executed = "executed",
        /// 1888 found the message effective: the legal process ran its course.
        Effective = "effective",
        /// 1888 found it not effective, with its reason.
        NotEffective = "not_effective",
        /// An inspector withdrew the track (a report found groundless, a duplicate …).
        Withdrawn = "withdrawn",
    }
}

nazer_shared::closed_set! {
    /// What the agency reports on the remedial track.
    pub enum RemedialStep {
        /// Referred to an authority (its name in `authority`, its letter in `reference`).
        Referred = "referred",
        /// The authority's decision.
        Decided = "decided",
        /// The decision executed (evidence in `documents`).
        Executed = "executed",
    }
}

impl RemedialState {
    /// A verdict or a withdrawal ends the track.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Effective | Self::NotEffective | Self::Withdrawn)
    }

    /// The step the agency takes next, if the track waits on it.
    pub fn expected_step(self) -> Option<RemedialStep> {
        match self {
            Self::Pending => Some(RemedialStep::Referred),
            Self::Referred => Some(RemedialStep::Decided),
            Self::Decided => Some(RemedialStep::Executed),
            _ => None,
        }
    }

    /// The budget (of the violation type's `budgets.remedial`) the track runs on in this state:
    /// the stage it waits to reach. None once final.
    pub fn budget_stage(self) -> Option<&'static str> {
        match self {
            Self::Pending => Some("referred"),
            Self::Referred => Some("decided"),
            Self::Decided => Some("executed"),
            Self::Executed => Some("verdict"),
            _ => None,
        }
    }
}

impl RemedialStep {
    fn reached(self) -> RemedialState {
        match self {
            Self::Referred => RemedialState::Referred,
            Self::Decided => RemedialState::Decided,
            Self::Executed => RemedialState::Executed,
        }
    }
}

/// The state `step` leads to from `state`, or why it may not be taken now.
pub fn after_step(state: RemedialState, step: RemedialStep) -> Result<RemedialState, String> {
    match state.expected_step() {
        Some(expected) if expected == step => Ok(step.reached()),
        Some(expected) => Err(format!("the remedial track is `{state}`: its next step is `{expected}`, not `{step}`")),
        None if state.is_final() => Err(format!("the remedial track is over (`{state}`); no step may follow")),
        None => Err(format!("the remedial track is `{state}`: it waits for 1888's verdict, not for a step")),
    }
}

/// The state an inspector's verdict leads to: only once the decision is executed.
pub fn after_verdict(state: RemedialState, effective: bool) -> Result<RemedialState, String> {
    match state {
        RemedialState::Executed if effective => Ok(RemedialState::Effective),
        RemedialState::Executed => Ok(RemedialState::NotEffective),
        _ if state.is_final() => Err(format!("the remedial track is over (`{state}`); its verdict is given")),
        _ => Err(format!(
            "the remedial track is `{state}`: a verdict follows the `executed` step, which the agency has yet to report"
        )),
    }
}

/// An inspector may withdraw the track at any time before it ends.
pub fn after_withdrawal(state: RemedialState) -> Result<RemedialState, String> {
    if state.is_final() {
        Err(format!("the remedial track is over (`{state}`); it cannot be withdrawn"))
    } else {
        Ok(RemedialState::Withdrawn)
    }
}

#[cfg(test)]
mod tests {
    use super::RemedialState::*;
    use super::*;

    #[test]
    fn the_agency_steps_through_referral_decision_and_execution_in_order() {
        let mut state = Pending;
        for (step, reached) in
            [(RemedialStep::Referred, Referred), (RemedialStep::Decided, Decided), (RemedialStep::Executed, Executed)]
        {
            state = after_step(state, step).unwrap();
            assert_eq!(state, reached);
        }
        assert_eq!(after_verdict(state, true), Ok(Effective));
        assert_eq!(after_verdict(state, false), Ok(NotEffective));
    }

    #[test]
    fn a_step_out_of_order_names_the_step_expected() {
        let refused = after_step(Pending, RemedialStep::Executed).unwrap_err();
        assert!(refused.contains("next step is `referred`"), "{refused}");
        let refused = after_step(Referred, RemedialStep::Referred).unwrap_err();
        assert!(refused.contains("next step is `decided`"), "{refused}");
        let refused = after_step(Executed, RemedialStep::Executed).unwrap_err();
        assert!(refused.contains("waits for 1888's verdict"), "{refused}");
    }

    #[test]
    fn a_verdict_comes_only_after_execution_and_only_once() {
        for state in [Pending, Referred, Decided] {
            let refused = after_verdict(state, true).unwrap_err();
            assert!(refused.contains("follows the `executed` step"), "{state}: {refused}");
        }
        for state in [Effective, NotEffective, Withdrawn] {
            assert!(after_verdict(state, true).is_err(), "{state}");
        }
    }

    #[test]
    fn a_final_track_takes_nothing_more_and_an_open_one_may_be_withdrawn() {
        for state in RemedialState::ALL.iter().copied() {
            if state.is_final() {
                assert!(RemedialStep::ALL.iter().all(|step| after_step(state, *step).is_err()), "{state}");
            }
            assert_eq!(after_withdrawal(state).is_ok(), !state.is_final(), "{state}");
            assert_eq!(state.budget_stage().is_none(), state.is_final(), "{state}");
        }
        assert!(after_step(Effective, RemedialStep::Referred).unwrap_err().contains("over"));
    }
}
