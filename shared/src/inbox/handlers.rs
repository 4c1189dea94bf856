//! A service declares what it does with each event type it consumes, in one registration:
//! `Handlers::new().on::<MessageAssigned>(schedule).on::<MessageResponded>(meet)`. The bus binds
//! the service's queue to exactly the registered types, so no event type can be bound without a
//! handler, and an event of any other type is refused (parked), never acknowledged unseen.
//!
//! A clock event about another subject's stage travels on `<type>.<subject kind>`
//! ([`Envelope::routing_key`]): `on` receives a type's events about messages only,
//! `on_subject` those about one kind of subject, `on_any` both.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{EventHandler, HandlerError};
use crate::db::DbConnection;
use crate::events::{Envelope, Event};

/// How one event type is handled with the service's state `S`: the decoded event, its envelope
/// (for `occurred_at` and the like) and the instant of handling, inside the inbox transaction.
pub type Handle<S, E> = fn(&S, &mut DbConnection, E, &Envelope, DateTime<Utc>) -> Result<(), HandlerError>;

type Apply<S> = Box<dyn Fn(&S, &mut DbConnection, &Envelope, DateTime<Utc>) -> Result<(), HandlerError> + Send + Sync>;

/// The event types a service consumes, each with its handler. Built without the service's
/// state, so `nazer migrate` can read the bindings of every service without starting one.
pub struct Handlers<S> {
    entries: Vec<(&'static str, String, Apply<S>)>,
}

impl<S: Send + Sync + 'static> Default for Handlers<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Send + Sync + 'static> Handlers<S> {
    pub fn new() -> Self {
        Self { entries: Vec::new() }
    }

    /// Handles events of type `E` with `handle`, those about no other subject than a message.
    /// Registering a type twice is a mistake in the service's code, refused when the
    /// registration is built.
    pub fn on<E: Event + 'static>(self, handle: Handle<S, E>) -> Self {
        self.register(E::TYPE.to_string(), handle)
    }

    /// Handles the events of type `E` about a `kind` of subject (`violation_case` …) only.
    pub fn on_subject<E: Event + 'static>(self, kind: &str, handle: Handle<S, E>) -> Self {
        self.register(format!("{}.{kind}", E::TYPE), handle)
    }

    /// Handles every event of type `E`: about a message or any subject.
    pub fn on_any<E: Event + 'static>(self, handle: Handle<S, E>) -> Self {
        self.register(format!("{}.#", E::TYPE), handle)
    }

    fn register<E: Event + 'static>(mut self, binding: String, handle: Handle<S, E>) -> Self {
        assert!(self.entries.iter().all(|(event_type, ..)| *event_type != E::TYPE), "{} is registered twice", E::TYPE);
        let apply = move |state: &S, conn: &mut DbConnection, envelope: &Envelope, now: DateTime<Utc>| {
            handle(state, conn, envelope.decode::<E>()?, envelope, now)
        };
        self.entries.push((E::TYPE, binding, Box::new(apply)));
        self
    }

    /// The registered event types, in the order of registration.
    pub fn event_types(&self) -> Vec<&'static str> {
        self.entries.iter().map(|(event_type, ..)| *event_type).collect()
    }

    /// The routing keys the queue is bound to, in the order of registration.
    pub fn bindings(&self) -> Vec<String> {
        self.entries.iter().map(|(_, binding, _)| binding.clone()).collect()
    }

    /// The handler the bus delivers to, with the service's state.
    pub fn with_state(self, state: S) -> Arc<dyn EventHandler> {
        Arc::new(Bound { handlers: self, state })
    }
}

struct Bound<S> {
    handlers: Handlers<S>,
    state: S,
}

impl<S: Send + Sync + 'static> EventHandler for Bound<S> {
    fn bindings(&self) -> Vec<String> {
        self.handlers.bindings()
    }

    fn handle(&self, conn: &mut DbConnection, envelope: &Envelope, now: DateTime<Utc>) -> Result<(), HandlerError> {
        match self.handlers.entries.iter().find(|(event_type, ..)| *event_type == envelope.event_type) {
            Some((.., apply)) => apply(&self.state, conn, envelope, now),
            None => Err(HandlerError::Invalid(format!(
                "no handler for {} here (this consumer handles {})",
                envelope.event_type,
                self.handlers.event_types().join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{MessageDeclined, MessageReceived};
    use crate::testing::fixtures;

    struct Seen(std::sync::Mutex<Vec<String>>);

    fn received(
        seen: &Seen,
        _: &mut DbConnection,
        event: MessageReceived,
        _: &Envelope,
        _: DateTime<Utc>,
    ) -> Result<(), HandlerError> {
        seen.0.lock().unwrap().push(event.message_id);
        Ok(())
    }

    fn handlers() -> Handlers<Seen> {
        Handlers::new().on::<MessageReceived>(received)
    }

    #[test]
    fn the_bindings_are_the_registered_types_for_the_subjects_followed() {
        let handlers = handlers().on_subject::<MessageDeclined>("violation_case", |_, _, _, _, _| Ok(()));
        assert_eq!(handlers.event_types(), vec!["message.received", "message.declined"]);
        assert_eq!(handlers.bindings(), vec!["message.received", "message.declined.violation_case"]);
        let handlers = Handlers::<()>::new().on_any::<MessageReceived>(|_, _, _, _, _| Ok(()));
        assert_eq!(handlers.bindings(), vec!["message.received.#"]);
    }

    #[test]
    fn an_event_without_a_handler_is_refused_not_acknowledged() {
        use diesel::Connection;
        // The handlers here never touch it.
        let mut conn = DbConnection::Sqlite(diesel::SqliteConnection::establish(":memory:").unwrap());
        let handler = handlers().with_state(Seen(Default::default()));
        let declined = MessageDeclined {
            message_id: "m1".into(),
            tracking_code: "1234567890".into(),
            agency_id: "a1".into(),
            reason: "not ours".into(),
            decline_count: 1,
            declined_at: Utc::now(),
        };
        let refused = handler.handle(&mut conn, &fixtures::envelope("intake", &declined), Utc::now());
        assert!(matches!(refused, Err(HandlerError::Invalid(reason)) if reason.contains("message.declined")));
        let event = fixtures::message_received();
        handler.handle(&mut conn, &fixtures::envelope("intake", &event), Utc::now()).unwrap();
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_type_registered_twice_is_a_mistake() {
        let _ = handlers().on::<MessageReceived>(received);
    }
}
