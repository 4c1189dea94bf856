//! The steps of a case, as recorded: who took each and when, the reference letter it cites
//! (its number and Solar Hijri date), its text and the documents it points to. Written in the
//! same transaction as the state change it records.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::actor::{Actor, ActorKind};
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::http::FieldIssue;
use nazer_shared::iran::{JalaliDate, jalali_date_time, normalize_persian, parse_either_date};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::schema::violation_case_steps;

nazer_shared::closed_set! {
    /// Which of a case's two tracks a step belongs to (a classification opens the remedial one).
    pub enum Track {
        Remedial = "remedial",
        Culpability = "culpability",
    }
}

/// The longest text of a step, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;
/// The longest reason or note (a verdict's reason, a referral's note, a judicial result), in
/// characters.
pub const MAX_REASON_CHARS: usize = 2_000;
/// The most documents one step may cite.
pub const MAX_DOCUMENTS: usize = 20;

/// What a person writes with a step: the reference letter, the text and the documents.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRecord {
    /// The reference letter's number (شماره نامه), up to 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub reference: Option<String>,
    /// The reference letter's date: a Solar Hijri (`1405-09-16`) or Gregorian (`2026-12-07`) day.
    #[serde(default)]
    pub reference_date: Option<String>,
    /// The text of the step: the referral, the decision, the evidence of execution; up to
    /// 10,000 characters.
    #[serde(default)]
    #[schema(max_length = 10000)]
    pub body: Option<String>,
    /// References to documents kept elsewhere (a document id or an address), up to 20, each up
    /// to 500 characters.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub documents: Vec<String>,
}

/// A checked [`StepRecord`]: trimmed, Persian letters normalised, the date as Solar Hijri.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckedRecord {
    pub reference: Option<String>,
    pub reference_date: Option<String>,
    pub body: Option<String>,
    pub documents: Vec<String>,
}

/// Trims an optional text, refusing one longer than `max`; empty is absent.
pub fn optional_text(issues: &mut Vec<FieldIssue>, field: &str, text: Option<String>, max: usize) -> Option<String> {
    let text = text.map(|t| normalize_persian(t.trim())).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > max) {
        issues.push(FieldIssue::new(field, format!("up to {max} characters")));
    }
    text
}

/// A required text of 1–`max` characters.
pub fn required_text(issues: &mut Vec<FieldIssue>, field: &str, text: Option<String>, max: usize) -> String {
    let text = optional_text(issues, field, text, max);
    if text.is_none() {
        issues.push(FieldIssue::new(field, format!("is required, 1–{max} characters")));
    }
    text.unwrap_or_default()
}

impl StepRecord {
    /// Checks a record whose text is a required `field` of up to `max` characters (a verdict's
    /// reason, findings' summary …), beside the letter, date and documents of `self`.
    pub fn with_required_text(
        self,
        field: &str,
        text: Option<String>,
        max: usize,
        issues: &mut Vec<FieldIssue>,
    ) -> CheckedRecord {
        let text = required_text(issues, field, text, max);
        StepRecord { body: (!text.is_empty()).then_some(text), ..self }.checked(false, issues)
    }

    /// Checks the record; `body_required` when the step means nothing without its text.
    pub fn checked(self, body_required: bool, issues: &mut Vec<FieldIssue>) -> CheckedRecord {
        let reference = optional_text(issues, "reference", self.reference, 100);
        let reference_date = self.reference_date.map(|d| d.trim().to_string()).filter(|d| !d.is_empty());
        let reference_date = reference_date.and_then(|text| match parse_either_date(&text) {
            Some(day) => Some(JalaliDate::from_gregorian(day).to_string()),
            None => {
                let problem = "a day, Solar Hijri (1405-09-16) or Gregorian (2026-12-07)";
                issues.push(FieldIssue::new("reference_date", problem));
                None
            }
        });
        let body = if body_required {
            Some(required_text(issues, "body", self.body, MAX_BODY_CHARS))
        } else {
            optional_text(issues, "body", self.body, MAX_BODY_CHARS)
        };
        if self.documents.len() > MAX_DOCUMENTS {
            issues.push(FieldIssue::new("documents", format!("at most {MAX_DOCUMENTS} references")));
        }
        let mut documents = Vec::new();
        for (i, document) in self.documents.into_iter().enumerate() {
            let document = document.trim().to_string();
            if document.is_empty() || document.chars().count() > 500 || document.chars().any(char::is_control) {
                issues.push(FieldIssue::new(format!("documents[{i}]"), "a reference of 1–500 characters, one line"));
            }
            documents.push(document);
        }
        CheckedRecord { reference, reference_date, body, documents }
    }
}

/// A step to record.
pub struct NewStep<'a> {
    pub case_id: &'a str,
    pub track: Track,
    pub step: &'a str,
    pub actor: &'a Actor,
    pub record: &'a CheckedRecord,
    pub authority: Option<&'a str>,
    pub detail: Value,
}

/// Records a step; its id.
pub fn insert(conn: &mut DbConnection, step: &NewStep, at: DateTime<Utc>) -> Result<String, DbError> {
    let id = Uuid::now_v7().to_string();
    let documents = serde_json::to_string(&step.record.documents).map_err(|e| DbError::Refused(e.to_string()))?;
    diesel::insert_into(violation_case_steps::table)
        .values((
            violation_case_steps::id.eq(&id),
            violation_case_steps::case_id.eq(step.case_id),
            violation_case_steps::track.eq(step.track.as_str()),
            violation_case_steps::step.eq(step.step),
            violation_case_steps::acted_at.eq(to_db_time(at)),
            violation_case_steps::actor_kind.eq(step.actor.kind.as_str()),
            violation_case_steps::actor_id.eq(step.actor.id.as_deref()),
            violation_case_steps::actor_name.eq(step.actor.name.as_deref()),
            violation_case_steps::reference.eq(step.record.reference.as_deref()),
            violation_case_steps::reference_date.eq(step.record.reference_date.as_deref()),
            violation_case_steps::authority.eq(step.authority),
            violation_case_steps::body.eq(step.record.body.as_deref()),
            violation_case_steps::documents.eq(documents),
            violation_case_steps::detail.eq(step.detail.to_string()),
        ))
        .execute(conn)?;
    Ok(id)
}

/// A step as the case view shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ViolationCaseStep)]
pub struct StepView {
    pub id: String,
    /// Remedial: `classified` (by an inspector, which opens the track), `referred`, `decided`,
    /// `executed` (by the agency), `verdict`, `withdrawn` (by an inspector), `paused` and
    /// `resumed` (a stage waiting on an outside authority), `reassigned` (the report went to
    /// another agency). Culpability: `opened` (by an inspector), `findings` and `referred` (by
    /// the unit), `decided`, `outcome` and `closed` (by the compliance committee).
    pub step: String,
    pub acted_at: DateTime<Utc>,
    /// When, as people in Iran read it: Tehran time, Solar Hijri (`1405/09/16 10:30`).
    pub acted_at_fa: String,
    /// Who took the step; null where the caller is not shown it (an agency sees the actors of
    /// its own steps only).
    pub actor: Option<Actor>,
    /// The reference letter's number.
    pub reference: Option<String>,
    /// The reference letter's date, Solar Hijri (`1405/09/16`).
    pub reference_date: Option<String>,
    /// The authority referred to (`referred`).
    pub authority: Option<String>,
    pub body: Option<String>,
    pub documents: Vec<String>,
    /// What the step carries beside: a verdict's `effective`, a classification's `violation_type`
    /// and `previous_type`.
    #[schema(value_type = Object)]
    pub detail: Value,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = violation_case_steps)]
struct StepRow {
    id: String,
    track: String,
    step: String,
    acted_at: NaiveDateTime,
    actor_kind: String,
    actor_id: Option<String>,
    actor_name: Option<String>,
    reference: Option<String>,
    reference_date: Option<String>,
    authority: Option<String>,
    body: Option<String>,
    documents: String,
    detail: String,
}

/// The culpability steps named any of `steps` of the cases `case_ids`, oldest first.
pub fn culpability_steps_of(
    conn: &mut DbConnection,
    case_ids: &[String],
    steps: &[&str],
) -> Result<Vec<(String, StepView)>, DbError> {
    let rows: Vec<(String, StepRow)> = violation_case_steps::table
        .filter(violation_case_steps::case_id.eq_any(case_ids))
        .filter(violation_case_steps::track.eq(Track::Culpability.as_str()))
        .filter(violation_case_steps::step.eq_any(steps))
        .order((violation_case_steps::acted_at, violation_case_steps::id))
        .select((violation_case_steps::case_id, StepRow::as_select()))
        .load(conn)?;
    rows.into_iter().map(|(case_id, row)| view(row).map(|(_, step)| (case_id, step))).collect()
}

/// The steps of a case, oldest first, by track.
pub fn of_case(conn: &mut DbConnection, case_id: &str) -> Result<Vec<(Track, StepView)>, DbError> {
    let rows: Vec<StepRow> = violation_case_steps::table
        .filter(violation_case_steps::case_id.eq(case_id))
        .order((violation_case_steps::acted_at, violation_case_steps::id))
        .select(StepRow::as_select())
        .load(conn)?;
    rows.into_iter().map(view).collect()
}

fn view(row: StepRow) -> Result<(Track, StepView), DbError> {
    let refused = |what: &str| DbError::Refused(format!("case step `{}` has an unreadable {what}", row.id));
    let track = Track::parse(&row.track).ok_or_else(|| refused("track"))?;
    let kind = ActorKind::parse(&row.actor_kind).ok_or_else(|| refused("actor"))?;
    let documents = serde_json::from_str(&row.documents).map_err(|_| refused("documents"))?;
    let detail = serde_json::from_str(&row.detail).map_err(|_| refused("detail"))?;
    let acted_at = from_db_time(row.acted_at);
    let step = StepView {
        id: row.id,
        step: row.step,
        acted_at,
        acted_at_fa: jalali_date_time(acted_at),
        actor: Some(Actor { kind, id: row.actor_id, name: row.actor_name }),
        reference: row.reference,
        reference_date: row.reference_date,
        authority: row.authority,
        body: row.body,
        documents,
        detail,
    };
    Ok((track, step))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_is_trimmed_and_its_date_read_either_way() {
        let record = StepRecord {
            reference: Some("  ۱۲۳/ص/۱۴۰۵ ".into()),
            reference_date: Some("2026-12-07".into()),
            body: Some(" به کمیسیون ماده صد ارجاع شد ".into()),
            documents: vec![" doc-1 ".into()],
        };
        let mut issues = Vec::new();
        let checked = record.checked(true, &mut issues);
        assert_eq!(issues, vec![]);
        assert_eq!(checked.reference.as_deref(), Some("۱۲۳/ص/۱۴۰۵"));
        assert_eq!(checked.reference_date.as_deref(), Some("1405/09/16"));
        assert_eq!(checked.body.as_deref(), Some("به کمیسیون ماده صد ارجاع شد"));
        assert_eq!(checked.documents, vec!["doc-1".to_string()]);
        let solar = StepRecord { reference_date: Some("1405/09/16".into()), ..StepRecord::default() };
        assert_eq!(solar.checked(false, &mut issues).reference_date.as_deref(), Some("1405/09/16"));
        assert_eq!(issues, vec![]);
    }

    #[test]
    fn every_bad_field_is_named() {
        let record = StepRecord {
            reference: Some("x".repeat(101)),
            reference_date: Some("1405-13-01".into()),
            body: Some("   ".into()),
            documents: vec!["ok".into(), "two\nlines".into(), String::new()],
        };
        let mut issues = Vec::new();
        record.checked(true, &mut issues);
        let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["reference", "reference_date", "body", "documents[1]", "documents[2]"]);
        let many = StepRecord { documents: vec!["d".into(); 21], ..StepRecord::default() };
        let mut issues = Vec::new();
        many.checked(false, &mut issues);
        assert_eq!(issues.iter().map(|i| i.field.as_str()).collect::<Vec<_>>(), ["documents"]);
    }
}
