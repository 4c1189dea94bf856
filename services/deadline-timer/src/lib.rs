//! Deadline-timer: puts every stage of a message on the clock when it is assigned, stops the
//! clock when the agency answers, and registers a warning (تذکر) — exactly once — when the
//! standard handling time runs out. Clocks count business time on calendars whose closures
//! may hold for one area (a province, a district of Tehran, …), as intake announces its areas.
//! Other subjects' stages (a violation case's tracks) run on the same clocks through `stage.*`
//! events.

use std::sync::Arc;

use actix_web::web;
use chrono::{DateTime, Utc};
use nazer_shared::db::{DbConnection, DbError};
use nazer_shared::events::{
    AreasImported, Envelope, MessageAcknowledged, MessageAssigned, MessageDeclined, MessageReopened, MessageResponded,
    ResponseReviewed, StageClosed, StageOpened, StagePaused, StageResumed,
};
use nazer_shared::inbox::{EventHandler, HandlerError, Handlers};
use nazer_shared::runtime::{Service, ServiceContext, ServiceEntry};
use nazer_shared::topology::DEADLINE_TIMER;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub mod areas;
pub mod calendar;
pub mod deadlines;
pub mod firing;
mod openapi;
pub mod policy;
pub mod schema;
pub mod seeding;
pub mod subjects;
pub mod warnings;

pub const SERVICE: ServiceEntry = ServiceEntry {
    name: DEADLINE_TIMER,
    factory: |ctx| Ok(Arc::new(DeadlineTimer::new(ctx))),
    consumes: || handlers().bindings(),
};

pub struct DeadlineTimer {
    state: web::Data<deadlines::api::DeadlineState>,
}

impl DeadlineTimer {
    pub fn new(ctx: ServiceContext) -> Self {
        Self { state: web::Data::new(deadlines::api::DeadlineState { ctx, wake: Arc::new(Notify::new()) }) }
    }
}

/// What the clocks need from the settings.
pub struct Clockwork {
    fallback_budget: String,
    reopen_working_days: u32,
}

/// What deadline-timer does with the events it consumes.
pub fn handlers() -> Handlers<Clockwork> {
    Handlers::new()
        .on::<MessageAssigned>(schedule)
        .on::<MessageAcknowledged>(acknowledge)
        .on::<MessageResponded>(meet)
        .on::<MessageDeclined>(stop_declined)
        .on::<MessageReopened>(restart)
        .on::<ResponseReviewed>(review)
        .on::<AreasImported>(know_areas)
        .on_any::<StageOpened>(|_, conn, opened, _, now| Ok(subjects::open(conn, &opened, now).map(drop)?))
        .on_any::<StageClosed>(|_, conn, closed, _, now| Ok(subjects::close(conn, &closed, now).map(drop)?))
        .on_any::<StagePaused>(|_, conn, paused, _, now| Ok(subjects::pause(conn, &paused, now).map(drop)?))
        .on_any::<StageResumed>(|_, conn, resumed, _, now| Ok(subjects::resume(conn, &resumed, now).map(drop)?))
}

fn schedule(
    clocks: &Clockwork,
    conn: &mut DbConnection,
    assigned: MessageAssigned,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    deadlines::store::schedule(conn, &assigned, &clocks.fallback_budget, now)?;
    Ok(())
}

fn acknowledge(
    _: &Clockwork,
    conn: &mut DbConnection,
    acknowledged: MessageAcknowledged,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    deadlines::store::acknowledge(conn, &acknowledged, now)?;
    Ok(())
}

fn meet(
    clocks: &Clockwork,
    conn: &mut DbConnection,
    responded: MessageResponded,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    deadlines::store::meet(conn, &responded, now)?;
    deadlines::reopening::announce_window(conn, &responded, clocks.reopen_working_days, now)?;
    Ok(())
}

fn stop_declined(
    _: &Clockwork,
    conn: &mut DbConnection,
    declined: MessageDeclined,
    _: &Envelope,
    _: DateTime<Utc>,
) -> Result<(), HandlerError> {
    deadlines::store::stop_declined(conn, &declined)?;
    Ok(())
}

fn restart(
    clocks: &Clockwork,
    conn: &mut DbConnection,
    reopened: MessageReopened,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    deadlines::reopening::restart(conn, &reopened, &clocks.fallback_budget, now)?;
    Ok(())
}

fn review(
    _: &Clockwork,
    conn: &mut DbConnection,
    reviewed: ResponseReviewed,
    _: &Envelope,
    now: DateTime<Utc>,
) -> Result<(), HandlerError> {
    warnings::quality::register(conn, &reviewed, now)?;
    Ok(())
}

fn know_areas(
    _: &Clockwork,
    conn: &mut DbConnection,
    imported: AreasImported,
    _: &Envelope,
    _: DateTime<Utc>,
) -> Result<(), HandlerError> {
    areas::store::record_areas(conn, &imported.areas, imported.imported_at)?;
    Ok(())
}

impl Service for DeadlineTimer {
    fn openapi(&self) -> utoipa::openapi::OpenApi {
        <openapi::ApiDoc as utoipa::OpenApi>::openapi()
    }

    fn handler(&self) -> Option<Arc<dyn EventHandler>> {
        let settings = &self.state.ctx.settings;
        Some(handlers().with_state(Clockwork {
            fallback_budget: settings.deadlines.default_budget.clone(),
            reopen_working_days: settings.quality.reopen_working_days,
        }))
    }

    fn routes(&self, cfg: &mut web::ServiceConfig) {
        deadlines::api::routes(cfg, self.state.clone());
    }

    fn workers(&self, shutdown: CancellationToken) -> Vec<JoinHandle<()>> {
        vec![tokio::spawn(firing::run(self.state.ctx.clone(), self.state.wake.clone(), shutdown))]
    }

    fn after_commit(&self) -> Vec<Arc<Notify>> {
        vec![self.state.wake.clone()]
    }
}

/// The calendar Nazer ships: Thursday and Friday off, 07:30–14:30, and the official holidays
/// of 1405 (the fixed Solar Hijri ones and that year's lunar ones), as data.
pub const DEFAULT_CALENDAR: &str = include_str!("../calendars/iran-gov-1405.json");
/// The id of [`DEFAULT_CALENDAR`]: the calendar of clocks whose policy names none, where
/// working days are counted anyway (the reopening period).
pub const DEFAULT_CALENDAR_ID: &str = "iran-gov-1405";

fn default_calendar() -> Result<calendar::CalendarDocument, DbError> {
    serde_json::from_str(DEFAULT_CALENDAR).map_err(|e| DbError::Refused(format!("default calendar: {e}")))
}

/// Reference data every installation starts with: the default calendar, stored when absent
/// (an administrator's later edits are never overwritten). True when it was stored now.
pub fn seed_reference(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<bool, DbError> {
    let document = default_calendar()?;
    if calendar::store::find_calendar(conn, &document.id)?.is_some() {
        return Ok(false);
    }
    let calendar = calendar::Calendar::from_document(document)
        .map_err(|issues| DbError::Refused(format!("default calendar: {issues:?}")))?;
    calendar::store::put_calendar(conn, &calendar, now)?;
    Ok(true)
}

/// Demo policies: seconds instead of days, so the whole ladder (reminders, then warning levels
/// 1–3) plays out within minutes of a message; and the default calendar with two example
/// closures (invented, to show a provincial and a nationwide one).
pub fn seed_demo(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<(), DbError> {
    let mut document = default_calendar()?;
    document.closures = serde_json::from_str(DEMO_CLOSURES).map_err(|e| DbError::Refused(format!("demo: {e}")))?;
    let id = document.id.clone();
    calendar::change::change_calendar(conn, &id, calendar::change::CalendarEdit::Replace(document), now)
        .map_err(|e| DbError::Refused(format!("demo calendar: {e}")))?;
    for text in DEMO_POLICIES {
        let document: policy::PolicyDocument =
            serde_json::from_str(text).map_err(|e| DbError::Refused(format!("demo policy: {e}")))?;
        let policy = policy::SlaPolicy::from_document(document)
            .map_err(|issues| DbError::Refused(format!("demo policy: {issues:?}")))?;
        policy::store::put_policy(conn, &policy, now).map_err(|e| DbError::Refused(format!("demo policy: {e}")))?;
    }
    Ok(())
}

const DEMO_POLICIES: [&str; 2] = [
    r#"{"id": "demo-default", "stages": [
        {"stage": "respond", "budget": "PT30S", "level_2_after": "PT30S", "level_3_after": "PT30S"}]}"#,
    r#"{"id": "demo-stray-animals", "category": "municipal.stray-animals", "stages": [
        {"stage": "respond", "budget": "PT20S", "reminders": [], "level_2_after": "PT20S"}]}"#,
];

const DEMO_CLOSURES: &str = r#"[{"date": "1405-09-10", "province": "tehran", "reason": "آلودگی هوا"},
 {"date": "1405-09-14", "province": null, "reason": "تعطیلی سراسری"}]"#;
