//! What every Nazer service needs and nothing service-specific: configuration, the database,
//! the bus with its outbox and inbox, the events they carry, HTTP pieces and telemetry.

pub mod actor;
pub mod agency;
pub mod bus;
pub mod clock;
pub mod closed_set;
pub mod config;
pub mod db;
pub mod duration;
pub mod events;
pub mod http;
pub mod inbox;
pub mod iran;
pub mod metrics;
pub mod outbox;
pub mod runtime;
pub mod schema;
pub mod sealing;
pub mod telemetry;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod topology;
pub mod tracking_code;

pub use diesel;
