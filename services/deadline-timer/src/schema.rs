//! Deadline-timer's tables.

diesel::table! {
    stage_budgets (category, stage) {
        category -> Text,
        stage -> Text,
        budget -> Text,
    }
}

diesel::table! {
    deadlines (id) {
        id -> Text,
        message_id -> Text,
        tracking_code -> Text,
        agency_id -> Text,
        stage -> Text,
        budget -> Text,
        started_at -> Timestamp,
        due_at -> Timestamp,
        state -> Text,
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    warnings (id) {
        id -> Text,
        deadline_id -> Text,
        message_id -> Text,
        tracking_code -> Text,
        agency_id -> Text,
        level -> Integer,
        reason -> Text,
        text_fa -> Text,
        due_at -> Timestamp,
        issued_at -> Timestamp,
    }
}

diesel::table! {
    responded_messages (message_id) {
        message_id -> Text,
        responded_at -> Timestamp,
    }
}

diesel::table! {
    business_calendars (id) {
        id -> Text,
        document -> Text,
        updated_at -> Timestamp,
    }
}
