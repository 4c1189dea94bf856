//! Violation types as data: what a violation is under the law (its legal bases), what may
//! remedy it, which counterpart unit weighs the culpability of those responsible, and how long
//! each stage of the two tracks may take. The catalogue ships with the common ones
//! (`violation-types.json`); admins maintain it (`PUT /api/v1/violation-types/{code}`, `nazer
//! import`).

pub mod api;
pub mod law;
pub mod store;

use nazer_shared::duration::Budget;
use nazer_shared::http::{FieldIssue, IDENTIFIER_RULE, is_identifier};
use serde::{Deserialize, Serialize};

/// The catalogue every installation starts with, stored when absent.
pub const CATALOGUE: &str = include_str!("../../violation-types.json");

/// The longest name, in characters.
const MAX_NAME_CHARS: usize = 200;

/// The stages of the remedial track a budget runs to, in order: the referral to an authority,
/// its decision, the execution, and 1888's verdict.
pub const REMEDIAL_STAGES: [&str; 4] = ["referred", "decided", "executed", "verdict"];

/// The stages of the culpability track a budget runs to, in order: the unit's findings, the
/// referral to the compliance committee, its decision, the outcome recorded, and the period the
/// outcome is watched (with reminders) before the track closes.
pub const CULPABILITY_STAGES: [&str; 5] =
    ["findings_recorded", "at_committee", "decided", "outcome_recorded", "closed"];

/// A law, article and clause a violation type rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    /// The law or regulation, as its Persian title reads, e.g. «قانون شهرداری‌ها».
    #[schema(min_length = 1, max_length = 200)]
    pub law: String,
    /// The article, e.g. `100`; null when the basis is the law or regulation as a whole.
    #[serde(default)]
    #[schema(max_length = 50)]
    pub article: Option<String>,
    /// The clause (بند, تبصره), when the basis is one of the article's clauses.
    #[serde(default)]
    #[schema(max_length = 50)]
    pub clause: Option<String>,
    /// Where the basis applies, when narrower than the whole country (e.g. «شهرداری تهران»).
    #[serde(default)]
    #[schema(max_length = 200)]
    pub jurisdiction: Option<String>,
}

/// A violation type, as the admin API takes and gives it and `violation-types.json` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViolationTypeDocument {
    /// 1–64 lowercase letters, digits, '.', '_' or '-', such as `building.unauthorized`; the
    /// same as the path's.
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub code: String,
    /// The Persian name.
    #[schema(min_length = 1, max_length = 200)]
    pub name_fa: String,
    /// The English name.
    #[schema(min_length = 1, max_length = 200)]
    pub name_en: String,
    /// At least one.
    #[schema(min_items = 1)]
    pub legal_bases: Vec<LegalBasis>,
    /// What may remedy it, as codes (e.g. `demolition`, `fine`, `restoration_of_use`): at least
    /// one, each once.
    #[schema(min_items = 1)]
    pub remedial_actions: Vec<String>,
    /// The counterpart unit (معاونت نظیر) that examines the culpability of those responsible:
    /// its id.
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub counterpart_unit: String,
    /// How long each stage of each track may take.
    pub budgets: TrackBudgets,
}

/// The budget of each stage of the two tracks: business hours (`8h`), business days (`3d`) or
/// an ISO 8601 duration (`PT30S`), each counted from the stage before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackBudgets {
    /// `referred`, `decided`, `executed`, `verdict`: each required.
    #[schema(value_type = Object)]
    pub remedial: std::collections::BTreeMap<String, String>,
    /// `findings_recorded`, `at_committee`, `decided`, `outcome_recorded`, each required, and
    /// `closed` (how long the outcome is watched; as long as `outcome_recorded` when left out).
    #[schema(value_type = Object)]
    pub culpability: std::collections::BTreeMap<String, String>,
}

impl TrackBudgets {
    /// The budgets with the outcome's watch (`closed`) as long as `outcome_recorded` where it
    /// is not given: types stored, and cases classified, before the watch had a budget of its
    /// own keep working.
    pub fn with_watch_default(mut self) -> Self {
        if let Some(outcome) = self.culpability.get("outcome_recorded").cloned() {
            self.culpability.entry("closed".into()).or_insert(outcome);
        }
        self
    }
}

/// A checked violation type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolationType {
    document: ViolationTypeDocument,
}

impl ViolationType {
    /// Trims and checks a document; every problem named by its JSON path.
    pub fn from_document(mut document: ViolationTypeDocument) -> Result<Self, Vec<FieldIssue>> {
        let mut issues = Vec::new();
        document.code = document.code.trim().to_string();
        if !is_identifier(&document.code) {
            issues.push(FieldIssue::new("code", IDENTIFIER_RULE));
        }
        check_names(&mut issues, [("name_fa", &mut document.name_fa), ("name_en", &mut document.name_en)]);
        if document.legal_bases.is_empty() {
            issues.push(FieldIssue::new("legal_bases", "at least one: {law, article?, clause?, jurisdiction?}"));
        }
        for (i, basis) in document.legal_bases.iter_mut().enumerate() {
            check_basis(&mut issues, i, basis);
        }
        document.remedial_actions = document.remedial_actions.iter().map(|a| a.trim().to_string()).collect();
        if document.remedial_actions.is_empty() {
            issues.push(FieldIssue::new("remedial_actions", "at least one action code, e.g. `demolition`"));
        }
        for (i, action) in document.remedial_actions.iter().enumerate() {
            if !is_identifier(action) {
                issues.push(FieldIssue::new(format!("remedial_actions[{i}]"), IDENTIFIER_RULE));
            } else if document.remedial_actions[..i].contains(action) {
                issues.push(FieldIssue::new(format!("remedial_actions[{i}]"), format!("`{action}` is listed twice")));
            }
        }
        document.counterpart_unit = document.counterpart_unit.trim().to_string();
        if !is_identifier(&document.counterpart_unit) {
            issues
                .push(FieldIssue::new("counterpart_unit", format!("the id of a counterpart unit: {IDENTIFIER_RULE}")));
        }
        document.budgets = document.budgets.with_watch_default();
        check_budgets(&mut issues, "remedial", &document.budgets.remedial, &REMEDIAL_STAGES);
        check_budgets(&mut issues, "culpability", &document.budgets.culpability, &CULPABILITY_STAGES);
        if issues.is_empty() { Ok(Self { document }) } else { Err(issues) }
    }

    pub fn document(&self) -> &ViolationTypeDocument {
        &self.document
    }

    pub fn code(&self) -> &str {
        &self.document.code
    }
}

/// Trims the Persian and English names, each required and at most [`MAX_NAME_CHARS`].
pub(crate) fn check_names(issues: &mut Vec<FieldIssue>, names: [(&str, &mut String); 2]) {
    for (field, name) in names {
        *name = name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            issues.push(FieldIssue::new(field, format!("is required, up to {MAX_NAME_CHARS} characters")));
        }
    }
}

fn check_basis(issues: &mut Vec<FieldIssue>, i: usize, basis: &mut LegalBasis) {
    let field = |name: &str| format!("legal_bases[{i}].{name}");
    basis.law = basis.law.trim().to_string();
    if basis.law.is_empty() || basis.law.chars().count() > 200 {
        issues.push(FieldIssue::new(field("law"), "is required: the law's title, up to 200 characters"));
    }
    let optional = [
        ("article", &mut basis.article, 50),
        ("clause", &mut basis.clause, 50),
        ("jurisdiction", &mut basis.jurisdiction, 200),
    ];
    for (name, value, max) in optional {
        *value = value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        if value.as_deref().is_some_and(|v| v.chars().count() > max) {
            issues.push(FieldIssue::new(field(name), format!("up to {max} characters, or null")));
        }
    }
}

fn check_budgets(
    issues: &mut Vec<FieldIssue>,
    track: &str,
    budgets: &std::collections::BTreeMap<String, String>,
    stages: &[&str],
) {
    for stage in stages {
        if !budgets.contains_key(*stage) {
            let problem = format!("is required: a budget such as `5d`, `8h` or `PT30S` ({})", stages.join(", "));
            issues.push(FieldIssue::new(format!("budgets.{track}.{stage}"), problem));
        }
    }
    for (stage, budget) in budgets {
        let field = format!("budgets.{track}.{stage}");
        if !stages.contains(&stage.as_str()) {
            issues
                .push(FieldIssue::new(field, format!("is not a stage of this track; they are: {}", stages.join(", "))));
        } else if let Err(error) = Budget::parse(budget) {
            issues.push(FieldIssue::new(field, error.to_string()));
        }
    }
}

/// The shipped catalogue, each type checked.
pub fn catalogue() -> Result<Vec<ViolationType>, String> {
    crate::read_shipped("violation-types.json", CATALOGUE, "violation_types", ViolationType::from_document, |d| {
        d.code.clone()
    })
}

#[cfg(test)]
mod tests;
