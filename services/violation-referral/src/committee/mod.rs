//! The compliance committee (کمیته تطبیق / کمیته بررسی و تطبیق): it holds sessions, and at a
//! session records one decision per case its counterpart unit referred to it. The decision moves
//! the case's culpability track (`decided`, or `closed_no_fault`); the outcome and closing are
//! the track's own steps.

pub mod agenda;
pub mod api;
pub mod store;

use chrono::{DateTime, Utc};
use nazer_shared::http::FieldIssue;
use nazer_shared::iran::{JalaliDate, parse_either_date};
use serde::{Deserialize, Serialize};

use crate::tracks::culpability::Decision;
use crate::tracks::steps::{optional_text, required_text};

/// The most members one session may list.
pub const MAX_MEMBERS: usize = 30;

/// A member present at a session: an official of the inspection organization, named in that
/// capacity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ComplianceCommitteeMember)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// Up to 200 characters.
    #[schema(max_length = 200)]
    pub name: String,
    /// The member's post or role on the committee, up to 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub position: Option<String>,
}

/// A session as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ComplianceCommitteeSession)]
pub struct SessionView {
    pub id: String,
    /// The day it was held, Solar Hijri (`1405/09/17`).
    pub held_on: String,
    pub members: Vec<Member>,
    pub note: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The decisions recorded at it, in the order they were made (empty in lists).
    pub decisions: Vec<DecisionView>,
}

/// A decision of the committee on one case.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[schema(as = ComplianceCommitteeDecision)]
pub struct DecisionView {
    pub case_id: String,
    pub session_id: String,
    /// `violations_board`, `prosecutor`, `agency_disciplinary`, `procedure_correction` or
    /// `no_fault`.
    #[schema(value_type = Decision)]
    pub decision: Decision,
    pub decided_at: DateTime<Utc>,
}

/// A session's day from `text` (Solar Hijri or Gregorian), as Solar Hijri.
pub fn held_on(text: Option<&str>, issues: &mut Vec<FieldIssue>) -> String {
    match text.map(str::trim).and_then(parse_either_date) {
        Some(day) => JalaliDate::from_gregorian(day).to_string(),
        None => {
            let problem = "is required: the day held, Solar Hijri (1405-09-17) or Gregorian (2026-12-08)";
            issues.push(FieldIssue::new("held_on", problem));
            String::new()
        }
    }
}

/// The members listed, checked: at least one, each named.
pub fn members(listed: Vec<MemberBody>, issues: &mut Vec<FieldIssue>) -> Vec<Member> {
    if listed.is_empty() || listed.len() > MAX_MEMBERS {
        issues.push(FieldIssue::new("members", format!("list the members present: 1 to {MAX_MEMBERS}")));
    }
    let mut members = Vec::new();
    for (i, member) in listed.into_iter().enumerate() {
        let name = required_text(issues, &format!("members[{i}].name"), member.name, 200);
        let position = optional_text(issues, &format!("members[{i}].position"), member.position, 200);
        members.push(Member { name, position });
    }
    members
}

/// A member as a request lists them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = ComplianceCommitteeMemberBody)]
#[serde(deny_unknown_fields)]
pub struct MemberBody {
    /// Required, up to 200 characters.
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// The member's post or role on the committee, up to 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub position: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_held_on_a_day_written_either_way() {
        let mut issues = Vec::new();
        assert_eq!(held_on(Some("1405-09-17"), &mut issues), "1405/09/17");
        assert_eq!(held_on(Some(" 2026-12-08 "), &mut issues), "1405/09/17");
        assert!(issues.is_empty());
        held_on(Some("yesterday"), &mut issues);
        held_on(None, &mut issues);
        assert_eq!(issues.len(), 2);
    }

    #[test]
    fn members_are_listed_and_named() {
        let mut issues = Vec::new();
        members(Vec::new(), &mut issues);
        assert_eq!(issues.len(), 1);
        let mut issues = Vec::new();
        let listed = vec![
            MemberBody { name: Some(" دبیر کمیته ".into()), position: None },
            MemberBody { name: None, position: Some("عضو".into()) },
        ];
        let checked = members(listed, &mut issues);
        assert_eq!(checked[0].name, "دبیر کمیته");
        assert_eq!(issues.iter().map(|i| i.field.as_str()).collect::<Vec<_>>(), ["members[1].name"]);
    }
}
