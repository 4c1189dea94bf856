//! SLA policies: for the messages of a category × priority (× channel), which stages are put on
//! the clock, each with a budget, pre-breach reminders and an escalation ladder. Pure rules:
//! validation, choosing the most specific policy, and turning a stage into its timed steps.

use chrono::{DateTime, Utc};
use nazer_shared::events::{Channel, Priority, Stage};
use nazer_shared::http::{FieldIssue, IDENTIFIER_RULE, is_identifier};
use serde::{Deserialize, Serialize};

use crate::calendar::{Budget, Calendar, CalendarError};

pub(crate) mod api;
pub mod store;

/// Matches every category, priority or channel.
pub const ANY: &str = "*";
/// The stages a policy may put on the clock (quality is a warning's stage, never a clock's).
pub const CLOCK_STAGES: [Stage; 2] = [Stage::Acknowledge, Stage::Respond];

/// The clock stages, comma-separated, for messages that say what is accepted.
fn clock_stages_listed() -> String {
    CLOCK_STAGES.map(Stage::as_str).join(", ")
}
/// Reminders when a stage does not name its own: at half and at four fifths of the budget.
pub const DEFAULT_REMINDERS: [f64; 2] = [0.5, 0.8];
const MAX_REMINDERS: usize = 5;

fn any() -> String {
    ANY.to_string()
}

/// The JSON form of a policy, as the admin API takes and gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// 1–64 lowercase letters, digits, '.', '_' or '-'; the same as the path's.
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub id: String,
    /// A category code, or `*` (the default) for every category.
    #[serde(default = "any")]
    pub category: String,
    /// `normal`, `high` or `urgent`, or `*` (the default) for every priority.
    #[serde(default = "any")]
    pub priority: String,
    /// `call_center`, `web`, `mobile_app`, `open311`, `direct_meeting` or `letter`, or `*` (the
    /// default) for every channel.
    #[serde(default = "any")]
    pub channel: String,
    /// The business calendar business-hour and business-day budgets are counted on.
    #[serde(default)]
    pub calendar: Option<String>,
    /// At least one of `acknowledge` and `respond`, each at most once.
    pub stages: Vec<StagePolicy>,
}

/// One stage of a policy. A copy travels with every deadline it starts, so changing a policy
/// later never rewrites a clock already running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StagePolicy {
    /// `acknowledge` or `respond`.
    #[schema(pattern = "^(acknowledge|respond)$")]
    pub stage: String,
    /// Business hours (`8h`), business days (`3d`) — both need the policy's `calendar` — or an
    /// ISO 8601 duration (`PT30S`), which runs round the clock.
    pub budget: String,
    /// Fractions of the budget at which the agency is reminded, between 0 and 1 in ascending
    /// order, at most 5; absent means 50 % and 80 %.
    #[serde(default)]
    #[schema(max_items = 5)]
    pub reminders: Option<Vec<f64>>,
    /// After the level-1 warning, how long until level 2 (the agency's head or parent).
    #[serde(default)]
    pub level_2_after: Option<String>,
    /// After level 2, how long until level 3: referral to Special Follow-up.
    #[serde(default)]
    pub level_3_after: Option<String>,
}

impl StagePolicy {
    pub fn reminders(&self) -> Vec<f64> {
        self.reminders.clone().unwrap_or_else(|| DEFAULT_REMINDERS.to_vec())
    }

    /// The calendar this stage's own budget counts on: none for a plain duration, which runs
    /// round the clock even on a policy with a calendar.
    pub fn clock<'a>(&self, calendar: Option<&'a Calendar>) -> Option<&'a Calendar> {
        calendar.filter(|_| !matches!(Budget::parse(&self.budget), Ok(Budget::Plain(_))))
    }
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaPolicy {
    document: PolicyDocument,
}

impl SlaPolicy {
    /// Validates a document; every problem is named by its JSON path.
    pub fn from_document(mut document: PolicyDocument) -> Result<Self, Vec<FieldIssue>> {
        let mut issues = Vec::new();
        if !is_identifier(&document.id) {
            issues.push(FieldIssue::new("id", IDENTIFIER_RULE));
        }
        document.category = document.category.trim().to_string();
        if document.category != ANY && !is_identifier(&document.category) {
            issues.push(FieldIssue::new("category", "a category code, or `*` for every category"));
        }
        document.priority = document.priority.trim().to_string();
        if document.priority != ANY && Priority::parse(&document.priority).is_none() {
            let names = Priority::listed();
            issues.push(FieldIssue::new("priority", format!("`*` or one of: {names}")));
        }
        document.channel = document.channel.trim().to_string();
        if document.channel != ANY && Channel::parse(&document.channel).is_none() {
            let names = Channel::listed();
            issues.push(FieldIssue::new("channel", format!("`*` or one of: {names}")));
        }
        if let Some(calendar) = &document.calendar
            && !is_identifier(calendar)
        {
            issues.push(FieldIssue::new("calendar", "the id of a stored business calendar"));
        }
        if document.stages.is_empty() {
            issues.push(FieldIssue::new("stages", format!("at least one stage: {}", clock_stages_listed())));
        }
        for (i, stage) in document.stages.iter().enumerate() {
            check_stage(&mut issues, i, stage, &document);
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        // Stored and shown as it applies: absent reminders are the default ones.
        for stage in &mut document.stages {
            stage.reminders = Some(stage.reminders());
        }
        Ok(Self { document })
    }

    pub fn document(&self) -> &PolicyDocument {
        &self.document
    }

    pub fn id(&self) -> &str {
        &self.document.id
    }

    /// How well the policy fits a message: None when it does not apply; otherwise higher is
    /// more specific (category weighs most, then priority, then channel).
    pub fn specificity(&self, category: &str, priority: &str, channel: Option<&str>) -> Option<u8> {
        let fits = |wanted: &str, actual: Option<&str>, weight: u8| match (wanted, actual) {
            (ANY, _) => Some(0),
            (w, Some(a)) if w == a => Some(weight),
            _ => None,
        };
        Some(
            fits(&self.document.category, Some(category), 4)?
                + fits(&self.document.priority, Some(priority), 2)?
                + fits(&self.document.channel, channel, 1)?,
        )
    }
}

fn check_stage(issues: &mut Vec<FieldIssue>, i: usize, stage: &StagePolicy, document: &PolicyDocument) {
    let at = |field: &str| format!("stages[{i}].{field}");
    if !Stage::parse(&stage.stage).is_some_and(|s| CLOCK_STAGES.contains(&s)) {
        issues.push(FieldIssue::new(at("stage"), format!("one of: {}", clock_stages_listed())));
    } else if document.stages[..i].iter().any(|s| s.stage == stage.stage) {
        issues.push(FieldIssue::new(at("stage"), format!("`{}` is listed twice", stage.stage)));
    }
    let budgets = [("budget", Some(&stage.budget)), ("level_2_after", stage.level_2_after.as_ref())];
    let budgets = budgets.into_iter().chain([("level_3_after", stage.level_3_after.as_ref())]);
    for (field, text) in budgets {
        let Some(text) = text else { continue };
        match Budget::parse(text) {
            Ok(Budget::Plain(_)) => {}
            Ok(_) if document.calendar.is_none() => issues.push(FieldIssue::new(
                at(field),
                "business hours and days are counted on a calendar: set the policy's `calendar`, or use an ISO 8601 duration",
            )),
            Ok(_) => {}
            Err(error) => issues.push(FieldIssue::new(at(field), error.to_string())),
        }
    }
    if stage.level_3_after.is_some() && stage.level_2_after.is_none() {
        issues.push(FieldIssue::new(at("level_3_after"), "needs `level_2_after`: level 3 follows level 2"));
    }
    if let Some(reminders) = &stage.reminders {
        if reminders.len() > MAX_REMINDERS {
            issues.push(FieldIssue::new(at("reminders"), format!("at most {MAX_REMINDERS} reminders")));
        }
        let in_range = reminders.iter().all(|f| f.is_finite() && *f > 0.0 && *f < 1.0);
        let ascending = reminders.windows(2).all(|pair| pair[0] < pair[1]);
        if !in_range || !ascending {
            issues.push(FieldIssue::new(
                at("reminders"),
                "fractions of the budget between 0 and 1, in ascending order, e.g. [0.5, 0.8]",
            ));
        }
    }
}

/// The most specific of `policies` for a message, if any applies.
pub fn choose<'a>(
    policies: &'a [SlaPolicy],
    category: &str,
    priority: &str,
    channel: Option<&str>,
) -> Option<&'a SlaPolicy> {
    policies
        .iter()
        .filter_map(|p| p.specificity(category, priority, channel).map(|score| (score, p)))
        .max_by_key(|(score, _)| *score)
        .map(|(_, p)| p)
}

/// One timed step of a stage's ladder.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    Reminder { fraction: f64, at: DateTime<Utc> },
    Warning { level: i32, at: DateTime<Utc> },
}

impl Step {
    pub fn at(&self) -> DateTime<Utc> {
        match self {
            Step::Reminder { at, .. } | Step::Warning { at, .. } => *at,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LadderError {
    #[error("budget `{0}` is not valid")]
    Budget(String),
    #[error("budget `{0}` needs a business calendar")]
    NoCalendar(String),
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

/// `budget` counted from `start`: plain durations run round the clock; business hours and
/// days on the calendar, for a message located in `area_path` (its area codes, province first).
pub fn due_after(
    budget_text: &str,
    calendar: Option<&Calendar>,
    start: DateTime<Utc>,
    area_path: &[String],
) -> Result<DateTime<Utc>, LadderError> {
    let budget = Budget::parse(budget_text).map_err(|_| LadderError::Budget(budget_text.into()))?;
    match (budget, calendar) {
        (Budget::Plain(duration), _) => Ok(start + duration),
        (_, None) => Err(LadderError::NoCalendar(budget_text.into())),
        (budget, Some(calendar)) => Ok(calendar.due(start, budget, area_path)?),
    }
}

/// A stage's due instant and its steps in time order: the reminders before it, the level-1
/// warning at it, then the escalation levels.
pub fn ladder(
    stage: &StagePolicy,
    calendar: Option<&Calendar>,
    start: DateTime<Utc>,
    area_path: &[String],
) -> Result<(DateTime<Utc>, Vec<Step>), LadderError> {
    let due = due_after(&stage.budget, calendar, start, area_path)?;
    Ok((due, ladder_from(stage, calendar, start, due, area_path)?))
}

/// The steps of a stage whose due instant is already fixed (a level-1 warning was registered
/// on it): the reminders before it, the warning at it, then the escalation levels.
pub fn ladder_from(
    stage: &StagePolicy,
    calendar: Option<&Calendar>,
    start: DateTime<Utc>,
    due: DateTime<Utc>,
    area_path: &[String],
) -> Result<Vec<Step>, LadderError> {
    // A fraction of the working time, so a reminder never falls on a night or a holiday.
    let working = stage.clock(calendar).map(|c| (c, c.working_time_between(start, due, area_path)));
    let mut steps = Vec::new();
    for fraction in stage.reminders() {
        let part =
            |span: chrono::Duration| chrono::Duration::milliseconds((span.num_milliseconds() as f64 * fraction) as i64);
        let at = match working {
            Some((calendar, working)) => calendar.add_working_time(start, part(working), area_path)?,
            None => start + part(due - start),
        };
        if at > start && at < due {
            steps.push(Step::Reminder { fraction, at });
        }
    }
    steps.push(Step::Warning { level: 1, at: due });
    if let Some(after) = &stage.level_2_after {
        let level_2 = due_after(after, calendar, due, area_path)?;
        steps.push(Step::Warning { level: 2, at: level_2 });
        if let Some(after) = &stage.level_3_after {
            steps.push(Step::Warning { level: 3, at: due_after(after, calendar, level_2, area_path)? });
        }
    }
    Ok(steps)
}

#[cfg(test)]
mod tests;
