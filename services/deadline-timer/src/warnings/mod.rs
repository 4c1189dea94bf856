//! Warnings (تذکر): the register of those issued by the ladder and by quality reviews, and
//! their acknowledgement.

pub(crate) mod quality;
pub mod store;

nazer_shared::closed_set! {
    /// Why a warning was registered, as stored and shown.
    pub enum WarningReason {
        /// Level 1: the stage's clock ran out.
        Overdue = "deadline_passed",
        /// Level 2: escalated to the parent agency.
        Escalated = "escalated_to_parent",
        /// Level 3: referred to Special Follow-up.
        SpecialFollowUp = "referred_to_special_follow_up",
        /// A supervisor found the answer below standard.
        QualityBelowStandard = "quality_below_standard",
    }
}
