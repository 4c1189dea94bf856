//! HTTP pieces every service shares: problem details, JSON bodies, API keys, operations.

pub mod auth;
pub mod json;
pub mod ops;
pub mod problem;

pub use auth::{AuthStore, Caller, Scope};
pub use json::JsonBody;
pub use problem::{ApiError, FieldIssue};

/// Path segment limits shared by list endpoints.
pub const MAX_PAGE_SIZE: i64 = 200;

/// Ids and codes chosen by people (agency ids, category codes): 1–64 lowercase ASCII letters,
/// digits, '.', '_' or '-', so they are safe in paths, logs and routing keys.
pub fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

pub const IDENTIFIER_RULE: &str = "use 1–64 lowercase letters, digits, '.', '_' or '-'";
