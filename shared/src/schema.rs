//! Tables of the shared messaging and access infrastructure. Each service declares its own
//! tables in its own crate; these are the only ones every service touches.

diesel::table! {
    outbox (id) {
        id -> BigInt,
        event_id -> Text,
        producer -> Text,
        event_type -> Text,
        aggregate_id -> Text,
        envelope -> Text,
        created_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        publish_attempts -> Integer,
        last_error -> Nullable<Text>,
        published_at -> Nullable<Timestamp>,
        trace_context -> Nullable<Text>,
    }
}

diesel::table! {
    inbox (consumer, event_id) {
        consumer -> Text,
        event_id -> Text,
        event_type -> Text,
        processed_at -> Timestamp,
    }
}

diesel::table! {
    parked_events (id) {
        id -> BigInt,
        consumer -> Text,
        event_id -> Text,
        event_type -> Text,
        envelope -> Text,
        error -> Text,
        parked_at -> Timestamp,
    }
}

diesel::table! {
    api_keys (id) {
        id -> Text,
        name -> Text,
        secret_hash -> Text,
        scopes -> Text,
        agency_id -> Nullable<Text>,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
        unit_id -> Nullable<Text>,
    }
}
