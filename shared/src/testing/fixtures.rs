//! Events as tests build them: valid, with fresh ids, changed by struct update where a test
//! cares about a field.

use chrono::Utc;

use crate::events::{Envelope, Event, MessageReceived};

/// A complaint received now, by the call centre, in Tehran, under `municipal.building`.
pub fn message_received() -> MessageReceived {
    MessageReceived {
        message_id: uuid::Uuid::now_v7().to_string(),
        tracking_code: "1234567890".into(),
        kind: "complaint".into(),
        channel: "call_center".into(),
        category: "municipal.building".into(),
        province: "tehran".into(),
        city: None,
        priority: "normal".into(),
        received_at: Utc::now(),
    }
}

/// `event` in the envelope `producer` would publish it in, now.
pub fn envelope<E: Event>(producer: &str, event: &E) -> Envelope {
    Envelope::new(producer, event, Utc::now()).unwrap_or_else(|e| panic!("envelope of a test event: {e}"))
}
