//! Applying checked reference data in the caller's transaction, kind after kind so that each
//! may name what the ones before it loaded: categories, areas, agencies, routing rules,
//! calendars, SLA policies, counterpart units, violation types. Each record is upserted by its
//! code through its service's store and reported as created, updated (with the fields that
//! changed) or unchanged — areas as counts only; the first kind refused stops the rest, and the
//! caller rolls everything back.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use nazer_deadline_timer::calendar::change::{CalendarEdit, ChangeError, change_calendar};
use nazer_deadline_timer::calendar::store as calendar_store;
use nazer_deadline_timer::policy::store::{self as policy_store, PolicyError};
use nazer_intake::areas::{Area, store as area_store};
use nazer_routing::store::{self as routing_store, AgencyError, NewRule, RuleError};
use nazer_shared::db::{DbConnection, DbError};
use nazer_shared::http::FieldIssue;
use nazer_violation_referral::types::store as type_store;
use nazer_violation_referral::units;

use super::source::{AreaRecords, Issue, Located, Records, ReferenceData};

/// Why nothing was written.
#[derive(Debug)]
pub enum Failure {
    Db(DbError),
    Refused(Vec<Issue>),
}

impl From<DbError> for Failure {
    fn from(error: DbError) -> Self {
        Self::Db(error)
    }
}

/// What one file changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub file: String,
    /// What its records are, in the plural: `agencies`.
    pub noun: &'static str,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// `+ code` for each created record, `~ code: fields` for each updated one (none for areas,
    /// which are counted only).
    pub changes: Vec<String>,
}

impl FileReport {
    fn new(file: &str, noun: &'static str) -> Self {
        Self { file: file.into(), noun, created: 0, updated: 0, unchanged: 0, changes: Vec::new() }
    }

    /// How many records the file holds.
    pub fn count(&self) -> usize {
        self.created + self.updated + self.unchanged
    }

    /// Counts a record against the stored one: created when nothing is stored (`fields` None),
    /// else updated by the fields that differ, or unchanged. True when it must be written.
    fn counted(&mut self, key: &str, fields: Option<&[(&str, bool)]>) -> bool {
        let Some(fields) = fields else {
            self.created += 1;
            self.changes.push(format!("+ {key}"));
            return true;
        };
        let changed: Vec<&str> = fields.iter().filter(|(_, differs)| *differs).map(|(name, _)| *name).collect();
        if changed.is_empty() {
            self.unchanged += 1;
            return false;
        }
        self.updated += 1;
        self.changes.push(format!("~ {key}: {}", changed.join(", ")));
        true
    }
}

/// Applies every kind `data` holds; what each file changed.
pub fn apply(conn: &mut DbConnection, data: &ReferenceData, now: DateTime<Utc>) -> Result<Vec<FileReport>, Failure> {
    let mut reports = Vec::new();
    if let Some(records) = &data.categories {
        reports.push(categories(conn, records)?);
    }
    if let Some(records) = &data.areas {
        reports.push(areas(conn, records, now)?);
    }
    if let Some(records) = &data.agencies {
        reports.push(agencies(conn, records, now)?);
    }
    if let Some(records) = &data.routing_rules {
        reports.push(routing_rules(conn, records, now)?);
    }
    if let Some(records) = &data.calendars {
        reports.push(calendars(conn, records, now)?);
    }
    if let Some(records) = &data.sla_policies {
        reports.push(sla_policies(conn, records, now)?);
    }
    if let Some(records) = &data.counterpart_units {
        reports.push(counterpart_units(conn, records, now)?);
    }
    if let Some(records) = &data.violation_types {
        reports.push(violation_types(conn, records, now)?);
    }
    Ok(reports)
}

/// Refuses a file listing a key twice: the later record would silently win.
fn listed_once<T>(records: &Records<T>, field: &str, key: impl Fn(&T) -> String) -> Result<(), Failure> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut issues = Vec::new();
    for record in &records.records {
        let key = key(&record.item);
        if let Some(first) = seen.get(&key) {
            let problem = format!("`{key}` is listed twice (first on line {first}); keep one");
            issues.push(Issue::new(&records.file, Some(record.line), format!("{}{field}", record.prefix), problem));
        } else {
            seen.insert(key, record.line);
        }
    }
    if issues.is_empty() { Ok(()) } else { Err(Failure::Refused(issues)) }
}

fn refused<T>(records: &Records<T>, record: &Located<T>, issues: Vec<FieldIssue>) -> Failure {
    Failure::Refused(record.issues(&records.file, issues))
}

fn categories(
    conn: &mut DbConnection,
    records: &Records<nazer_intake::submission::Category>,
) -> Result<FileReport, Failure> {
    listed_once(records, "code", |c| c.code.clone())?;
    let mut report = FileReport::new(&records.file, "categories");
    let stored: HashMap<String, _> =
        nazer_intake::store::load_categories(conn)?.into_iter().map(|c| (c.code.clone(), c)).collect();
    for record in &records.records {
        let category = &record.item;
        let fields = stored.get(&category.code).map(|before| {
            [
                ("name_fa", before.name_fa != category.name_fa),
                ("name_en", before.name_en != category.name_en),
                ("kinds", before.kinds != category.kinds),
                ("active", before.active != category.active),
            ]
        });
        if report.counted(&category.code, fields.as_ref().map(|f| &f[..])) {
            nazer_intake::store::put_category(conn, category)?;
        }
    }
    Ok(report)
}

fn areas(conn: &mut DbConnection, records: &AreaRecords, now: DateTime<Utc>) -> Result<FileReport, Failure> {
    let summary =
        area_store::import(conn, &records.areas, now)?.map_err(|issues| Failure::Refused(records.issues(issues)))?;
    let known: Vec<_> = records.areas.iter().map(Area::summary).collect();
    super::record_elsewhere(conn, &known, now)?;
    let mut report = FileReport::new(&records.file, "areas");
    (report.created, report.updated, report.unchanged) = (summary.created, summary.updated, summary.unchanged);
    Ok(report)
}

fn agencies(
    conn: &mut DbConnection,
    records: &Records<nazer_routing::agency::AgencyDraft>,
    now: DateTime<Utc>,
) -> Result<FileReport, Failure> {
    listed_once(records, "id", |a| a.id.clone())?;
    let mut report = FileReport::new(&records.file, "agencies");
    for record in &records.records {
        let draft = &record.item;
        // Stored in code order; a draft lists each area once.
        let mut areas = draft.areas.clone();
        areas.sort();
        let fields = routing_store::find_agency(conn, &draft.id)?.map(|before| {
            [
                ("name", before.name != draft.name),
                ("parent_id", before.parent_id != draft.parent_id),
                ("areas", before.areas != areas),
            ]
        });
        if !report.counted(&draft.id, fields.as_ref().map(|f| &f[..])) {
            continue;
        }
        match routing_store::put_agency(conn, draft, now) {
            Ok(_) => {}
            Err(AgencyError::Db(error)) => return Err(error.into()),
            Err(AgencyError::Invalid(issues)) => return Err(refused(records, record, issues)),
            Err(other) => return Err(refused(records, record, vec![FieldIssue::new("id", other.to_string())])),
        }
    }
    Ok(report)
}

fn routing_rules(
    conn: &mut DbConnection,
    records: &Records<super::source::RuleEntry>,
    now: DateTime<Utc>,
) -> Result<FileReport, Failure> {
    listed_once(records, "area", |r| format!("{} in {}", r.category, r.area))?;
    let mut report = FileReport::new(&records.file, "routing rules");
    for record in &records.records {
        let entry = &record.item;
        let rule = NewRule {
            category: &entry.category,
            area: &entry.area,
            province: None,
            city: nazer_routing::ANY,
            agency_id: &entry.agency_id,
        };
        let before = match routing_store::put_rule(conn, &rule, now) {
            Ok((_, before)) => before,
            Err(RuleError::Db(error)) => return Err(error.into()),
            Err(RuleError::Invalid(issues)) => return Err(refused(records, record, issues)),
            Err(other) => return Err(refused(records, record, vec![FieldIssue::new("area", other.to_string())])),
        };
        let fields = before.map(|before| [("agency_id", before.agency_id != entry.agency_id)]);
        report.counted(&format!("{} in {}", entry.category, entry.area), fields.as_ref().map(|f| &f[..]));
    }
    Ok(report)
}

fn calendars(
    conn: &mut DbConnection,
    records: &Records<nazer_deadline_timer::calendar::Calendar>,
    now: DateTime<Utc>,
) -> Result<FileReport, Failure> {
    listed_once(records, "id", |c| c.id.clone())?;
    let mut report = FileReport::new(&records.file, "calendars");
    for record in &records.records {
        let document = record.item.document().clone();
        let before = calendar_store::find_calendar(conn, &document.id)?.map(|c| c.document().clone());
        if before.as_ref() == Some(&document) {
            report.unchanged += 1;
            continue;
        }
        let id = document.id.clone();
        let changed = match change_calendar(conn, &id, CalendarEdit::Replace(document), now) {
            Ok(changed) => changed,
            Err(ChangeError::Db(error)) => return Err(error.into()),
            Err(ChangeError::Invalid(issues)) => return Err(refused(records, record, issues)),
            Err(other) => return Err(refused(records, record, vec![FieldIssue::new("id", other.to_string())])),
        };
        // Compared as stored: placing a closure in the tree may add to what the file said.
        let after = changed.calendar.document();
        let fields = before.map(|before| {
            [
                ("timezone", before.timezone != after.timezone),
                ("weekly_days_off", before.weekly_days_off != after.weekly_days_off),
                ("working_hours", before.working_hours != after.working_hours),
                ("holidays", before.holidays != after.holidays),
                ("closures", before.closures != after.closures),
            ]
        });
        let key = format!("{id} ({} pending deadlines moved)", changed.deadlines_moved);
        report.counted(if fields.is_some() { &key } else { &id }, fields.as_ref().map(|f| &f[..]));
    }
    Ok(report)
}

fn sla_policies(
    conn: &mut DbConnection,
    records: &Records<nazer_deadline_timer::policy::SlaPolicy>,
    now: DateTime<Utc>,
) -> Result<FileReport, Failure> {
    listed_once(records, "id", |p| p.id().to_string())?;
    let mut report = FileReport::new(&records.file, "SLA policies");
    let stored: HashMap<String, _> =
        policy_store::list_policies(conn)?.into_iter().map(|p| (p.id().to_string(), p)).collect();
    for record in &records.records {
        let policy = &record.item;
        let document = policy.document();
        let fields = stored.get(policy.id()).map(|before| {
            let before = before.document();
            [
                ("category", before.category != document.category),
                ("priority", before.priority != document.priority),
                ("channel", before.channel != document.channel),
                ("calendar", before.calendar != document.calendar),
                ("stages", before.stages != document.stages),
            ]
        });
        if !report.counted(policy.id(), fields.as_ref().map(|f| &f[..])) {
            continue;
        }
        match policy_store::put_policy(conn, policy, now) {
            Ok(_) => {}
            Err(PolicyError::Db(error)) => return Err(error.into()),
            Err(PolicyError::UnknownCalendar(calendar)) => {
                let problem =
                    format!("calendar `{calendar}` is not stored: list it in calendars.json, or import it first");
                return Err(refused(records, record, vec![FieldIssue::new("calendar", problem)]));
            }
            Err(error @ PolicyError::Overlaps(_)) => {
                return Err(refused(records, record, vec![FieldIssue::new("category", error.to_string())]));
            }
        }
    }
    Ok(report)
}

fn counterpart_units(
    conn: &mut DbConnection,
    records: &Records<units::CounterpartUnit>,
    now: DateTime<Utc>,
) -> Result<FileReport, Failure> {
    listed_once(records, "id", |u| u.id.clone())?;
    let mut report = FileReport::new(&records.file, "counterpart units");
    let stored: HashMap<String, _> = units::list_units(conn)?.into_iter().map(|u| (u.id.clone(), u)).collect();
    for record in &records.records {
        let unit = &record.item;
        let fields = stored
            .get(&unit.id)
            .map(|before| [("name_fa", before.name_fa != unit.name_fa), ("name_en", before.name_en != unit.name_en)]);
        if report.counted(&unit.id, fields.as_ref().map(|f| &f[..])) {
            units::put_unit(conn, unit, now)?;
        }
    }
    Ok(report)
}

fn violation_types(
    conn: &mut DbConnection,
    records: &Records<nazer_violation_referral::types::ViolationType>,
    now: DateTime<Utc>,
) -> Result<FileReport, Failure> {
    listed_once(records, "code", |t| t.code().to_string())?;
    let mut report = FileReport::new(&records.file, "violation types");
    let stored: HashMap<String, _> =
        type_store::list_types(conn)?.into_iter().map(|t| (t.code().to_string(), t)).collect();
    for record in &records.records {
        let violation_type = &record.item;
        let document = violation_type.document();
        let fields = stored.get(violation_type.code()).map(|before| {
            let before = before.document();
            [
                ("name_fa", before.name_fa != document.name_fa),
                ("name_en", before.name_en != document.name_en),
                ("legal_bases", before.legal_bases != document.legal_bases),
                ("remedial_actions", before.remedial_actions != document.remedial_actions),
                ("counterpart_unit", before.counterpart_unit != document.counterpart_unit),
                ("budgets", before.budgets != document.budgets),
            ]
        });
        if !report.counted(violation_type.code(), fields.as_ref().map(|f| &f[..])) {
            continue;
        }
        match type_store::put_type(conn, violation_type, now) {
            Ok(_) => {}
            Err(type_store::TypeError::Db(error)) => return Err(error.into()),
            Err(type_store::TypeError::Invalid(issues)) => return Err(refused(records, record, issues)),
        }
    }
    Ok(report)
}
