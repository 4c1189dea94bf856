//! This service's operations, described (OpenAPI 3.1, from the handlers).

use crate::calendar::api as calendar_api;
use crate::deadlines::api;
use crate::policy::api as policy_api;

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api::get_warnings,
        api::post_acknowledgement,
        api::get_deadlines,
        api::post_pause,
        api::post_resume,
        policy_api::get_policies,
        policy_api::put_policy,
        policy_api::get_policy,
        policy_api::delete_policy,
        calendar_api::get_calendars,
        calendar_api::put_calendar,
        calendar_api::get_calendar,
        calendar_api::get_due,
        calendar_api::post_holiday,
        calendar_api::delete_holiday,
        calendar_api::post_closure,
        calendar_api::delete_closure
    ),
    components(schemas(
        api::WarningList,
        api::DeadlineList,
        api::PauseRequest,
        crate::warnings::store::WarningView,
        crate::deadlines::store::DeadlineView,
        crate::deadlines::store::StepView,
        crate::policy::Step,
        policy_api::PolicyList,
        crate::policy::PolicyDocument,
        crate::policy::StagePolicy,
        calendar_api::CalendarList,
        calendar_api::CalendarChanged,
        calendar_api::DueAnswer,
        crate::calendar::store::CalendarSummary,
        crate::calendar::CalendarDocument,
        crate::calendar::WindowDocument,
        crate::calendar::HolidayDocument,
        crate::calendar::ClosureDocument
    ))
)]
pub struct ApiDoc;
