//! Who made a state change: an API key, a signed-in person, the citizen or a service. Every
//! service that records steps (a message's timeline, a violation case's tracks) records its actor
//! this way.

use diesel::prelude::*;
use serde::Serialize;

use crate::db::{DbConnection, DbError};
use crate::http::Caller;
use crate::schema::api_keys;

crate::closed_set! {
    /// What kind of actor made a state change.
    pub enum ActorKind {
        /// A machine client's API key (the call centre, an agency's system).
        ApiKey = "api_key",
        /// A person signed in with a token.
        User = "user",
        /// The citizen following the message (never identified here).
        Citizen = "citizen",
        /// A service acting on its own (routing's rules, deadline-timer's clocks).
        Service = "service",
    }
}

/// Who made a state change. Staff see it on every step; an agency on its own steps only; the
/// citizen and Open311 clients never.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = TimelineActor)]
pub struct Actor {
    /// `api_key`, `user`, `citizen` or `service`.
    pub kind: ActorKind,
    /// The API key's id, `user:` and a digest of the signed-in person's subject, or the
    /// service's name; null for the citizen.
    pub id: Option<String>,
    /// The API key's name or the person's name as their sign-in token gives it; null when
    /// unknown.
    pub name: Option<String>,
}

impl Actor {
    /// The authenticated caller of a request.
    pub fn of(caller: &Caller) -> Self {
        Self { kind: Self::kind_of(&caller.key_id), id: Some(caller.key_id.clone()), name: caller.name.clone() }
    }

    /// The caller behind `key_id` (a key's id or a signed-in person's `user:` digest), with the
    /// key's name when it is an API key.
    pub fn of_key_id(conn: &mut DbConnection, key_id: &str) -> Result<Self, DbError> {
        let kind = Self::kind_of(key_id);
        let name = match kind {
            ActorKind::ApiKey => api_keys::table.find(key_id).select(api_keys::name).first(conn).optional()?,
            _ => None,
        };
        Ok(Self { kind, id: Some(key_id.to_string()), name })
    }

    pub fn citizen() -> Self {
        Self { kind: ActorKind::Citizen, id: None, name: None }
    }

    pub fn service(name: &str) -> Self {
        Self { kind: ActorKind::Service, id: Some(name.to_string()), name: None }
    }

    fn kind_of(key_id: &str) -> ActorKind {
        if key_id.starts_with(crate::http::jwt::SIGNED_IN_PREFIX) { ActorKind::User } else { ActorKind::ApiKey }
    }
}
