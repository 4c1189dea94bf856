//! Every transition of a message, in order, as the call centre, the agency and the citizen see
//! it. Written in the same transaction as the transition itself.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::schema::message_timeline;

nazer_shared::closed_set! {
    /// The transitions a timeline shows.
    pub enum Transition {
        Received = "received",
        Assigned = "assigned",
        Triage = "triage",
        Acknowledged = "acknowledged",
        Declined = "declined",
        Responded = "responded",
        Closed = "closed",
        Warning = "warning",
        Reopened = "reopened",
        Rated = "rated",
        Reviewed = "reviewed",
        /// Never stored: what an agency sees in place of the steps before the message became
        /// its own (another agency's tenure, the triage desk).
        ReceivedFromTriage = "received_from_triage",
    }
}

pub use nazer_shared::actor::{Actor, ActorKind};

impl Transition {
    /// The steps an agency takes itself: the only ones whose actor it sees.
    pub fn is_by_agency(self) -> bool {
        matches!(self, Transition::Acknowledged | Transition::Responded | Transition::Declined)
    }
}

/// The neutral step's title, in the style of the citizen's step titles.
pub const RECEIVED_FROM_TRIAGE_FA: &str = "از کارتابل تریاژ ۱۸۸۸ دریافت شد";

/// A transition of a message.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    /// `received`, `assigned`, `triage`, `acknowledged`, `declined`, `responded`, `closed`,
    /// `warning`, `reopened`, `rated` or `reviewed`; for an agency, `received_from_triage` in
    /// place of the steps before the message became its own.
    pub transition: Transition,
    /// The agency concerned, if any.
    pub agency_id: Option<String>,
    /// What the transition carried (a reason, an outcome, a warning level…), by transition.
    #[schema(value_type = Object)]
    pub detail: Value,
    /// Who made the change; null where unknown (steps recorded before actors were) or not
    /// shown to this caller.
    pub actor: Option<Actor>,
}

pub fn append(
    conn: &mut DbConnection,
    message_id: &str,
    at: DateTime<Utc>,
    transition: Transition,
    agency_id: Option<&str>,
    detail: Value,
    actor: Option<&Actor>,
) -> Result<(), DbError> {
    diesel::insert_into(message_timeline::table)
        .values((
            message_timeline::id.eq(Uuid::now_v7().to_string()),
            message_timeline::message_id.eq(message_id),
            message_timeline::happened_at.eq(to_db_time(at)),
            message_timeline::transition.eq(transition.as_str()),
            message_timeline::agency_id.eq(agency_id),
            message_timeline::detail.eq(detail.to_string()),
            message_timeline::actor_kind.eq(actor.map(|a| a.kind.as_str())),
            message_timeline::actor_id.eq(actor.and_then(|a| a.id.as_deref())),
            message_timeline::actor_name.eq(actor.and_then(|a| a.name.as_deref())),
        ))
        .execute(conn)?;
    Ok(())
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = message_timeline)]
struct EntryRow {
    happened_at: NaiveDateTime,
    transition: String,
    agency_id: Option<String>,
    detail: String,
    actor_kind: Option<String>,
    actor_id: Option<String>,
    actor_name: Option<String>,
}

pub fn of_message(conn: &mut DbConnection, message_id: &str) -> Result<Vec<TimelineEntry>, DbError> {
    let rows: Vec<EntryRow> = message_timeline::table
        .filter(message_timeline::message_id.eq(message_id))
        .order((message_timeline::happened_at, message_timeline::id))
        .select(EntryRow::as_select())
        .load(conn)?;
    rows.into_iter()
        .map(|row| {
            let transition = Transition::parse(&row.transition).ok_or_else(|| {
                DbError::Refused(format!("unknown timeline transition `{}` in the database", row.transition))
            })?;
            let actor = match row.actor_kind.as_deref() {
                None => None,
                Some(text) => Some(Actor {
                    kind: ActorKind::parse(text).ok_or_else(|| {
                        DbError::Refused(format!("unknown timeline actor kind `{text}` in the database"))
                    })?,
                    id: row.actor_id,
                    name: row.actor_name,
                }),
            };
            Ok(TimelineEntry {
                at: from_db_time(row.happened_at),
                transition,
                agency_id: row.agency_id,
                detail: serde_json::from_str(&row.detail).unwrap_or(Value::Null),
                actor,
            })
        })
        .collect()
}

/// What an agency sees of a message's timeline, `entries` oldest first: the message's arrival,
/// and the steps taken while it was with one of `agencies` (from its assignment to its decline),
/// with the actor of its own steps only (acknowledging, answering, declining).
/// Every run of other steps before such a tenure (another agency's clocks, warnings and decline
/// reason, the triage desk's deliberations) becomes one neutral `received_from_triage` step;
/// steps after the last tenure are left out.
pub fn as_seen_by(entries: Vec<TimelineEntry>, agencies: &[String]) -> Vec<TimelineEntry> {
    let ours = |agency: Option<&String>| agency.is_some_and(|a| agencies.contains(a));
    let mut holder: Option<String> = None;
    let mut skipped = false;
    let mut seen = Vec::with_capacity(entries.len());
    for entry in entries {
        // Who held the message when the step happened.
        let owner = match entry.transition {
            Transition::Received | Transition::ReceivedFromTriage => None,
            Transition::Assigned => {
                holder = entry.agency_id.clone();
                holder.clone()
            }
            Transition::Declined => holder.take().or_else(|| entry.agency_id.clone()),
            Transition::Triage => {
                holder = None;
                None
            }
            _ => holder.clone(),
        };
        let visible = entry.transition == Transition::Received
            || (ours(owner.as_ref()) && (entry.agency_id.is_none() || ours(entry.agency_id.as_ref())));
        if !visible {
            skipped = true;
            continue;
        }
        let mut entry = entry;
        if !entry.transition.is_by_agency() {
            // Who at 1888 (or which service) did it is staff's to know, not the agency's.
            entry.actor = None;
        }
        // Only a hand-over ends a run of hidden steps; one hidden inside a tenure leaves no trace.
        if std::mem::take(&mut skipped) && entry.transition == Transition::Assigned {
            seen.push(TimelineEntry {
                at: entry.at,
                transition: Transition::ReceivedFromTriage,
                agency_id: None,
                detail: serde_json::json!({ "title_fa": RECEIVED_FROM_TRIAGE_FA }),
                actor: None,
            });
        }
        seen.push(entry);
    }
    seen
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn step(minute: u32, transition: Transition, agency: Option<&str>) -> TimelineEntry {
        TimelineEntry {
            at: Utc.with_ymd_and_hms(2026, 12, 7, 8, minute, 0).unwrap(),
            transition,
            agency_id: agency.map(str::to_string),
            detail: json!({}),
            actor: None,
        }
    }

    fn shown(entries: &[TimelineEntry]) -> Vec<(Transition, Option<&str>)> {
        entries.iter().map(|e| (e.transition, e.agency_id.as_deref())).collect()
    }

    #[test]
    fn an_agency_sees_its_own_tenures_and_a_neutral_step_for_what_came_before() {
        use Transition::*;
        let entries = vec![
            step(0, Received, None),
            step(1, Triage, None),
            step(2, Assigned, Some("a")),
            step(3, Warning, Some("a")),
            step(4, Declined, Some("a")),
            step(5, Assigned, Some("b")),
            step(6, Acknowledged, Some("b")),
            step(7, Declined, Some("b")),
            step(8, Assigned, Some("a")),
            step(9, Responded, Some("a")),
            step(10, Closed, None),
        ];
        let b = as_seen_by(entries.clone(), &["b".to_string()]);
        assert_eq!(
            shown(&b),
            [
                (Received, None),
                (ReceivedFromTriage, None),
                (Assigned, Some("b")),
                (Acknowledged, Some("b")),
                (Declined, Some("b"))
            ]
        );
        assert_eq!(b[1].at, entries[5].at, "the neutral step is the hand-over");
        assert_eq!(b[1].detail["title_fa"], RECEIVED_FROM_TRIAGE_FA);
        let a = as_seen_by(entries.clone(), &["a".to_string()]);
        assert_eq!(
            shown(&a),
            [
                (Received, None),
                (ReceivedFromTriage, None),
                (Assigned, Some("a")),
                (Warning, Some("a")),
                (Declined, Some("a")),
                (ReceivedFromTriage, None),
                (Assigned, Some("a")),
                (Responded, Some("a")),
                (Closed, None)
            ]
        );
    }

    #[test]
    fn a_message_only_ever_with_one_agency_shows_it_everything() {
        use Transition::*;
        let entries = vec![
            step(0, Received, None),
            step(1, Assigned, Some("a")),
            step(2, Warning, Some("a")),
            step(3, Closed, None),
        ];
        assert_eq!(as_seen_by(entries.clone(), &["a".to_string()]), entries);
    }

    #[test]
    fn another_agencys_step_inside_a_tenure_stays_hidden() {
        use Transition::*;
        // A warning of the previous agency delivered late lands in the next one's tenure.
        let entries = vec![
            step(0, Received, None),
            step(1, Assigned, Some("a")),
            step(2, Declined, Some("a")),
            step(3, Assigned, Some("b")),
            step(4, Warning, Some("a")),
            step(5, Acknowledged, Some("b")),
        ];
        let b = as_seen_by(entries, &["b".to_string()]);
        let expected = [(Received, None), (ReceivedFromTriage, None), (Assigned, Some("b")), (Acknowledged, Some("b"))];
        assert_eq!(shown(&b), expected);
    }
}
