//! The services' names: each names its queue, its outbox rows and its logs. What each consumes
//! is declared by its handler registration (`inbox::Handlers`), from which its queue's bindings
//! are derived.

pub const INTAKE: &str = "intake";
pub const ROUTING: &str = "routing";
pub const DEADLINE_TIMER: &str = "deadline-timer";
pub const VIOLATION_REFERRAL: &str = "violation-referral";
pub const NOTIFICATION: &str = "notification";

pub const SERVICES: [&str; 5] = [INTAKE, ROUTING, DEADLINE_TIMER, VIOLATION_REFERRAL, NOTIFICATION];

/// Who is warned at the top of the ladder, and answers for 1888's own stages: Special Follow-up
/// (گروه پیگیری ویژه), named where events name an agency.
pub const SPECIAL_FOLLOW_UP: &str = "special-follow-up";

/// What a counterpart unit's id is prefixed with where events name an agency (a culpability
/// stage's warnings): never part of an agency's id, which has no `:`.
pub const UNIT_RECIPIENT: &str = "unit:";

/// The compliance committee, where events name an agency (the culpability stages it answers
/// for: its decision, the outcome and its watch).
pub const COMPLIANCE_COMMITTEE: &str = "committee:compliance";

/// The recipient of counterpart unit `unit_id`'s warnings.
pub fn unit_recipient(unit_id: &str) -> String {
    format!("{UNIT_RECIPIENT}{unit_id}")
}
