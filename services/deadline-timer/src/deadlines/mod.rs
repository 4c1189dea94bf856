//! The clocks themselves: putting a message's stages on the clock, stopping, pausing, moving
//! and reopening them, and the deadline API.

pub(crate) mod api;
pub mod due_question;
pub(crate) mod moving;
pub mod pausing;
pub(crate) mod reopening;
pub mod store;
