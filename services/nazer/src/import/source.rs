//! Reading reference data: each file of a directory parsed and checked on its own, every record
//! with the line it begins on, so a refusal can name the file, the line and the field.
//! `reference-data/README.md` describes the files.

use std::collections::BTreeMap;
use std::path::Path;

use nazer_deadline_timer::calendar::Calendar;
use nazer_deadline_timer::policy::SlaPolicy;
use nazer_intake::areas::{Area, tree};
use nazer_intake::submission::Category;
use nazer_routing::agency::{AgencyDraft, area_code};
use nazer_routing::store::unknown_area;
use nazer_shared::http::{FieldIssue, IDENTIFIER_RULE, is_identifier};
use nazer_violation_referral::types::ViolationType;
use nazer_violation_referral::units::CounterpartUnit;
use serde::Deserialize;

use super::lines::element_lines;

/// What a file or a record was refused for: where, which field, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub file: String,
    pub line: Option<usize>,
    pub field: String,
    pub problem: String,
}

impl Issue {
    pub fn new(file: &str, line: Option<usize>, field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { file: file.into(), line, field: field.into(), problem: problem.into() }
    }
}

/// A record of a file: where it begins, how its fields are named, and what it says.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub line: usize,
    /// Prefixed to a field's name: `agencies[3].` in a JSON file, nothing in a CSV row.
    pub prefix: String,
    pub item: T,
}

impl<T> Located<T> {
    /// Each issue of this record as the file's.
    pub fn issues(&self, file: &str, issues: Vec<FieldIssue>) -> Vec<Issue> {
        issues_at(file, self.line, &self.prefix, issues)
    }
}

/// Each issue of the record on `line`, its field named after `prefix`, as the file's.
fn issues_at(file: &str, line: usize, prefix: &str, issues: Vec<FieldIssue>) -> Vec<Issue> {
    issues.into_iter().map(|i| Issue::new(file, Some(line), format!("{prefix}{}", i.field), i.problem)).collect()
}

/// The records of one file.
#[derive(Debug, Clone)]
pub struct Records<T> {
    pub file: String,
    pub records: Vec<Located<T>>,
}

/// The areas of a GeoJSON file, and the line each feature begins on.
#[derive(Debug, Clone)]
pub struct AreaRecords {
    pub file: String,
    pub areas: Vec<Area>,
    pub lines: Vec<usize>,
}

impl AreaRecords {
    /// Issues naming `features[i]…`, each on its feature's line.
    pub fn issues(&self, issues: Vec<FieldIssue>) -> Vec<Issue> {
        issues
            .into_iter()
            .map(|i| Issue::new(&self.file, feature_line(&self.lines, &i.field), i.field, i.problem))
            .collect()
    }
}

/// The line of the feature `features[i]…` names.
fn feature_line(lines: &[usize], field: &str) -> Option<usize> {
    let rest = field.strip_prefix("features[")?;
    let index: usize = rest[..rest.find(']')?].parse().ok()?;
    lines.get(index).copied()
}

/// A routing rule as a file gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleEntry {
    /// A category code, or a prefix of codes such as `municipal`.
    pub category: String,
    /// An area code, or `*` for everywhere.
    pub area: String,
    pub agency_id: String,
}

/// Everything a directory holds; a kind absent is left as stored.
#[derive(Debug, Clone, Default)]
pub struct ReferenceData {
    pub categories: Option<Records<Category>>,
    pub areas: Option<AreaRecords>,
    pub agencies: Option<Records<AgencyDraft>>,
    pub routing_rules: Option<Records<RuleEntry>>,
    pub calendars: Option<Records<Calendar>>,
    pub sla_policies: Option<Records<SlaPolicy>>,
    pub counterpart_units: Option<Records<CounterpartUnit>>,
    pub violation_types: Option<Records<ViolationType>>,
}

/// The files a directory may hold, by kind: one of each kind at most.
const KINDS: [(&str, &[&str]); 8] = [
    ("categories", &["categories.json", "categories.csv"]),
    ("areas", &["areas.geojson"]),
    ("agencies", &["agencies.json", "agencies.csv"]),
    ("routing rules", &["routing-rules.json", "routing-rules.csv"]),
    ("calendars", &["calendars.json"]),
    ("SLA policies", &["sla-policies.json"]),
    ("counterpart units", &["counterpart-units.json"]),
    ("violation types", &["violation-types.json"]),
];

/// Every file name a directory may hold.
fn file_names() -> Vec<&'static str> {
    KINDS.iter().flat_map(|(_, names)| names.iter().copied()).collect()
}

/// Reads every reference-data file of `dir`; a file of another name (but for documentation,
/// `*.md`) is refused, so a misspelt name is not silently skipped.
pub fn read_dir(dir: &Path) -> Result<ReferenceData, Vec<Issue>> {
    let shown = dir.display().to_string();
    let entries =
        std::fs::read_dir(dir).map_err(|e| vec![Issue::new(&shown, None, "", format!("cannot be read: {e}"))])?;
    let mut files = BTreeMap::new();
    let mut issues = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| vec![Issue::new(&shown, None, "", format!("cannot be listed: {e}"))])?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if name.starts_with('.') || name.ends_with(".md") || path.is_dir() {
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                files.insert(name, text);
            }
            Err(e) => issues.push(Issue::new(&name, None, "", format!("cannot be read as UTF-8 text: {e}"))),
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    if files.is_empty() {
        let names = file_names();
        return Err(vec![Issue::new(
            &shown,
            None,
            "",
            format!("holds no reference data; expected any of {}", names.join(", ")),
        )]);
    }
    from_texts(&files)
}

/// Parses and checks files given as (name, text): every issue of every file at once.
pub fn from_texts(files: &BTreeMap<String, String>) -> Result<ReferenceData, Vec<Issue>> {
    let mut issues = Vec::new();
    let known = file_names();
    for name in files.keys() {
        if !known.contains(&name.as_str()) {
            issues.push(Issue::new(
                name,
                None,
                "",
                format!("is not a reference-data file; the files are: {}", known.join(", ")),
            ));
        }
    }
    for (kind, names) in KINDS {
        let present: Vec<&str> = names.iter().copied().filter(|n| files.contains_key(*n)).collect();
        if present.len() > 1 {
            issues.push(Issue::new(
                present[1],
                None,
                "",
                format!("{kind} come from one file: keep {} or {}", present[0], present[1]),
            ));
        }
    }
    let mut data = ReferenceData::default();
    let mut take = |result: Result<(), Vec<Issue>>| {
        if let Err(found) = result {
            issues.extend(found);
        }
    };
    for (name, text) in files {
        take(match name.as_str() {
            "categories.json" => json(name, text, "categories", category_of_json).map(|r| data.categories = Some(r)),
            "categories.csv" => {
                csv_rows(name, text, &CATEGORY_COLUMNS, category_of_row).map(|r| data.categories = Some(r))
            }
            "areas.geojson" => areas(name, text).map(|r| data.areas = Some(r)),
            "agencies.json" => json(name, text, "agencies", agency_of_json).map(|r| data.agencies = Some(r)),
            "agencies.csv" => csv_rows(name, text, &AGENCY_COLUMNS, agency_of_row).map(|r| data.agencies = Some(r)),
            "routing-rules.json" => {
                json(name, text, "routing_rules", rule_of_json).map(|r| data.routing_rules = Some(r))
            }
            "routing-rules.csv" => {
                csv_rows(name, text, &RULE_COLUMNS, rule_of_row).map(|r| data.routing_rules = Some(r))
            }
            "calendars.json" => {
                json(name, text, "calendars", Calendar::from_document).map(|r| data.calendars = Some(r))
            }
            "sla-policies.json" => {
                json(name, text, "sla_policies", SlaPolicy::from_document).map(|r| data.sla_policies = Some(r))
            }
            "counterpart-units.json" => json(name, text, "counterpart_units", CounterpartUnit::checked)
                .map(|r| data.counterpart_units = Some(r)),
            "violation-types.json" => json(name, text, "violation_types", ViolationType::from_document)
                .map(|r| data.violation_types = Some(r)),
            _ => Ok(()),
        });
    }
    if issues.is_empty() { Ok(data) } else { Err(issues) }
}

/// The areas of a GeoJSON FeatureCollection file.
pub fn areas(file: &str, text: &str) -> Result<AreaRecords, Vec<Issue>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| vec![not_json(file, &e)])?;
    let lines = element_lines(text, "features");
    let records = AreaRecords { file: file.into(), areas: Vec::new(), lines };
    match tree::parse_feature_collection(&value) {
        Ok(areas) => Ok(AreaRecords { areas, ..records }),
        Err(issues) => Err(records.issues(issues)),
    }
}

fn not_json(file: &str, error: &serde_json::Error) -> Issue {
    Issue::new(file, Some(error.line()), "", format!("is not valid JSON: {error}"))
}

/// The records of a JSON file `{"<key>": [ … ]}`, each read as `E` and checked into `T`.
fn json<E, T>(
    file: &str,
    text: &str,
    key: &str,
    check: impl Fn(E) -> Result<T, Vec<FieldIssue>>,
) -> Result<Records<T>, Vec<Issue>>
where
    E: serde::de::DeserializeOwned,
{
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| vec![not_json(file, &e)])?;
    let shape = || {
        vec![Issue::new(
            file,
            Some(1),
            "",
            format!("must be an object holding only `{key}`, a list: {{\"{key}\": [ … ]}}"),
        )]
    };
    let serde_json::Value::Object(mut object) = value else { return Err(shape()) };
    let Some(serde_json::Value::Array(elements)) = object.remove(key).filter(|_| object.is_empty()) else {
        return Err(shape());
    };
    let lines = element_lines(text, key);
    let mut records = Vec::new();
    let mut issues = Vec::new();
    for (i, element) in elements.into_iter().enumerate() {
        let (line, prefix) = (lines.get(i).copied().unwrap_or(1), format!("{key}[{i}]."));
        // Read as the admin API reads a body: the field named, control characters refused.
        match nazer_shared::http::json::from_value::<E>(element) {
            Err(Ok(issue)) => issues.extend(issues_at(file, line, &prefix, vec![issue])),
            Err(Err(problem)) => issues.push(Issue::new(file, Some(line), format!("{key}[{i}]"), problem)),
            Ok(entry) => match check(entry) {
                Ok(item) => records.push(Located { line, prefix, item }),
                Err(found) => issues.extend(issues_at(file, line, &prefix, found)),
            },
        }
    }
    if issues.is_empty() { Ok(Records { file: file.into(), records }) } else { Err(issues) }
}

/// A CSV file's columns: those it must have, then those it may.
struct Columns {
    required: &'static [&'static str],
    optional: &'static [&'static str],
}

/// The cells of a CSV row by column, empty when the column is absent.
struct Row<'a> {
    headers: &'a csv::StringRecord,
    record: &'a csv::StringRecord,
}

impl Row<'_> {
    fn get(&self, column: &str) -> &str {
        let at = self.headers.iter().position(|h| h.trim() == column);
        at.and_then(|i| self.record.get(i)).unwrap_or("").trim()
    }

    /// A list in one cell, its items separated by `|`.
    fn list(&self, column: &str) -> Vec<String> {
        self.get(column).split('|').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }
}

/// The records of a CSV file with a header row (UTF-8, comma-separated, RFC 4180 quoting).
fn csv_rows<T>(
    file: &str,
    text: &str,
    columns: &Columns,
    check: impl Fn(&Row<'_>) -> Result<T, Vec<FieldIssue>>,
) -> Result<Records<T>, Vec<Issue>> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(true).from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| vec![Issue::new(file, Some(1), "", format!("has no readable header row: {e}"))])?
        .clone();
    let mut issues = Vec::new();
    for header in headers.iter().map(str::trim) {
        if !columns.required.contains(&header) && !columns.optional.contains(&header) {
            let known = [columns.required, columns.optional].concat().join(", ");
            issues.push(Issue::new(
                file,
                Some(1),
                header,
                format!("is not a column of this file; the columns are: {known}"),
            ));
        }
    }
    for column in columns.required {
        if !headers.iter().any(|h| h.trim() == *column) {
            issues.push(Issue::new(file, Some(1), *column, "is a required column, missing from the header row"));
        }
    }
    if !issues.is_empty() {
        return Err(issues);
    }
    let mut records = Vec::new();
    for read in reader.records() {
        let record = match read {
            Ok(record) => record,
            Err(error) => {
                let line = error.position().map(|p| p.line() as usize);
                issues.push(Issue::new(file, line, "", format!("is not a well-formed CSV row: {error}")));
                continue;
            }
        };
        let line = record.position().map_or(1, |p| p.line() as usize);
        match check(&Row { headers: &headers, record: &record }) {
            Ok(item) => records.push(Located { line, prefix: String::new(), item }),
            Err(found) => issues.extend(issues_at(file, line, "", found)),
        }
    }
    if issues.is_empty() { Ok(Records { file: file.into(), records }) } else { Err(issues) }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CategoryJson {
    code: String,
    name_fa: String,
    name_en: String,
    kinds: Vec<String>,
    #[serde(default)]
    active: Option<bool>,
}

fn category_of_json(entry: CategoryJson) -> Result<Category, Vec<FieldIssue>> {
    Category::checked(&entry.code, &entry.name_fa, &entry.name_en, entry.kinds, entry.active.unwrap_or(true))
}

const CATEGORY_COLUMNS: Columns = Columns { required: &["code", "name_fa", "name_en", "kinds"], optional: &["active"] };

fn category_of_row(row: &Row<'_>) -> Result<Category, Vec<FieldIssue>> {
    let active = match row.get("active") {
        "" | "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(FieldIssue::new("active", "`true`, `false`, or empty for true")),
    };
    let category = Category::checked(
        row.get("code"),
        row.get("name_fa"),
        row.get("name_en"),
        row.list("kinds"),
        *active.as_ref().unwrap_or(&true),
    );
    match (category, active) {
        (Ok(category), Ok(_)) => Ok(category),
        (category, active) => Err(category.err().unwrap_or_default().into_iter().chain(active.err()).collect()),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgencyJson {
    id: String,
    name: String,
    #[serde(default)]
    parent_id: Option<String>,
    #[serde(default)]
    areas: Vec<String>,
}

fn agency_of_json(entry: AgencyJson) -> Result<AgencyDraft, Vec<FieldIssue>> {
    AgencyDraft::checked(&entry.id, &entry.name, entry.parent_id.as_deref(), entry.areas)
}

const AGENCY_COLUMNS: Columns = Columns { required: &["id", "name"], optional: &["parent_id", "areas"] };

fn agency_of_row(row: &Row<'_>) -> Result<AgencyDraft, Vec<FieldIssue>> {
    AgencyDraft::checked(row.get("id"), row.get("name"), Some(row.get("parent_id")), row.list("areas"))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleJson {
    category: String,
    area: String,
    agency_id: String,
}

fn rule_of_json(entry: RuleJson) -> Result<RuleEntry, Vec<FieldIssue>> {
    checked_rule(&entry.category, &entry.area, &entry.agency_id)
}

const RULE_COLUMNS: Columns = Columns { required: &["category", "area", "agency_id"], optional: &[] };

fn rule_of_row(row: &Row<'_>) -> Result<RuleEntry, Vec<FieldIssue>> {
    checked_rule(row.get("category"), row.get("area"), row.get("agency_id"))
}

/// A rule's fields, well-formed; whether its area and agency exist is the store's to say.
fn checked_rule(category: &str, area: &str, agency_id: &str) -> Result<RuleEntry, Vec<FieldIssue>> {
    let (category, area, agency_id) = (category.trim(), area_code(area), agency_id.trim());
    let mut issues = Vec::new();
    if !is_identifier(category) {
        issues.push(FieldIssue::new("category", format!("a category code or a prefix of codes: {IDENTIFIER_RULE}")));
    }
    if area != nazer_routing::ANY && !is_identifier(&area) {
        issues.push(FieldIssue::new("area", format!("{}, or `*` for everywhere", unknown_area(&area))));
    }
    if !is_identifier(agency_id) {
        issues.push(FieldIssue::new("agency_id", format!("the id of an agency: {IDENTIFIER_RULE}")));
    }
    let entry = RuleEntry { category: category.into(), area, agency_id: agency_id.into() };
    if issues.is_empty() { Ok(entry) } else { Err(issues) }
}
