//! Routing's tables.

diesel::table! {
    agencies (id) {
        id -> Text,
        name -> Text,
        parent_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    routing_rules (id) {
        id -> Text,
        category -> Text,
        province -> Text,
        city -> Text,
        agency_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    assignments (message_id) {
        message_id -> Text,
        tracking_code -> Text,
        kind -> Text,
        category -> Text,
        province -> Text,
        city -> Nullable<Text>,
        state -> Text,
        agency_id -> Nullable<Text>,
        rule_id -> Nullable<Text>,
        decided_at -> Timestamp,
        priority -> Text,
        channel -> Nullable<Text>,
        needs_supervisor -> Bool,
    }
}

diesel::table! {
    declines (message_id, agency_id, declined_at) {
        message_id -> Text,
        agency_id -> Text,
        reason -> Text,
        declined_at -> Timestamp,
    }
}
