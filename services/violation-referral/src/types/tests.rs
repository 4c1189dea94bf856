//! Violation types: the shipped catalogue reads, and a bad document is refused field by field.

use super::*;

fn building() -> ViolationTypeDocument {
    serde_json::from_value(serde_json::json!({
        "code": " building.unauthorized ",
        "name_fa": "ساخت‌وساز غیرمجاز",
        "name_en": "Unauthorized building",
        "legal_bases": [{"law": "قانون شهرداری‌ها", "article": "100", "clause": " "}],
        "remedial_actions": ["demolition", "fine"],
        "counterpart_unit": "inspection-urban-planning",
        "budgets": {
            "remedial": {"referred": "10d", "decided": "30d", "executed": "PT30S", "verdict": "8h"},
            "culpability": {"findings_recorded": "15d", "at_committee": "10d", "decided": "30d", "outcome_recorded": "30d", "closed": "60d"}
        }
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn fields(document: ViolationTypeDocument) -> Vec<String> {
    ViolationType::from_document(document).err().unwrap_or_default().into_iter().map(|i| i.field).collect()
}

#[test]
fn the_shipped_catalogue_reads_with_its_legal_bases() {
    let types = catalogue().unwrap_or_else(|e| panic!("{e}"));
    let codes: Vec<&str> = types.iter().map(ViolationType::code).collect();
    for code in ["building.unauthorized", "building.change-of-use", "tender.irregular", "administrative.delay"] {
        assert!(codes.contains(&code), "{code} ships");
    }
    let mut unique = codes.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), codes.len(), "each code once");
    let building = &types[codes.iter().position(|c| *c == "building.unauthorized").unwrap_or_default()];
    let basis = &building.document().legal_bases[0];
    assert_eq!((basis.law.as_str(), basis.article.as_deref()), ("قانون شهرداری‌ها", Some("100")));
}

#[test]
fn a_good_document_is_trimmed_and_empty_optionals_are_none() {
    let checked = ViolationType::from_document(building()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(checked.code(), "building.unauthorized");
    assert_eq!(checked.document().legal_bases[0].clause, None);
}

#[test]
fn every_bad_field_is_named_by_its_path() {
    let mut document = building();
    document.code = "Bad Code".into();
    document.name_en = " ".into();
    document.legal_bases[0].law = String::new();
    document.remedial_actions = vec!["fine".into(), "fine".into(), "x y".into()];
    document.counterpart_unit = String::new();
    document.budgets.remedial.remove("verdict");
    document.budgets.remedial.insert("decided".into(), "soon".into());
    document.budgets.culpability.insert("appeal".into(), "3d".into());
    assert_eq!(
        fields(document),
        [
            "code",
            "name_en",
            "legal_bases[0].law",
            "remedial_actions[1]",
            "remedial_actions[2]",
            "counterpart_unit",
            "budgets.remedial.verdict",
            "budgets.remedial.decided",
            "budgets.culpability.appeal",
        ]
    );
    let mut empty = building();
    (empty.legal_bases, empty.remedial_actions) = (Vec::new(), Vec::new());
    assert_eq!(fields(empty), ["legal_bases", "remedial_actions"]);
}

#[test]
fn a_type_without_a_watch_budget_watches_the_outcome_as_long_as_it_waited_for_it() {
    let mut document = building();
    document.budgets.culpability.remove("closed");
    let checked = ViolationType::from_document(document).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(checked.document().budgets.culpability.get("closed").map(String::as_str), Some("30d"));
    let mut document = building();
    document.budgets.culpability.insert("closed".into(), "soon".into());
    assert_eq!(fields(document), ["budgets.culpability.closed"]);
}
