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
        /// An area code at any level, or `*` for everywhere; `province` is its province.
        area -> Text,
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
        /// The message's area codes as a JSON array, province first, deepest last.
        area_path -> Text,
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

diesel::table! {
    /// The areas routing knows: the provinces, and what `areas.imported` announced.
    routing_areas (code) {
        code -> Text,
        parent_code -> Nullable<Text>,
        level -> Text,
        name_fa -> Text,
        name_en -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    /// The areas each agency declares it serves.
    agency_areas (agency_id, area_code) {
        agency_id -> Text,
        area_code -> Text,
    }
}

diesel::joinable!(agency_areas -> agencies (agency_id));
diesel::allow_tables_to_appear_in_same_query!(agencies, agency_areas);
