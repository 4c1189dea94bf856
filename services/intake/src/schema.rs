//! Intake's tables.

diesel::table! {
    categories (code) {
        code -> Text,
        name_fa -> Text,
        name_en -> Text,
        kinds -> Text,
        active -> Bool,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        tracking_code -> Text,
        kind -> Text,
        channel -> Text,
        category -> Text,
        subject -> Nullable<Text>,
        body -> Text,
        province -> Text,
        city -> Nullable<Text>,
        status -> Text,
        assigned_agency_id -> Nullable<Text>,
        assigned_agency_name -> Nullable<Text>,
        submitted_by -> Text,
        idempotency_key -> Nullable<Text>,
        received_at -> Timestamp,
        updated_at -> Timestamp,
        priority -> Text,
        acknowledged_at -> Nullable<Timestamp>,
        agency_ancestors -> Nullable<Text>,
        decline_count -> Integer,
        needs_supervisor -> Bool,
        closed_at -> Nullable<Timestamp>,
        reopen_count -> Integer,
        reopen_until -> Nullable<Timestamp>,
        latitude -> Nullable<Double>,
        longitude -> Nullable<Double>,
        address -> Nullable<Text>,
        media_url -> Nullable<Text>,
        area -> Nullable<Text>,
        area_path -> Nullable<Text>,
        search_text -> Nullable<Text>,
    }
}

diesel::table! {
    area_levels (code) {
        code -> Text,
        rank -> Integer,
        name_fa -> Text,
        name_en -> Text,
    }
}

diesel::table! {
    areas (code) {
        code -> Text,
        parent_code -> Nullable<Text>,
        level -> Text,
        name_fa -> Text,
        name_en -> Text,
        geometry -> Nullable<Text>,
        illustrative -> Bool,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    area_revision (id) {
        id -> Integer,
        revision -> BigInt,
    }
}

diesel::table! {
    reporters (message_id) {
        message_id -> Text,
        full_name -> Nullable<Text>,
        national_id -> Nullable<Text>,
        mobile -> Nullable<Text>,
        email -> Nullable<Text>,
        confidential -> Bool,
        tracking_pin -> Nullable<Text>,
        mobile_blind_index -> Nullable<Text>,
        national_id_blind_index -> Nullable<Text>,
    }
}

diesel::table! {
    agency_responses (id) {
        id -> Text,
        message_id -> Text,
        agency_id -> Text,
        outcome -> Text,
        body -> Text,
        responded_at -> Timestamp,
        attachments -> Text,
    }
}

diesel::table! {
    message_deadlines (deadline_id) {
        deadline_id -> Text,
        message_id -> Text,
        stage -> Text,
        due_at -> Timestamp,
        state -> Text,
        updated_at -> Timestamp,
        agency_id -> Nullable<Text>,
    }
}

diesel::table! {
    message_warnings (warning_id) {
        warning_id -> Text,
        message_id -> Text,
        deadline_id -> Text,
        level -> Integer,
        reason -> Text,
        issued_at -> Timestamp,
        agency_id -> Nullable<Text>,
        escalated_to -> Nullable<Text>,
    }
}

diesel::table! {
    message_reminders (deadline_id, fraction) {
        deadline_id -> Text,
        fraction -> Double,
        message_id -> Text,
        agency_id -> Text,
        stage -> Text,
        due_at -> Timestamp,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    message_timeline (id) {
        id -> Text,
        message_id -> Text,
        happened_at -> Timestamp,
        transition -> Text,
        agency_id -> Nullable<Text>,
        detail -> Text,
        actor_kind -> Nullable<Text>,
        actor_id -> Nullable<Text>,
        actor_name -> Nullable<Text>,
    }
}

diesel::table! {
    response_ratings (response_id) {
        response_id -> Text,
        message_id -> Text,
        rating -> Integer,
        comment -> Nullable<Text>,
        rated_at -> Timestamp,
    }
}

diesel::table! {
    response_reviews (response_id) {
        response_id -> Text,
        message_id -> Text,
        agency_id -> Text,
        reviewer -> Text,
        relevant -> Integer,
        complete -> Integer,
        lawful -> Integer,
        respectful -> Integer,
        score -> Double,
        below_standard -> Bool,
        comment -> Nullable<Text>,
        reviewed_at -> Timestamp,
    }
}

diesel::table! {
    rate_limits (bucket) {
        bucket -> Text,
        window_start -> Timestamp,
        hits -> Integer,
    }
}

// Open311 reads leave out messages whose reporter asked for confidentiality (a subquery).
diesel::allow_tables_to_appear_in_same_query!(messages, reporters);

diesel::table! {
    message_violation_cases (case_id) {
        case_id -> Text,
        message_id -> Text,
        remedial_open -> Bool,
        updated_at -> Timestamp,
    }
}
