//! The services' names: each names its queue, its outbox rows and its logs. What each consumes
//! is declared by its handler registration (`inbox::Handlers`), from which its queue's bindings
//! are derived.

pub const INTAKE: &str = "intake";
pub const ROUTING: &str = "routing";
pub const DEADLINE_TIMER: &str = "deadline-timer";
pub const VIOLATION_REFERRAL: &str = "violation-referral";
pub const NOTIFICATION: &str = "notification";

pub const SERVICES: [&str; 5] = [INTAKE, ROUTING, DEADLINE_TIMER, VIOLATION_REFERRAL, NOTIFICATION];
