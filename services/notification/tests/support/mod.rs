//! What the notification tests share: an assignment event to feed the consumer, and a write
//! transaction on the test database.

#![allow(dead_code)]

use chrono::Utc;
use nazer_shared::db::{DbConnection, DbError, write_transaction};
use nazer_shared::events::{Envelope, MessageAssigned};
use nazer_shared::testing::TestApp;

/// `message.assigned` of `message_id` to `agency_id`, as routing would publish it.
pub fn assigned(message_id: &str, agency_id: &str) -> Envelope {
    let event = MessageAssigned {
        message_id: message_id.into(),
        tracking_code: "1234567890".into(),
        kind: "complaint".into(),
        category: "municipal.building".into(),
        province: "tehran".into(),
        city: Some("tehran".into()),
        agency_id: agency_id.into(),
        agency_name: "شهرداری".into(),
        rule_id: "rule-1".into(),
        parent_agency_id: None,
        agency_ancestors: vec![],
        priority: "normal".into(),
        channel: Some("call_center".into()),
        assigned_at: Utc::now(),
    };
    Envelope::new("routing", &event, Utc::now()).unwrap()
}

pub fn write<T>(app: &TestApp, work: impl FnOnce(&mut DbConnection) -> Result<T, DbError>) -> T {
    let mut conn = app.db().get().unwrap();
    write_transaction(&mut conn, work).unwrap()
}
