//! Reading reference data: every refusal names the file, the line and the field.

use super::*;

fn refusal(files: &[(&str, &str)]) -> String {
    match from_texts(files) {
        Ok(_) => panic!("{files:?} was accepted"),
        Err(text) => text,
    }
}

#[test]
fn json_records_are_named_by_their_line_and_field() {
    let agencies = "{\n \"agencies\": [\n  {\"id\": \"a\", \"name\": \"A\"},\n  {\"id\": \"B C\", \"name\": \"\"},\n  {\"id\": \"d\", \"nme\": \"D\"}\n ]\n}";
    let text = refusal(&[("agencies.json", agencies)]);
    assert!(text.contains("agencies.json line 4: agencies[1].id: "), "{text}");
    assert!(text.contains("agencies.json line 4: agencies[1].name: is required"), "{text}");
    assert!(text.contains("agencies.json line 5: agencies[2].nme: unknown field `nme`"), "{text}");
    let first = text.lines().nth(1).unwrap_or_default();
    assert!(first.contains("line 4"), "the first bad line comes first: {text}");
}

#[test]
fn a_nested_field_is_named_by_its_path() {
    let policies = r#"{"sla_policies": [
  {"id": "p", "stages": [{"stage": "respond", "budget": 5}]}
]}"#;
    let text = refusal(&[("sla-policies.json", policies)]);
    assert!(text.contains("sla-policies.json line 2: sla_policies[0].stages[0].budget: invalid type"), "{text}");
    let policies = r#"{"sla_policies": [{"id": "p", "stages": [{"stage": "respond", "budget": "soon"}]}]}"#;
    let text = refusal(&[("sla-policies.json", policies)]);
    assert!(text.contains("sla-policies.json line 1: sla_policies[0].stages[0].budget: "), "{text}");
}

#[test]
fn a_file_that_is_not_json_or_not_the_right_shape_is_refused_at_its_line() {
    let text = refusal(&[("categories.json", "{\n \"categories\": [\n  {\"code\": \"x\",\n ]\n}")]);
    assert!(text.contains("categories.json line 4: is not valid JSON"), "{text}");
    let text = refusal(&[("categories.json", "[]")]);
    assert!(text.contains("categories.json line 1: must be an object holding only `categories`"), "{text}");
}

#[test]
fn csv_rows_are_named_by_their_line_and_column() {
    let csv = "code,name_fa,name_en,kinds,active\nmunicipal.asphalt,آسفالت,Asphalt,complaint|suggestion,\n\"bad code\",نام,Name,complaint,maybe\n";
    let text = refusal(&[("categories.csv", csv)]);
    assert!(text.contains("categories.csv line 3: code: "), "{text}");
    assert!(text.contains("categories.csv line 3: active: `true`, `false`"), "{text}");
    let good = from_texts(&[("categories.csv", &csv[..csv.find("\"bad").unwrap_or(csv.len())])])
        .unwrap_or_else(|e| panic!("{e}"));
    let categories = good.categories.map(|c| c.records).unwrap_or_default();
    assert_eq!(categories.len(), 1);
    assert_eq!(categories[0].item.kinds, ["complaint", "suggestion"]);
    assert_eq!(categories[0].line, 2);
}

#[test]
fn csv_headers_are_checked_before_the_rows() {
    let text = refusal(&[("agencies.csv", "id,nam,parent_id\na,A,\n")]);
    assert!(text.contains("agencies.csv line 1: nam: is not a column"), "{text}");
    assert!(text.contains("agencies.csv line 1: name: is a required column"), "{text}");
    assert!(!text.contains("line 2"), "rows are not read under a bad header: {text}");
    let rules = from_texts(&[("routing-rules.csv", "category,area,agency_id\nmunicipal,*,tehran-municipality\n")])
        .unwrap_or_else(|e| panic!("{e}"));
    let rules = rules.routing_rules.map(|r| r.records).unwrap_or_default();
    assert_eq!(rules[0].item.area, "*");
}

#[test]
fn unknown_or_doubled_files_are_refused_so_a_misspelt_name_is_not_skipped() {
    let empty_rules = "{\"routing_rules\": []}";
    let text = refusal(&[("routing-rule.json", empty_rules)]);
    assert!(text.contains("routing-rule.json: is not a reference-data file; the files are: "), "{text}");
    let text = refusal(&[("routing-rules.json", empty_rules), ("routing-rules.csv", "category,area,agency_id\n")]);
    assert!(text.contains("routing rules come from one file"), "{text}");
}

#[test]
fn the_summary_counts_each_file_and_lists_its_changes() {
    let mut report = apply::FileReport {
        file: "agencies.json".into(),
        noun: "agencies",
        created: 1,
        updated: 1,
        unchanged: 1,
        changes: vec!["+ district-23".into(), "~ district-06: name, areas".into()],
    };
    let text = summarised(std::slice::from_ref(&report), true);
    assert!(text.starts_with("dry run: checked against the stored data, nothing was written"), "{text}");
    assert!(text.contains("agencies.json: 3 agencies: 1 to create, 1 to update, 1 unchanged\n  + district-23\n  ~ district-06: name, areas"), "{text}");
    report.changes.clear();
    assert_eq!(summarised(&[report], false), "agencies.json: 3 agencies: 1 created, 1 updated, 1 unchanged");
}

#[test]
fn a_violation_type_is_checked_as_the_admin_api_checks_it() {
    let types = r#"{"violation_types": [
  {"code": "x", "name_fa": "x", "name_en": "x", "legal_bases": [], "remedial_actions": ["fine"],
   "counterpart_unit": "u", "budgets": {"remedial": {}, "culpability": {}}}
]}"#;
    let text = refusal(&[("violation-types.json", types)]);
    assert!(text.contains("violation-types.json line 2: violation_types[0].legal_bases: at least one"), "{text}");
    assert!(text.contains("violation_types[0].budgets.remedial.referred: is required"), "{text}");
}
