//! Routing's reads and writes; an assignment commits with its event.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, from_db_time, to_db_time};
use nazer_shared::events::{AreaSummary, MessageAssigned, MessageDeclined, MessageNeedsTriage, MessageReceived};
use nazer_shared::http::paging::{self, Cursor};
use nazer_shared::http::{ApiError, FieldIssue};
use nazer_shared::outbox;
use nazer_shared::topology::ROUTING;
use serde::Serialize;
use uuid::Uuid;

use crate::agency::AgencyDraft;
use crate::rules::{self, Rule};
use crate::schema::{agencies, agency_areas, assignments, declines, routing_areas, routing_rules};

nazer_shared::closed_set! {
    /// Where routing left a message: with an agency, or waiting in 1888 triage.
    pub enum AssignmentState { Assigned = "assigned", Triage = "triage" }
}

impl AssignmentState {
    fn of(assigned: bool) -> Self {
        if assigned { Self::Assigned } else { Self::Triage }
    }

    /// The state `text` stores; an unknown one is a broken row, not a panic.
    fn stored(text: &str) -> Result<Self, DbError> {
        Self::parse(text).ok_or_else(|| DbError::Refused(format!("unknown assignment state `{text}` stored")))
    }
}

/// The rule id recorded when a supervisor assigns by hand from triage.
pub const MANUAL_RULE: &str = "manual";

/// Field issues said as one line, for logs and the seeding.
fn described(issues: &[FieldIssue]) -> String {
    issues.iter().map(|i| format!("{}: {}", i.field, i.problem)).collect::<Vec<_>>().join("; ")
}

// ---------------------------------------------------------------------------------------------
// Areas: the provinces, and what intake's imports announce

/// An area as routing keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = routing_areas, primary_key(code), treat_none_as_null = true)]
struct AreaRow {
    code: String,
    parent_code: Option<String>,
    level: String,
    name_fa: String,
    name_en: String,
    updated_at: NaiveDateTime,
}

impl AreaRow {
    fn of(area: &AreaSummary, at: NaiveDateTime) -> Self {
        Self {
            code: area.code.clone(),
            parent_code: area.parent.clone(),
            level: area.level.clone(),
            name_fa: area.name_fa.clone(),
            name_en: area.name_en.clone(),
            updated_at: at,
        }
    }

    fn same_area(&self, other: &Self) -> bool {
        (&self.parent_code, &self.level, &self.name_fa, &self.name_en)
            == (&other.parent_code, &other.level, &other.name_fa, &other.name_en)
    }
}

/// How many codes one `IN (…)` names, well under either backend's bind limit.
const CODES_PER_QUERY: usize = 500;

/// Records areas that intake imported at `imported_at` (`areas.imported`), or the demo's: new
/// ones are added, changed ones take their new parent, level and names — unless a later import
/// was recorded already (events may arrive out of order). Applying the same areas again changes
/// nothing, not even `updated_at`.
pub fn record_areas(conn: &mut DbConnection, areas: &[AreaSummary], imported_at: DateTime<Utc>) -> Result<(), DbError> {
    // Two imports handled at once must not both insert the same new area.
    nazer_shared::db::lock_key(conn, "routing-areas")?;
    let at = to_db_time(imported_at);
    for chunk in areas.chunks(CODES_PER_QUERY) {
        let codes: Vec<&str> = chunk.iter().map(|a| a.code.as_str()).collect();
        let stored: Vec<AreaRow> =
            routing_areas::table.filter(routing_areas::code.eq_any(&codes)).select(AreaRow::as_select()).load(conn)?;
        let stored: BTreeMap<String, AreaRow> = stored.into_iter().map(|row| (row.code.clone(), row)).collect();
        for area in chunk {
            let row = AreaRow::of(area, at);
            match stored.get(&area.code) {
                None => {
                    diesel::insert_into(routing_areas::table).values(&row).execute(conn)?;
                }
                Some(known) if known.same_area(&row) || known.updated_at > at => {}
                Some(_) => {
                    diesel::update(routing_areas::table.find(&row.code)).set(&row).execute(conn)?;
                }
            }
        }
    }
    Ok(())
}

/// How deep an area tree may be; the bound only guards against a hand-edited table.
const MAX_AREA_DEPTH: usize = 16;

/// The area `code` and its ancestors, province first, `code` last (as a message's `area_path`
/// reads); None when routing does not know the area or cannot follow it up to a province (a
/// parent not known here yet, a loop in a hand-edited table).
pub fn area_path(conn: &mut DbConnection, code: &str) -> Result<Option<Vec<String>>, DbError> {
    let mut path: Vec<String> = Vec::new();
    let mut next = Some(code.to_string());
    while let Some(at) = next.take() {
        if path.len() >= MAX_AREA_DEPTH || path.contains(&at) {
            return Ok(None);
        }
        let parent: Option<Option<String>> =
            routing_areas::table.find(&at).select(routing_areas::parent_code).first(conn).optional()?;
        let Some(parent) = parent else { return Ok(None) };
        path.push(at);
        next = parent;
    }
    path.reverse();
    Ok(Some(path))
}

/// What an unknown area code is told.
pub fn unknown_area(code: &str) -> String {
    format!(
        "no area has the code `{code}`; `GET /api/v1/areas` lists the area codes (an area imported a moment ago \
         reaches routing within seconds)"
    )
}

/// The issues of `codes` (the list `field`) that name no known area, as `field[i]`.
fn unknown_areas(conn: &mut DbConnection, field: &str, codes: &[String]) -> Result<Vec<FieldIssue>, DbError> {
    let mut known: BTreeSet<String> = BTreeSet::new();
    for chunk in codes.chunks(CODES_PER_QUERY) {
        let found: Vec<String> =
            routing_areas::table.filter(routing_areas::code.eq_any(chunk)).select(routing_areas::code).load(conn)?;
        known.extend(found);
    }
    Ok(codes
        .iter()
        .enumerate()
        .filter(|(_, code)| !known.contains(*code))
        .map(|(i, code)| FieldIssue::new(format!("{field}[{i}]"), unknown_area(code)))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Agencies

/// An agency that receives messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Agency {
    pub id: String,
    pub name: String,
    /// The agency it belongs to; null for a top-level agency.
    #[schema(required = true)]
    pub parent_id: Option<String>,
    /// The codes of the areas it declares it serves, in code order; empty when it declared none.
    pub areas: Vec<String>,
    pub created_at: DateTime<Utc>,
}

/// An agency as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = agencies)]
struct AgencyRow {
    id: String,
    name: String,
    parent_id: Option<String>,
    created_at: NaiveDateTime,
}

/// An area an agency serves, as stored.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = agency_areas)]
struct AgencyAreaRow {
    agency_id: String,
    area_code: String,
}

impl AgencyRow {
    fn with_areas(self, areas: Vec<String>) -> Agency {
        Agency {
            id: self.id,
            name: self.name,
            parent_id: self.parent_id,
            areas,
            created_at: from_db_time(self.created_at),
        }
    }
}

/// The areas each of `agency_ids` serves, in code order.
fn areas_of(conn: &mut DbConnection, agency_ids: &[String]) -> Result<BTreeMap<String, Vec<String>>, DbError> {
    let rows: Vec<AgencyAreaRow> = agency_areas::table
        .filter(agency_areas::agency_id.eq_any(agency_ids))
        .order((agency_areas::agency_id, agency_areas::area_code))
        .select(AgencyAreaRow::as_select())
        .load(conn)?;
    let mut areas: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        areas.entry(row.agency_id).or_default().push(row.area_code);
    }
    Ok(areas)
}

/// `rows` as agencies, each with the areas it serves.
fn agencies_with_areas(conn: &mut DbConnection, rows: Vec<AgencyRow>) -> Result<Vec<Agency>, DbError> {
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let mut areas = areas_of(conn, &ids)?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let served = areas.remove(&row.id).unwrap_or_default();
            row.with_areas(served)
        })
        .collect())
}

/// A page of the agency list: optionally only the children of `parent_id`, or only those
/// serving `area` or one of its ancestors, ordered by id, starting just after the id `after`.
#[derive(Debug, Clone, Default)]
pub struct AgencyFilter {
    pub parent_id: Option<String>,
    /// An area code: the agencies that serve it, or an area it lies in.
    pub area: Option<String>,
    pub descending: bool,
    pub after: Option<String>,
    pub limit: i64,
}

/// One page of agencies ordered by id (unique, chosen by people), and the next page's cursor:
/// the last id of this one.
pub fn list_agencies(conn: &mut DbConnection, filter: &AgencyFilter) -> Result<(Vec<Agency>, Option<String>), DbError> {
    let mut query = agencies::table.select(AgencyRow::as_select()).into_boxed();
    if let Some(parent) = &filter.parent_id {
        query = query.filter(agencies::parent_id.eq(parent.clone()));
    }
    if let Some(area) = &filter.area {
        let lineage = area_path(conn, area)?.unwrap_or_else(|| vec![area.clone()]);
        let serving =
            agency_areas::table.filter(agency_areas::area_code.eq_any(lineage)).select(agency_areas::agency_id);
        query = query.filter(agencies::id.eq_any(serving));
    }
    query = match (&filter.after, filter.descending) {
        (Some(after), true) => query.filter(agencies::id.lt(after.clone())),
        (Some(after), false) => query.filter(agencies::id.gt(after.clone())),
        (None, _) => query,
    };
    query = if filter.descending { query.order(agencies::id.desc()) } else { query.order(agencies::id.asc()) };
    let mut rows: Vec<AgencyRow> = query.limit(filter.limit + 1).load(conn)?;
    let limit = usize::try_from(filter.limit).unwrap_or(0);
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|a| a.id.clone())
    } else {
        None
    };
    Ok((agencies_with_areas(conn, rows)?, next))
}

pub fn find_agency(conn: &mut DbConnection, id: &str) -> Result<Option<Agency>, DbError> {
    let row: Option<AgencyRow> = agencies::table.find(id).select(AgencyRow::as_select()).first(conn).optional()?;
    let Some(row) = row else { return Ok(None) };
    Ok(agencies_with_areas(conn, vec![row])?.pop())
}

/// An agency's ancestors, parent first. The tree cannot hold a cycle (parents exist before
/// their children); the bound only guards against a hand-edited table.
pub fn ancestors_of(conn: &mut DbConnection, agency: &Agency) -> Result<Vec<String>, DbError> {
    let mut chain: Vec<String> = Vec::new();
    let mut next = agency.parent_id.clone();
    while let Some(id) = next.filter(|id| chain.len() < 32 && !chain.contains(id) && *id != agency.id) {
        next =
            agencies::table.find(&id).select(agencies::parent_id).first::<Option<String>>(conn).optional()?.flatten();
        chain.push(id);
    }
    Ok(chain)
}

#[derive(Debug, thiserror::Error)]
pub enum AgencyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("an agency with id `{0}` already exists")]
    Exists(String),
    #[error("no agency has this id")]
    NotFound,
    /// Fields naming what does not exist (the parent, an area), each with how to fix it.
    #[error("{}", described(.0))]
    Invalid(Vec<FieldIssue>),
}

nazer_shared::from_diesel_error!(AgencyError);

impl From<AgencyError> for ApiError {
    fn from(error: AgencyError) -> Self {
        match error {
            AgencyError::Exists(_) => ApiError::Conflict(error.to_string()),
            AgencyError::NotFound => ApiError::NotFound(error.to_string()),
            AgencyError::Invalid(issues) => ApiError::invalid(issues),
            AgencyError::Db(error) => error.into(),
        }
    }
}

/// Adds an agency under an existing parent (so the tree can never hold a cycle), serving
/// `areas` (known area codes, each once).
pub fn create_agency(
    conn: &mut DbConnection,
    id: &str,
    name: &str,
    parent_id: Option<&str>,
    areas: &[String],
    now: DateTime<Utc>,
) -> Result<Agency, AgencyError> {
    if agency_exists(conn, id)? {
        return Err(AgencyError::Exists(id.into()));
    }
    insert_agency(conn, id, name, parent_id, areas, now)
}

fn agency_exists(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    Ok(agencies::table.find(id).count().get_result::<i64>(conn)? > 0)
}

/// Inserts an agency that does not exist yet, once its parent and areas are checked.
fn insert_agency(
    conn: &mut DbConnection,
    id: &str,
    name: &str,
    parent_id: Option<&str>,
    areas: &[String],
    now: DateTime<Utc>,
) -> Result<Agency, AgencyError> {
    check_references(conn, id, parent_id, areas)?;
    let at = to_db_time(now);
    diesel::insert_into(agencies::table)
        .values((
            agencies::id.eq(id),
            agencies::name.eq(name),
            agencies::parent_id.eq(parent_id),
            agencies::created_at.eq(at),
        ))
        .execute(conn)?;
    let areas = insert_agency_areas(conn, id, areas)?;
    Ok(Agency {
        id: id.into(),
        name: name.into(),
        parent_id: parent_id.map(str::to_string),
        areas,
        created_at: from_db_time(at),
    })
}

/// Refuses, naming each field, a parent that does not exist or lies under agency `id` (so the
/// tree stays free of cycles) and areas routing does not know.
fn check_references(
    conn: &mut DbConnection,
    id: &str,
    parent_id: Option<&str>,
    areas: &[String],
) -> Result<(), AgencyError> {
    let mut issues = Vec::new();
    if let Some(parent_id) = parent_id {
        match find_agency(conn, parent_id)? {
            None => issues.push(FieldIssue::new("parent_id", format!("parent agency `{parent_id}` does not exist"))),
            Some(parent) if parent_id == id || ancestors_of(conn, &parent)?.iter().any(|a| a == id) => {
                let problem = format!("`{parent_id}` lies under `{id}`: an agency cannot be its own ancestor");
                issues.push(FieldIssue::new("parent_id", problem));
            }
            Some(_) => {}
        }
    }
    issues.extend(unknown_areas(conn, "areas", areas)?);
    if issues.is_empty() { Ok(()) } else { Err(AgencyError::Invalid(issues)) }
}

/// Creates the agency of `draft` or replaces its name, parent and served areas (reference
/// data, and the admin's `PUT`): the agency now, and whether it was created.
pub fn put_agency(
    conn: &mut DbConnection,
    draft: &AgencyDraft,
    now: DateTime<Utc>,
) -> Result<(Agency, bool), AgencyError> {
    let AgencyDraft { id, name, parent_id, areas } = draft;
    let Some(before) = find_agency(conn, id)? else {
        return insert_agency(conn, id, name, parent_id.as_deref(), areas, now).map(|agency| (agency, true));
    };
    check_references(conn, id, parent_id.as_deref(), areas)?;
    diesel::update(agencies::table.find(id))
        .set((agencies::name.eq(name), agencies::parent_id.eq(parent_id)))
        .execute(conn)?;
    let areas = replace_agency_areas(conn, id, areas)?;
    Ok((Agency { name: name.clone(), parent_id: parent_id.clone(), areas, ..before }, false))
}

/// Stores that `agency_id` serves `areas` (each once); the areas, in code order.
fn insert_agency_areas(conn: &mut DbConnection, agency_id: &str, areas: &[String]) -> Result<Vec<String>, DbError> {
    let areas: Vec<String> = areas.iter().cloned().collect::<BTreeSet<_>>().into_iter().collect();
    let rows: Vec<AgencyAreaRow> =
        areas.iter().map(|code| AgencyAreaRow { agency_id: agency_id.into(), area_code: code.clone() }).collect();
    nazer_shared::insert_rows!(conn, agency_areas::table, rows)?;
    Ok(areas)
}

/// The areas `agency_id` serves, replaced by `areas`; the new ones, in code order.
fn replace_agency_areas(conn: &mut DbConnection, agency_id: &str, areas: &[String]) -> Result<Vec<String>, DbError> {
    diesel::delete(agency_areas::table.filter(agency_areas::agency_id.eq(agency_id))).execute(conn)?;
    insert_agency_areas(conn, agency_id, areas)
}

/// Replaces the areas an agency serves with `areas` (known area codes; none clears them).
pub fn set_agency_areas(conn: &mut DbConnection, agency_id: &str, areas: &[String]) -> Result<Agency, AgencyError> {
    let Some(agency) = find_agency(conn, agency_id)? else {
        return Err(AgencyError::NotFound);
    };
    let issues = unknown_areas(conn, "areas", areas)?;
    if !issues.is_empty() {
        return Err(AgencyError::Invalid(issues));
    }
    let areas = replace_agency_areas(conn, agency_id, areas)?;
    Ok(Agency { areas, ..agency })
}

// ---------------------------------------------------------------------------------------------
// Routing rules

/// A routing rule as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = routing_rules)]
struct RuleRow {
    id: String,
    category: String,
    area: String,
    province: String,
    city: String,
    agency_id: String,
    created_at: NaiveDateTime,
}

impl From<RuleRow> for Rule {
    fn from(row: RuleRow) -> Self {
        Self {
            id: row.id,
            category: row.category,
            area: row.area,
            province: row.province,
            city: row.city,
            agency_id: row.agency_id,
        }
    }
}

/// The rules that may decide for a message of `category` located along `area_path`: of the
/// category or one it lies under, and of everywhere or an area of the path.
fn candidate_rules(conn: &mut DbConnection, category: &str, area_path: &[String]) -> Result<Vec<Rule>, DbError> {
    let areas: Vec<&str> = area_path.iter().map(String::as_str).chain([rules::ANY]).collect();
    let rows: Vec<RuleRow> = routing_rules::table
        .filter(routing_rules::category.eq_any(rules::covering_categories(category)))
        .filter(routing_rules::area.eq_any(areas))
        .order(routing_rules::id)
        .select(RuleRow::as_select())
        .load(conn)?;
    Ok(rows.into_iter().map(Rule::from).collect())
}

/// Filters of the routing-rule list; all optional.
#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    pub category: Option<String>,
    pub agency_id: Option<String>,
    /// A province code or `*`, matched exactly (the province of the rule's area).
    pub province: Option<String>,
    /// An area code or `*`, matched exactly.
    pub area: Option<String>,
    /// Created at or after.
    pub from: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    pub newest_first: bool,
    pub after: Option<Cursor>,
    pub limit: i64,
}

/// One page of routing rules in the order `(created_at, id)`, and the next page's cursor.
pub fn rules_page(conn: &mut DbConnection, filter: &RuleFilter) -> Result<(Vec<Rule>, Option<String>), DbError> {
    let mut query = routing_rules::table.select(RuleRow::as_select()).into_boxed();
    if let Some(value) = &filter.category {
        query = query.filter(routing_rules::category.eq(value.clone()));
    }
    if let Some(value) = &filter.agency_id {
        query = query.filter(routing_rules::agency_id.eq(value.clone()));
    }
    if let Some(value) = &filter.province {
        query = query.filter(routing_rules::province.eq(value.clone()));
    }
    if let Some(value) = &filter.area {
        query = query.filter(routing_rules::area.eq(value.clone()));
    }
    query = nazer_shared::period!(query, routing_rules::created_at, filter.from, filter.until);
    let query = nazer_shared::keyset!(
        query,
        routing_rules::created_at,
        routing_rules::id,
        filter.after.clone(),
        filter.newest_first
    );
    let rows: Vec<RuleRow> = query.limit(filter.limit + 1).load(conn)?;
    let (rows, next) =
        paging::page(rows, filter.limit, |row: &RuleRow| Cursor { at: row.created_at, id: row.id.clone() });
    Ok((rows.into_iter().map(Rule::from).collect(), next))
}

#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Db(#[from] DbError),
    /// Fields naming what does not exist or does not fit (the area, the agency), each with how
    /// to fix it.
    #[error("{}", described(.0))]
    Invalid(Vec<FieldIssue>),
    #[error("a rule for this category, area and city already exists (`{0}`)")]
    Exists(String),
}

nazer_shared::from_diesel_error!(RuleError);

impl From<RuleError> for ApiError {
    fn from(error: RuleError) -> Self {
        match error {
            RuleError::Invalid(issues) => ApiError::invalid(issues),
            RuleError::Exists(_) => ApiError::Conflict(error.to_string()),
            RuleError::Db(error) => error.into(),
        }
    }
}

/// A rule to add: messages of `category` (or one under it) located in `area` (and `city`) go
/// to `agency_id`.
#[derive(Debug, Clone, Copy)]
pub struct NewRule<'a> {
    pub category: &'a str,
    /// A known area code at any level, or `*` for everywhere.
    pub area: &'a str,
    /// The province the caller named, if any: `area` must lie in it.
    pub province: Option<&'a str>,
    /// A city (normalised), or `*`.
    pub city: &'a str,
    pub agency_id: &'a str,
}

/// Adds a routing rule; its `province` is its area's (or `*`). Unique per category, area and
/// city.
pub fn create_rule(conn: &mut DbConnection, rule: &NewRule<'_>, now: DateTime<Utc>) -> Result<Rule, RuleError> {
    let province = checked_province(conn, rule)?;
    if let Some(existing) = find_rule(conn, rule)? {
        return Err(RuleError::Exists(existing.id));
    }
    insert_rule(conn, rule, province, now)
}

/// The province of `rule`'s area (or `*`), once its area, the province it names and its agency
/// are checked; every bad field named.
fn checked_province(conn: &mut DbConnection, rule: &NewRule<'_>) -> Result<String, RuleError> {
    let mut issues = Vec::new();
    let province = if rule.area == rules::ANY {
        if let Some(province) = rule.province {
            let problem =
                format!("`*` is every province; leave `area` out for all of `{province}`, or name an area in it");
            issues.push(FieldIssue::new("area", problem));
        }
        rules::ANY.to_string()
    } else {
        match area_path(conn, rule.area)? {
            None => {
                issues.push(FieldIssue::new("area", unknown_area(rule.area)));
                String::new()
            }
            Some(path) => {
                let top = path.first().cloned().unwrap_or_default();
                if let Some(province) = rule.province.filter(|p| *p != top) {
                    let problem = format!("area `{}` lies in `{top}`, not in province `{province}`", rule.area);
                    issues.push(FieldIssue::new("area", problem));
                }
                top
            }
        }
    };
    issues.extend(unknown_agency(conn, rule.agency_id)?);
    if issues.is_empty() { Ok(province) } else { Err(RuleError::Invalid(issues)) }
}

/// The issue naming `agency_id` when no agency has that id.
fn unknown_agency(conn: &mut DbConnection, agency_id: &str) -> Result<Option<FieldIssue>, DbError> {
    let missing = !agency_exists(conn, agency_id)?;
    Ok(missing.then(|| FieldIssue::new("agency_id", format!("agency `{agency_id}` does not exist"))))
}

/// The stored rule of `rule`'s category, area and city.
fn find_rule(conn: &mut DbConnection, rule: &NewRule<'_>) -> Result<Option<Rule>, DbError> {
    let row: Option<RuleRow> = routing_rules::table
        .filter(routing_rules::category.eq(rule.category))
        .filter(routing_rules::area.eq(rule.area))
        .filter(routing_rules::city.eq(rule.city))
        .select(RuleRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(Rule::from))
}

fn insert_rule(
    conn: &mut DbConnection,
    rule: &NewRule<'_>,
    province: String,
    now: DateTime<Utc>,
) -> Result<Rule, RuleError> {
    let id = Uuid::now_v7().to_string();
    diesel::insert_into(routing_rules::table)
        .values((
            routing_rules::id.eq(&id),
            routing_rules::category.eq(rule.category),
            routing_rules::area.eq(rule.area),
            routing_rules::province.eq(&province),
            routing_rules::city.eq(rule.city),
            routing_rules::agency_id.eq(rule.agency_id),
            routing_rules::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok(Rule {
        id,
        category: rule.category.into(),
        area: rule.area.into(),
        province,
        city: rule.city.into(),
        agency_id: rule.agency_id.into(),
    })
}

/// Creates the rule of `rule`'s category, area and city, or points the existing one at
/// `rule.agency_id` (reference data): the rule now, and as it was before when it existed.
pub fn put_rule(
    conn: &mut DbConnection,
    rule: &NewRule<'_>,
    now: DateTime<Utc>,
) -> Result<(Rule, Option<Rule>), RuleError> {
    let Some(before) = find_rule(conn, rule)? else {
        let province = checked_province(conn, rule)?;
        return insert_rule(conn, rule, province, now).map(|created| (created, None));
    };
    if before.agency_id == rule.agency_id {
        return Ok((before.clone(), Some(before)));
    }
    if let Some(issue) = unknown_agency(conn, rule.agency_id)? {
        return Err(RuleError::Invalid(vec![issue]));
    }
    diesel::update(routing_rules::table.find(&before.id))
        .set(routing_rules::agency_id.eq(rule.agency_id))
        .execute(conn)?;
    Ok((Rule { agency_id: rule.agency_id.into(), ..before.clone() }, Some(before)))
}

pub fn delete_rule(conn: &mut DbConnection, id: &str) -> Result<bool, DbError> {
    Ok(diesel::delete(routing_rules::table.find(id)).execute(conn)? > 0)
}

// ---------------------------------------------------------------------------------------------
// Routing messages

/// What routing keeps of a message it routed: enough to announce where it went.
#[derive(Queryable, Selectable)]
#[diesel(table_name = assignments)]
struct Routed {
    message_id: String,
    tracking_code: String,
    kind: String,
    category: String,
    province: String,
    city: Option<String>,
    priority: String,
    channel: Option<String>,
    /// The message's area path as JSON (see [`encode_path`]).
    area_path: String,
}

/// The area path a message is routed by: the one it carries, or its province alone for an
/// event written before areas.
pub fn area_path_of(message: &MessageReceived) -> Vec<String> {
    if message.area_path.is_empty() { vec![message.province.clone()] } else { message.area_path.clone() }
}

/// An area path as `assignments.area_path` stores it: a JSON array of codes.
fn encode_path(path: &[String]) -> String {
    serde_json::Value::from(path.to_vec()).to_string()
}

/// The area path stored for a message in `province`; an empty one (never written since areas)
/// reads as the province alone, one that is not a JSON array of codes is a broken row.
fn decode_path(stored: &str, province: &str) -> Result<Vec<String>, DbError> {
    let path: Vec<String> = serde_json::from_str(stored)
        .map_err(|e| DbError::Refused(format!("unreadable area path `{stored}` stored: {e}")))?;
    Ok(if path.is_empty() { vec![province.to_string()] } else { path })
}

/// Where an assignment stands.
struct Standing {
    state: AssignmentState,
    agency_id: Option<String>,
    /// Declined three times: for a supervisor to decide.
    needs_supervisor: bool,
}

/// An assignment as stored: the message routed and where it stands.
#[derive(Queryable, Selectable)]
#[diesel(table_name = assignments)]
struct AssignmentRow {
    #[diesel(embed)]
    routed: Routed,
    state: String,
    agency_id: Option<String>,
    needs_supervisor: bool,
}

impl AssignmentRow {
    fn split(self) -> Result<(Routed, Standing), DbError> {
        let state = AssignmentState::stored(&self.state)?;
        Ok((self.routed, Standing { state, agency_id: self.agency_id, needs_supervisor: self.needs_supervisor }))
    }
}

impl Routed {
    fn of_received(message: &MessageReceived) -> Self {
        Self {
            message_id: message.message_id.clone(),
            tracking_code: message.tracking_code.clone(),
            kind: message.kind.clone(),
            category: message.category.clone(),
            province: message.province.clone(),
            city: message.city.clone(),
            priority: message.priority.clone(),
            channel: Some(message.channel.clone()),
            area_path: encode_path(&area_path_of(message)),
        }
    }

    fn area_path(&self) -> Result<Vec<String>, DbError> {
        decode_path(&self.area_path, &self.province)
    }

    fn load(conn: &mut DbConnection, message_id: &str) -> Result<Option<(Self, Standing)>, DbError> {
        let row: Option<AssignmentRow> =
            assignments::table.find(message_id).select(AssignmentRow::as_select()).first(conn).optional()?;
        row.map(AssignmentRow::split).transpose()
    }

    /// Announces the decision: `message.assigned` to the agency of the rule, or
    /// `message.needs_triage` with `reason`.
    fn announce(
        self,
        conn: &mut DbConnection,
        decision: Option<(String, Agency)>,
        reason: &str,
        needs_supervisor: bool,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        match decision {
            Some((rule_id, agency)) => self.assign(conn, rule_id, agency, None, now).map(|_| ()),
            None => {
                let area_path = self.area_path()?;
                let event = MessageNeedsTriage {
                    message_id: self.message_id,
                    tracking_code: self.tracking_code,
                    category: self.category,
                    province: self.province,
                    city: self.city,
                    area_path,
                    reason: reason.into(),
                    queued_at: from_db_time(to_db_time(now)),
                    needs_supervisor,
                };
                outbox::enqueue(conn, ROUTING, &event, now).map(|_| ())
            }
        }
    }

    /// `message.assigned` to `agency`, with its ancestors (who see the message too), and the
    /// caller who placed it by hand (`assigned_by`), if one did.
    fn assign(
        self,
        conn: &mut DbConnection,
        rule_id: String,
        agency: Agency,
        assigned_by: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<MessageAssigned, DbError> {
        let agency_ancestors = ancestors_of(conn, &agency)?;
        let area_path = self.area_path()?;
        let event = MessageAssigned {
            message_id: self.message_id,
            tracking_code: self.tracking_code,
            kind: self.kind,
            category: self.category,
            province: self.province,
            city: self.city,
            area_path,
            agency_id: agency.id,
            agency_name: agency.name,
            parent_agency_id: agency.parent_id,
            agency_ancestors,
            rule_id,
            priority: self.priority,
            channel: self.channel,
            assigned_at: from_db_time(to_db_time(now)),
            assigned_by,
        };
        outbox::enqueue(conn, ROUTING, &event, now)?;
        Ok(event)
    }
}

/// Routes a received message once, by its area path (see [`area_path_of`]): to the agency of
/// the best fitting rule, or to triage.
pub fn route(conn: &mut DbConnection, message: &MessageReceived, now: DateTime<Utc>) -> Result<(), DbError> {
    let decided: i64 = assignments::table.find(&message.message_id).count().get_result(conn)?;
    if decided > 0 {
        return Ok(());
    }
    let area_path = area_path_of(message);
    let candidates = candidate_rules(conn, &message.category, &area_path)?;
    let placed = rules::Message { category: &message.category, area_path: &area_path, city: message.city.as_deref() };
    let chosen = rules::resolve(&candidates, &placed);
    let agency = match chosen {
        Some(rule) => find_agency(conn, &rule.agency_id)?.map(|a| (rule.id.clone(), a)),
        None => None,
    };
    let at = to_db_time(now);
    diesel::insert_into(assignments::table)
        .values((
            assignments::message_id.eq(&message.message_id),
            assignments::tracking_code.eq(&message.tracking_code),
            assignments::kind.eq(&message.kind),
            assignments::category.eq(&message.category),
            assignments::province.eq(&message.province),
            assignments::city.eq(&message.city),
            assignments::priority.eq(&message.priority),
            assignments::channel.eq(Some(&message.channel)),
            assignments::area_path.eq(encode_path(&area_path)),
            assignments::state.eq(AssignmentState::of(agency.is_some()).as_str()),
            assignments::agency_id.eq(agency.as_ref().map(|(_, a)| a.id.clone())),
            assignments::rule_id.eq(agency.as_ref().map(|(rule, _)| rule.clone())),
            assignments::decided_at.eq(at),
        ))
        .execute(conn)?;
    let reason = "no routing rule matches this category and area";
    Routed::of_received(message).announce(conn, agency, reason, false, now)?;
    Ok(())
}

/// A message waiting in 1888 triage for someone to choose its agency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TriageEntry {
    pub message_id: String,
    pub tracking_code: String,
    /// complaint, violation_report, criticism, suggestion or appreciation.
    pub kind: String,
    pub category: String,
    pub province: String,
    #[schema(required = true)]
    pub city: Option<String>,
    /// The area codes the message is located in, province first, deepest last.
    pub area_path: Vec<String>,
    /// Since when it waits.
    pub queued_at: DateTime<Utc>,
    /// Declined three times: for a supervisor to decide.
    pub needs_supervisor: bool,
}

/// A message in triage as stored; `decided_at` is when it was queued.
#[derive(Queryable, Selectable)]
#[diesel(table_name = assignments)]
struct TriageRow {
    message_id: String,
    tracking_code: String,
    kind: String,
    category: String,
    province: String,
    city: Option<String>,
    area_path: String,
    decided_at: NaiveDateTime,
    needs_supervisor: bool,
}

impl TryFrom<TriageRow> for TriageEntry {
    type Error = DbError;

    fn try_from(row: TriageRow) -> Result<Self, DbError> {
        let area_path = decode_path(&row.area_path, &row.province)?;
        Ok(Self {
            message_id: row.message_id,
            tracking_code: row.tracking_code,
            kind: row.kind,
            category: row.category,
            province: row.province,
            city: row.city,
            area_path,
            queued_at: from_db_time(row.decided_at),
            needs_supervisor: row.needs_supervisor,
        })
    }
}

/// Filters of the triage queue; all optional.
#[derive(Debug, Clone, Default)]
pub struct TriageFilter {
    pub needs_supervisor: Option<bool>,
    pub category: Option<String>,
    pub province: Option<String>,
    /// An area code: only messages whose area path holds it.
    pub area: Option<String>,
    /// Queued at or after.
    pub from: Option<DateTime<Utc>>,
    /// Queued before.
    pub until: Option<DateTime<Utc>>,
    pub newest_first: bool,
    pub after: Option<Cursor>,
    pub limit: i64,
}

/// One page of the triage queue in the order `(queued_at, message_id)`, and the cursor of the
/// next page when there is one.
pub fn triage_queue(
    conn: &mut DbConnection,
    filter: &TriageFilter,
) -> Result<(Vec<TriageEntry>, Option<String>), DbError> {
    let mut query = assignments::table
        .filter(assignments::state.eq(AssignmentState::Triage.as_str()))
        .select(TriageRow::as_select())
        .into_boxed();
    if let Some(value) = filter.needs_supervisor {
        query = query.filter(assignments::needs_supervisor.eq(value));
    }
    if let Some(value) = &filter.category {
        query = query.filter(assignments::category.eq(value.clone()));
    }
    if let Some(value) = &filter.province {
        query = query.filter(assignments::province.eq(value.clone()));
    }
    if let Some(value) = &filter.area {
        query = query.filter(assignments::area_path.like(nazer_shared::db::area_path_pattern(value)).escape('\\'));
    }
    query = nazer_shared::period!(query, assignments::decided_at, filter.from, filter.until);
    let query = nazer_shared::keyset!(
        query,
        assignments::decided_at,
        assignments::message_id,
        filter.after.clone(),
        filter.newest_first
    );
    let rows: Vec<TriageRow> = query.limit(filter.limit + 1).load(conn)?;
    let entries = rows.into_iter().map(TriageEntry::try_from).collect::<Result<Vec<_>, _>>()?;
    Ok(paging::page(entries, filter.limit, |e: &TriageEntry| Cursor {
        at: to_db_time(e.queued_at),
        id: e.message_id.clone(),
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("the message is not waiting in triage")]
    NotInTriage,
    #[error("agency `{0}` does not exist")]
    UnknownAgency(String),
    #[error("this message was declined three times: a supervisor decides where it goes")]
    NeedsSupervisor,
}

nazer_shared::from_diesel_error!(TriageError);

impl From<TriageError> for ApiError {
    fn from(error: TriageError) -> Self {
        match error {
            // Said as the API's 404s say it: whether the id exists at all is not told apart.
            TriageError::NotInTriage => {
                ApiError::NotFound("no message with this tracking code or id waits in triage".into())
            }
            TriageError::UnknownAgency(_) => ApiError::invalid_field("agency_id", error.to_string()),
            TriageError::NeedsSupervisor => ApiError::Forbidden(error.to_string()),
            TriageError::Db(error) => error.into(),
        }
    }
}

/// How a triage request names its message: by the tracking code, as every other endpoint does,
/// or by the internal message id existing clients send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriagedMessage {
    TrackingCode(String),
    Id(String),
}

impl TriagedMessage {
    /// Ten digits (Persian and Arabic-Indic ones too, spaces and dashes ignored, as intake reads a
    /// code) are a tracking code; anything else is an id (message ids are UUIDs).
    pub fn named(text: &str) -> Self {
        let digits: String =
            nazer_shared::iran::ascii_digits(text).chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if digits.len() == TRACKING_CODE_LENGTH && digits.bytes().all(|b| b.is_ascii_digit()) {
            Self::TrackingCode(digits)
        } else {
            Self::Id(text.to_string())
        }
    }

    /// The id of the message named, when it waits in triage under that code.
    fn message_id(&self, conn: &mut DbConnection) -> Result<Option<String>, DbError> {
        match self {
            Self::Id(id) => Ok(Some(id.clone())),
            // Only waiting rows: the triage queue's partial index bounds the search.
            Self::TrackingCode(code) => Ok(assignments::table
                .filter(assignments::state.eq(AssignmentState::Triage.as_str()))
                .filter(assignments::tracking_code.eq(code))
                .select(assignments::message_id)
                .first(conn)
                .optional()?),
        }
    }
}

/// The digits of a tracking code as intake issues it.
const TRACKING_CODE_LENGTH: usize = 10;

/// A supervisor's decision for a message in triage; `assigned_by` is the caller's id.
pub fn assign_from_triage(
    conn: &mut DbConnection,
    named: &TriagedMessage,
    agency_id: &str,
    may_decide_flagged: bool,
    assigned_by: &str,
    now: DateTime<Utc>,
) -> Result<MessageAssigned, TriageError> {
    let Some(message_id) = named.message_id(conn)? else {
        return Err(TriageError::NotInTriage);
    };
    let message_id = message_id.as_str();
    let Some((routed, standing)) = Routed::load(conn, message_id)? else {
        return Err(TriageError::NotInTriage);
    };
    if standing.state != AssignmentState::Triage {
        return Err(TriageError::NotInTriage);
    }
    if standing.needs_supervisor && !may_decide_flagged {
        return Err(TriageError::NeedsSupervisor);
    }
    let Some(agency) = find_agency(conn, agency_id)? else {
        return Err(TriageError::UnknownAgency(agency_id.into()));
    };
    let at = to_db_time(now);
    // Conditional, so of two supervisors deciding at once only one assignment is announced.
    let claimed = diesel::update(
        assignments::table.find(message_id).filter(assignments::state.eq(AssignmentState::Triage.as_str())),
    )
    .set((
        assignments::state.eq(AssignmentState::Assigned.as_str()),
        assignments::agency_id.eq(Some(&agency.id)),
        assignments::rule_id.eq(Some(MANUAL_RULE)),
        assignments::decided_at.eq(at),
        assignments::needs_supervisor.eq(false),
    ))
    .execute(conn)?;
    if claimed == 0 {
        return Err(TriageError::NotInTriage);
    }
    Ok(routed.assign(conn, MANUAL_RULE.into(), agency, Some(assigned_by.to_string()), now)?)
}

/// A decline: recorded once, then the message goes to the next agency whose rule matches and
/// that has not declined it, or to triage (flagged for a supervisor from the third decline).
pub fn reroute_declined(
    conn: &mut DbConnection,
    declined: &MessageDeclined,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let Some((routed, standing)) = Routed::load(conn, &declined.message_id)? else {
        return Err(DbError::Refused(format!("message {} was declined but never routed here", declined.message_id)));
    };
    if standing.state != AssignmentState::Assigned || standing.agency_id.as_deref() != Some(declined.agency_id.as_str())
    {
        // A decline of an assignment already superseded changes nothing.
        tracing::warn!(message_id = %declined.message_id, "decline of a superseded assignment ignored");
        return Ok(());
    }
    diesel::insert_into(declines::table)
        .values((
            declines::message_id.eq(&declined.message_id),
            declines::agency_id.eq(&declined.agency_id),
            declines::reason.eq(&declined.reason),
            declines::declined_at.eq(to_db_time(declined.declined_at)),
        ))
        .execute(conn)?;
    let declined_by: Vec<String> =
        declines::table.filter(declines::message_id.eq(&declined.message_id)).select(declines::agency_id).load(conn)?;
    let area_path = routed.area_path()?;
    let candidates = candidate_rules(conn, &routed.category, &area_path)?;
    let placed = rules::Message { category: &routed.category, area_path: &area_path, city: routed.city.as_deref() };
    let next = rules::after_decline(&candidates, &placed, &declined_by, declined_by.len());
    let chosen = match next {
        rules::AfterDecline::Reassign(rule) => find_agency(conn, &rule.agency_id)?.map(|a| (rule.id.clone(), a)),
        rules::AfterDecline::Triage { .. } => None,
    };
    let needs_supervisor = matches!(next, rules::AfterDecline::Triage { needs_supervisor: true });
    let at = to_db_time(now);
    diesel::update(assignments::table.find(&declined.message_id))
        .set((
            assignments::state.eq(AssignmentState::of(chosen.is_some()).as_str()),
            assignments::agency_id.eq(chosen.as_ref().map(|(_, a)| a.id.clone())),
            assignments::rule_id.eq(chosen.as_ref().map(|(rule, _)| rule.clone())),
            assignments::decided_at.eq(at),
            assignments::needs_supervisor.eq(needs_supervisor),
            // The path it was rerouted by (a row from before areas held its province alone).
            assignments::area_path.eq(encode_path(&area_path)),
        ))
        .execute(conn)?;
    let reason = if needs_supervisor {
        format!("declined {} times; a supervisor decides", declined_by.len())
    } else {
        "declined; no other routing rule matches".to_string()
    };
    routed.announce(conn, chosen, &reason, needs_supervisor, now)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_triage_path_of_ten_digits_is_a_tracking_code_anything_else_an_id() {
        let code = || TriagedMessage::TrackingCode("4820193757".into());
        for text in ["4820193757", "۴۸۲۰۱۹۳۷۵۷", "482-019-3757", "482 019 3757"] {
            assert_eq!(TriagedMessage::named(text), code(), "{text}");
        }
        for text in ["01a22750-dc1b-7267-b816-dfb7dae0045e", "m-triage", "482019375", "48201937571"] {
            assert_eq!(TriagedMessage::named(text), TriagedMessage::Id(text.into()), "{text}");
        }
    }
}
