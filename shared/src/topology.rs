//! Who consumes what: the messaging contract between the services, in one place, so that the
//! broker topology can be declared up front (by every service and by `nazer migrate`) and an
//! event never falls on the floor because its consumer has not started yet.

use crate::bus::ConsumerSpec;

pub const INTAKE: &str = "intake";
pub const ROUTING: &str = "routing";
pub const DEADLINE_TIMER: &str = "deadline-timer";
pub const VIOLATION_REFERRAL: &str = "violation-referral";
pub const NOTIFICATION: &str = "notification";

pub const SERVICES: [&str; 5] = [INTAKE, ROUTING, DEADLINE_TIMER, VIOLATION_REFERRAL, NOTIFICATION];

/// The event types each service consumes.
pub fn consumed_by(service: &str) -> &'static [&'static str] {
    match service {
        // Intake keeps a read model of what happened to each message.
        INTAKE => &[
            "message.assigned",
            "message.needs_triage",
            "deadline.scheduled",
            "deadline.moved",
            "deadline.paused",
            "deadline.resumed",
            "deadline.met",
            "warning.issued",
            "message.reopen_window_set",
        ],
        ROUTING => &["message.received", "message.declined"],
        DEADLINE_TIMER => &[
            "message.assigned",
            "message.acknowledged",
            "message.responded",
            "message.declined",
            "message.reopened",
            "response.reviewed",
        ],
        VIOLATION_REFERRAL => &["message.assigned"],
        NOTIFICATION => &[
            "message.assigned",
            "message.reopened",
            "deadline.reminder",
            "deadline.moved",
            "deadline.paused",
            "deadline.resumed",
            "warning.issued",
        ],
        _ => &[],
    }
}

pub fn consumer_spec(service: &'static str) -> ConsumerSpec {
    ConsumerSpec { consumer: service, event_types: consumed_by(service).to_vec() }
}

pub fn consumers() -> Vec<ConsumerSpec> {
    SERVICES.iter().map(|s| consumer_spec(s)).collect()
}
