//! Deadline-timer's tables.

diesel::table! {
    sla_policies (id) {
        id -> Text,
        category -> Text,
        priority -> Text,
        channel -> Text,
        document -> Text,
        updated_at -> Timestamp,
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
        policy_id -> Nullable<Text>,
        calendar_id -> Nullable<Text>,
        province -> Nullable<Text>,
        escalation_agency_id -> Nullable<Text>,
        stage_policy -> Text,
        ladder -> Text,
        next_step -> Integer,
        next_fire_at -> Nullable<Timestamp>,
        paused_at -> Nullable<Timestamp>,
        pauses -> Text,
        agency_ancestors -> Nullable<Text>,
        area_path -> Text,
        subject_kind -> Text,
        subject_message_id -> Nullable<Text>,
        stage_fa -> Nullable<Text>,
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
        stage -> Text,
        escalated_to -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
        acknowledged_by -> Nullable<Text>,
        subject_kind -> Nullable<Text>,
        subject_id -> Nullable<Text>,
    }
}

diesel::table! {
    acknowledged_messages (message_id) {
        message_id -> Text,
        acknowledged_at -> Timestamp,
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
diesel::table! {
    calendar_areas (code) {
        code -> Text,
        parent_code -> Nullable<Text>,
        level -> Text,
        name_fa -> Text,
        name_en -> Text,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(deadlines, warnings);

diesel::table! {
    subject_stage_marks (subject_id, stage) {
        subject_id -> Text,
        stage -> Text,
        closed_at -> Nullable<Timestamp>,
        paused_at -> Nullable<Timestamp>,
        pause_reason -> Nullable<Text>,
        resumed_at -> Nullable<Timestamp>,
    }
}
