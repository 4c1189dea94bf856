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
        agency_ancestors -> Nullable<Text>,
        area_path -> Nullable<Text>,
        assigned_at -> Nullable<Timestamp>,
        remedial_paused_at -> Nullable<Timestamp>,
        opened_by -> Nullable<Text>,
        violation_type -> Nullable<Text>,
        budgets -> Nullable<Text>,
        remedial_state -> Nullable<Text>,
        culpability_state -> Nullable<Text>,
        culpability_unit_id -> Nullable<Text>,
        version -> Integer,
        opened_reason -> Nullable<Text>,
    }
}

diesel::table! {
    violation_message_assignments (message_id) {
        message_id -> Text,
        tracking_code -> Text,
        assigned -> Text,
        assigned_at -> Timestamp,
    }
}

diesel::table! {
    violation_case_steps (id) {
        id -> Text,
        case_id -> Text,
        track -> Text,
        step -> Text,
        acted_at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
        actor_name -> Nullable<Text>,
        reference -> Nullable<Text>,
        reference_date -> Nullable<Text>,
        authority -> Nullable<Text>,
        body -> Nullable<Text>,
        documents -> Text,
        detail -> Text,
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

diesel::table! {
    violation_case_deadlines (deadline_id) {
        deadline_id -> Text,
        case_id -> Text,
        stage -> Text,
        agency_id -> Text,
        started_at -> Nullable<Timestamp>,
        due_at -> Timestamp,
        state -> Text,
        warning_level -> Integer,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    compliance_sessions (id) {
        id -> Text,
        held_on -> Text,
        members -> Text,
        note -> Nullable<Text>,
        created_at -> Timestamp,
        actor_kind -> Text,
        actor_id -> Nullable<Text>,
    }
}

diesel::table! {
    compliance_decisions (case_id) {
        case_id -> Text,
        session_id -> Text,
        decision -> Text,
        decided_at -> Timestamp,
    }
}
