//! An agency as an admin or a reference-data file gives it, checked before anything is stored:
//! the same rules for `POST`, `PUT` and `nazer import`.

use nazer_shared::http::{FieldIssue, IDENTIFIER_RULE, is_identifier};

use crate::store;

/// How many areas an agency may declare; a larger area covers many of its parts.
pub const MAX_AGENCY_AREAS: usize = 500;

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// An area code as the API reads it: trimmed, case aside.
pub fn area_code(text: &str) -> String {
    text.trim().to_ascii_lowercase()
}

/// The areas of a request (`areas`), read as codes: each well-formed and listed once.
pub fn requested_areas(areas: Vec<String>, issues: &mut Vec<FieldIssue>) -> Vec<String> {
    if areas.len() > MAX_AGENCY_AREAS {
        issues.push(FieldIssue::new(
            "areas",
            format!("at most {MAX_AGENCY_AREAS} areas; declare the area that holds them instead"),
        ));
    }
    let codes: Vec<String> = areas.iter().map(|a| area_code(a)).collect();
    for (i, code) in codes.iter().enumerate() {
        if !is_identifier(code) {
            issues.push(FieldIssue::new(format!("areas[{i}]"), store::unknown_area(code)));
        } else if codes[..i].contains(code) {
            issues.push(FieldIssue::new(format!("areas[{i}]"), format!("`{code}` is listed twice")));
        }
    }
    codes
}

/// An agency's fields, well-formed; whether its parent and areas exist is the store's to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyDraft {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub areas: Vec<String>,
}

impl AgencyDraft {
    /// Trims the fields (an empty parent is none) and names every bad one at once.
    pub fn checked(id: &str, name: &str, parent_id: Option<&str>, areas: Vec<String>) -> Result<Self, Vec<FieldIssue>> {
        let mut issues = Vec::new();
        let id = id.trim().to_string();
        if !is_identifier(&id) {
            issues.push(FieldIssue::new("id", IDENTIFIER_RULE));
        }
        let name = name.trim().to_string();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            issues.push(FieldIssue::new("name", format!("is required, up to {MAX_NAME_CHARS} characters")));
        }
        let parent_id = parent_id.map(str::trim).filter(|p| !p.is_empty()).map(str::to_string);
        if parent_id.as_deref().is_some_and(|p| !is_identifier(p)) {
            issues.push(FieldIssue::new("parent_id", format!("the id of an existing agency: {IDENTIFIER_RULE}")));
        } else if parent_id.as_deref() == Some(id.as_str()) {
            issues.push(FieldIssue::new("parent_id", "an agency cannot be its own parent"));
        }
        let areas = requested_areas(areas, &mut issues);
        if issues.is_empty() { Ok(Self { id, name, parent_id, areas }) } else { Err(issues) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(result: Result<AgencyDraft, Vec<FieldIssue>>) -> Vec<String> {
        result.err().unwrap_or_default().into_iter().map(|i| i.field).collect()
    }

    #[test]
    fn a_well_formed_agency_is_trimmed_and_its_areas_read_as_codes() {
        let draft =
            AgencyDraft::checked(" district-06 ", " شهرداری منطقه ۶ ", Some(""), vec![" Tehran-District-06".into()]);
        assert_eq!(
            draft,
            Ok(AgencyDraft {
                id: "district-06".into(),
                name: "شهرداری منطقه ۶".into(),
                parent_id: None,
                areas: vec!["tehran-district-06".into()],
            })
        );
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let long = "ن".repeat(MAX_NAME_CHARS + 1);
        let areas = vec!["tehran".into(), "TEHRAN".into(), "no such area!".into()];
        assert_eq!(
            fields(AgencyDraft::checked("Bad Id", &long, Some("x y"), areas)),
            ["id", "name", "parent_id", "areas[1]", "areas[2]"]
        );
        assert_eq!(fields(AgencyDraft::checked("a", "A", Some("a"), vec![])), ["parent_id"]);
        let many = (0..=MAX_AGENCY_AREAS).map(|i| format!("area-{i}")).collect();
        assert_eq!(fields(AgencyDraft::checked("a", "A", None, many)), ["areas"]);
    }
}
