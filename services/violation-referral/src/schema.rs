//! Violation-referral's tables.

diesel::table! {
    violation_cases (id) {
        id -> Text,
        message_id -> Text,
        tracking_code -> Text,
        agency_id -> Text,
        category -> Text,
        province -> Text,
        status -> Text,
        opened_at -> Timestamp,
    }
}

diesel::table! {
    violation_types (code) {
        code -> Text,
        document -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    counterpart_units (id) {
        id -> Text,
        name_fa -> Text,
        name_en -> Text,
        updated_at -> Timestamp,
    }
}
