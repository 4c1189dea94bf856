//! The quality of handling: the citizen rates an answer (1–5) and may reopen it within the
//! reopening period; a supervisor scores it on a rubric, and a score below the standard
//! registers a quality warning (deadline-timer does, on `response.reviewed`).

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::agency::Viewer;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{ResponseRated, ResponseReviewed};
use nazer_shared::http::FieldIssue;
use nazer_shared::outbox;
use nazer_shared::topology::INTAKE;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::lifecycle::{LifecycleError, head};
use crate::schema::{agency_responses, response_ratings, response_reviews};
use crate::timeline::{self, Actor, Transition};
use crate::tracking_code::TrackingCode;

/// Whether the citizen may still reopen an answer given at `responded_at`. Until deadline-timer
/// has worked the period out on the business calendar, `working_days` calendar days are
/// certainly inside it (a working day is never shorter than a calendar day).
pub fn may_reopen(
    reopen_until: Option<DateTime<Utc>>,
    responded_at: DateTime<Utc>,
    working_days: u32,
    now: DateTime<Utc>,
) -> Result<(), String> {
    match reopen_until {
        Some(until) if now <= until => Ok(()),
        Some(until) => Err(format!("the reopening period ended at {}", until.to_rfc3339())),
        None if now <= responded_at + Duration::days(i64::from(working_days)) => Ok(()),
        None => Err("the reopening period could not be confirmed yet; try again later or call 1888".into()),
    }
}

/// The four criteria a supervisor scores, each 1 (poor) to 5 (excellent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = ReviewRubric)]
pub struct Rubric {
    /// The answer addresses what the citizen reported.
    pub relevant: i32,
    /// It covers every point and says what was done.
    pub complete: i32,
    /// It follows the law and the agency's regulations.
    pub lawful: i32,
    /// It is courteous and in plain language.
    pub respectful: i32,
}

/// A supervisor's review: each criterion from 1 (poor) to 5 (excellent), all four required.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewReview)]
pub struct ReviewRequest {
    /// The answer addresses what the citizen reported: 1–5.
    #[schema(required = true, minimum = 1, maximum = 5)]
    pub relevant: Option<i32>,
    /// It covers every point and says what was done: 1–5.
    #[schema(required = true, minimum = 1, maximum = 5)]
    pub complete: Option<i32>,
    /// It follows the law and the agency's regulations: 1–5.
    #[schema(required = true, minimum = 1, maximum = 5)]
    pub lawful: Option<i32>,
    /// It is courteous and in plain language: 1–5.
    #[schema(required = true, minimum = 1, maximum = 5)]
    pub respectful: Option<i32>,
    /// The supervisor's remarks, up to 2000 characters.
    #[schema(max_length = 2000)]
    pub comment: Option<String>,
}

impl Rubric {
    /// Every criterion is required, 1–5; every bad one is named at once.
    pub fn from_request(request: &ReviewRequest) -> Result<Rubric, Vec<FieldIssue>> {
        let mut issues = Vec::new();
        let mut criterion = |field: &str, value: Option<i32>| match value {
            Some(v) if (1..=5).contains(&v) => v,
            _ => {
                issues.push(FieldIssue::new(field, "is required: a whole number from 1 (poor) to 5 (excellent)"));
                0
            }
        };
        let rubric = Rubric {
            relevant: criterion("relevant", request.relevant),
            complete: criterion("complete", request.complete),
            lawful: criterion("lawful", request.lawful),
            respectful: criterion("respectful", request.respectful),
        };
        if issues.is_empty() { Ok(rubric) } else { Err(issues) }
    }

    /// The mean of the criteria.
    pub fn score(&self) -> f64 {
        f64::from(self.relevant + self.complete + self.lawful + self.respectful) / 4.0
    }

    /// Below the standard when the mean is under `threshold`, or any criterion is 1 (an
    /// unlawful or disrespectful answer is not averaged away).
    pub fn below_standard(&self, threshold: f64) -> bool {
        self.score() < threshold || [self.relevant, self.complete, self.lawful, self.respectful].contains(&1)
    }
}

/// The answer a rating or a reopening is about: the latest.
pub struct Answered {
    pub id: String,
    pub agency_id: String,
    pub responded_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = agency_responses)]
struct AnsweredRow {
    id: String,
    agency_id: String,
    responded_at: NaiveDateTime,
}

pub fn latest_response(conn: &mut DbConnection, message_id: &str) -> Result<Option<Answered>, DbError> {
    let row: Option<AnsweredRow> = agency_responses::table
        .filter(agency_responses::message_id.eq(message_id))
        .order((agency_responses::responded_at.desc(), agency_responses::id.desc()))
        .select(AnsweredRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(|row| Answered { id: row.id, agency_id: row.agency_id, responded_at: from_db_time(row.responded_at) }))
}

/// Inserts what may exist once per answer, in a savepoint: the loser of two sent at the same
/// moment is refused with `already` (the first stands), and the transaction survives.
fn once(
    conn: &mut DbConnection,
    already: &str,
    insert: impl FnOnce(&mut DbConnection) -> Result<usize, diesel::result::Error>,
) -> Result<(), LifecycleError> {
    match conn.transaction(insert).map_err(DbError::from) {
        Ok(_) => Ok(()),
        Err(error) if error.is_unique_violation() => Err(LifecycleError::NotAllowed(already.into())),
        Err(error) => Err(error.into()),
    }
}

/// The citizen rates the latest answer, once.
pub fn rate(
    conn: &mut DbConnection,
    code: &TrackingCode,
    rating: i32,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, LifecycleError> {
    let head = head(conn, code, &Viewer::All)?;
    let answered = latest_response(conn, &head.id)?
        .ok_or_else(|| LifecycleError::NotAllowed("the message has no answer to rate yet".into()))?;
    let at = to_db_time(now);
    once(conn, "this answer is rated already", |conn| {
        diesel::insert_into(response_ratings::table)
            .values((
                response_ratings::response_id.eq(&answered.id),
                response_ratings::message_id.eq(&head.id),
                response_ratings::rating.eq(rating),
                response_ratings::comment.eq(comment),
                response_ratings::rated_at.eq(at),
            ))
            .execute(conn)
    })?;
    let event = ResponseRated {
        message_id: head.id.clone(),
        tracking_code: head.tracking_code.clone(),
        agency_id: answered.agency_id.clone(),
        response_id: answered.id.clone(),
        rating,
        rated_at: from_db_time(at),
    };
    outbox::enqueue(conn, INTAKE, &event, now)?;
    let detail = json!({ "response_id": answered.id, "rating": rating });
    let (agency, citizen) = (Some(answered.agency_id.as_str()), Actor::citizen());
    timeline::append(conn, &head.id, from_db_time(at), Transition::Rated, agency, detail, Some(&citizen))?;
    Ok(answered.id)
}

/// What a supervisor's review decided.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ResponseReview)]
pub struct ReviewView {
    /// The answer reviewed.
    pub response_id: String,
    #[serde(flatten)]
    pub rubric: Rubric,
    /// The mean of the four criteria.
    pub score: f64,
    /// The score is under the standard, or a criterion is 1: a quality warning is registered.
    pub below_standard: bool,
    pub comment: Option<String>,
    pub reviewed_at: DateTime<Utc>,
}

/// A supervisor's scoring of one answer.
pub struct Review<'a> {
    pub response_id: &'a str,
    pub rubric: Rubric,
    pub comment: Option<&'a str>,
    /// The supervisor's key or sign-in id.
    pub reviewer: &'a str,
    /// The supervisor, for the timeline.
    pub actor: &'a Actor,
}

/// A supervisor scores one answer of the message, once; below `threshold` it announces a
/// quality warning.
pub fn review(
    conn: &mut DbConnection,
    code: &TrackingCode,
    review: &Review,
    threshold: f64,
    now: DateTime<Utc>,
) -> Result<ReviewView, LifecycleError> {
    let Review { response_id, rubric, comment, reviewer, actor } = *review;
    let head = head(conn, code, &Viewer::All)?;
    let answer: Option<AnsweredRow> = agency_responses::table
        .filter(agency_responses::id.eq(response_id))
        .filter(agency_responses::message_id.eq(&head.id))
        .select(AnsweredRow::as_select())
        .first(conn)
        .optional()?;
    let AnsweredRow { agency_id, responded_at, .. } = answer.ok_or(LifecycleError::NotFound)?;
    let at = to_db_time(now);
    let (score, below_standard) = (rubric.score(), rubric.below_standard(threshold));
    once(conn, "this answer is reviewed already", |conn| {
        diesel::insert_into(response_reviews::table)
            .values((
                response_reviews::response_id.eq(response_id),
                response_reviews::message_id.eq(&head.id),
                response_reviews::agency_id.eq(&agency_id),
                response_reviews::reviewer.eq(reviewer),
                response_reviews::relevant.eq(rubric.relevant),
                response_reviews::complete.eq(rubric.complete),
                response_reviews::lawful.eq(rubric.lawful),
                response_reviews::respectful.eq(rubric.respectful),
                response_reviews::score.eq(score),
                response_reviews::below_standard.eq(below_standard),
                response_reviews::comment.eq(comment),
                response_reviews::reviewed_at.eq(at),
            ))
            .execute(conn)
    })?;
    let event = ResponseReviewed {
        message_id: head.id.clone(),
        tracking_code: head.tracking_code.clone(),
        agency_id: agency_id.clone(),
        response_id: response_id.to_string(),
        responded_at: from_db_time(responded_at),
        score,
        below_standard,
        reviewed_at: from_db_time(at),
    };
    outbox::enqueue(conn, INTAKE, &event, now)?;
    let detail = json!({ "response_id": response_id, "score": score, "below_standard": below_standard });
    timeline::append(conn, &head.id, from_db_time(at), Transition::Reviewed, Some(&agency_id), detail, Some(actor))?;
    Ok(ReviewView {
        response_id: response_id.to_string(),
        rubric,
        score,
        below_standard,
        comment: comment.map(str::to_string),
        reviewed_at: from_db_time(at),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, day, 8, 0, 0).unwrap()
    }

    #[test]
    fn reopening_follows_the_window_deadline_timer_set() {
        assert!(may_reopen(Some(at(20)), at(1), 10, at(20)).is_ok());
        let refusal = may_reopen(Some(at(20)), at(1), 10, at(21)).unwrap_err();
        assert!(refusal.contains("ended at 2026-12-20"), "{refusal}");
    }

    #[test]
    fn before_the_window_is_known_calendar_days_are_certainly_inside_it() {
        assert!(may_reopen(None, at(1), 10, at(11)).is_ok());
        assert!(may_reopen(None, at(1), 10, at(12)).unwrap_err().contains("could not be confirmed"));
    }

    #[test]
    fn the_rubric_needs_every_criterion_from_one_to_five() {
        let issues = Rubric::from_request(&ReviewRequest { relevant: Some(6), lawful: Some(3), ..Default::default() })
            .unwrap_err();
        let fields: Vec<_> = issues.iter().map(|i| i.field.as_str()).collect();
        assert_eq!(fields, ["relevant", "complete", "respectful"]);
    }

    #[test]
    fn a_low_mean_or_any_failing_criterion_is_below_the_standard() {
        let rubric = |r, c, l, s| Rubric { relevant: r, complete: c, lawful: l, respectful: s };
        assert_eq!(rubric(3, 3, 3, 3).score(), 3.0);
        assert!(!rubric(3, 3, 3, 3).below_standard(3.0));
        assert!(rubric(3, 3, 3, 2).below_standard(3.0), "mean 2.75");
        assert!(rubric(5, 5, 5, 1).below_standard(3.0), "mean 4 but disrespectful");
        assert!(!rubric(4, 4, 4, 2).below_standard(3.0));
    }
}
