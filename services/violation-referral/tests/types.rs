//! The violation-type catalogue and the counterpart units it names: the shipped ones stored
//! once (an admin's edits kept), read by any caller, created or replaced by admins with every
//! bad field named. PostgreSQL when
//! NAZER_TEST_DATABASE_URL is set; SQLite otherwise.

use chrono::Utc;
use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::{api_key, write};
use nazer_shared::testing::{ADMIN_KEY, TestApp, problem_fields};
use nazer_violation_referral::types::store;
use serde_json::{Value, json};

const TYPES: &str = "/api/v1/violation-types";

fn lighting() -> Value {
    json!({
        "code": "municipal.street-lighting-neglect",
        "name_fa": "قصور در نگهداری روشنایی معابر",
        "name_en": "Neglected street lighting",
        "legal_bases": [{"law": "قانون رسیدگی به تخلفات اداری", "article": "8", "clause": "14"}],
        "remedial_actions": ["service_delivery"],
        "counterpart_unit": "inspection-urban-services",
        "budgets": {
            "remedial": {"referred": "2d", "decided": "3d", "executed": "5d", "verdict": "2d"},
            "culpability": {"findings_recorded": "10d", "at_committee": "5d", "decided": "30d", "outcome_recorded": "30d", "closed": "60d"}
        }
    })
}

fn codes(list: &Value) -> Vec<String> {
    list["violation_types"]
        .as_array()
        .map(|t| t.iter().filter_map(|t| t["code"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_ships_its_types_and_admins_maintain_it() {
    let mut app = TestApp::start(&[nazer_violation_referral::SERVICE]).await;
    let agency = api_key(&app, &[Scope::Agency], Some("district-06-municipality"));
    let supervisor = api_key(&app, &[Scope::Supervisor], None);

    // Shipped: stored once; a second seeding stores nothing, and keeps an admin's edit.
    assert_eq!(write(&app, |conn| store::seed_catalogue(conn, Utc::now())), store::Seeded { units: 4, types: 6 });
    let (status, list) = app.get(TYPES, &agency).await;
    assert_eq!(status, 200, "{list}");
    assert!(codes(&list).contains(&"building.unauthorized".to_string()), "{list}");
    let (status, building) = app.get(&format!("{TYPES}/building.unauthorized"), &supervisor).await;
    assert_eq!(status, 200, "{building}");
    assert_eq!(
        building["legal_bases"][0],
        json!({"law": "قانون شهرداری‌ها", "article": "100", "clause": null, "jurisdiction": null})
    );
    let mut edited = building.clone();
    edited["budgets"]["remedial"]["referred"] = json!("PT30S");
    let (status, body) = app.put(&format!("{TYPES}/building.unauthorized"), ADMIN_KEY, &edited).await;
    assert_eq!((status, &body["budgets"]["remedial"]["referred"]), (200, &json!("PT30S")), "{body}");
    assert_eq!(write(&app, |conn| store::seed_catalogue(conn, Utc::now())), store::Seeded { units: 0, types: 0 });
    let (_, kept) = app.get(&format!("{TYPES}/building.unauthorized"), &agency).await;
    assert_eq!(kept["budgets"]["remedial"]["referred"], "PT30S", "an admin's edit is kept");

    // Created, then replaced.
    let path = format!("{TYPES}/municipal.street-lighting-neglect");
    let (status, body) = app.put(&path, ADMIN_KEY, &lighting()).await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = app.put(&path, ADMIN_KEY, &lighting()).await;
    assert_eq!(status, 200);
    let (_, list) = app.get(TYPES, ADMIN_KEY).await;
    assert_eq!(codes(&list).len(), 7);

    // Every bad field named; nothing changes.
    let mut bad = lighting();
    bad["legal_bases"] = json!([{"law": " ", "article": "8"}]);
    bad["budgets"]["remedial"]["decided"] = json!("soon");
    bad["budgets"]["culpability"] = json!({"findings_recorded": "10d"});
    let (status, body) = app.put(&path, ADMIN_KEY, &bad).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        problem_fields(&body),
        [
            "legal_bases[0].law",
            "budgets.remedial.decided",
            "budgets.culpability.at_committee",
            "budgets.culpability.decided",
            "budgets.culpability.outcome_recorded",
            "budgets.culpability.closed"
        ]
    );
    let (status, body) = app.put(&format!("{TYPES}/other"), ADMIN_KEY, &lighting()).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["code".to_string()]), "{body}");
    let (_, unchanged) = app.get(&path, ADMIN_KEY).await;
    assert_eq!(unchanged, app.put(&path, ADMIN_KEY, &lighting()).await.1);

    // A type names a stored counterpart unit; units are maintained as the types are.
    let mut orphan = lighting();
    orphan["counterpart_unit"] = json!("inspection-nowhere");
    let (status, body) = app.put(&path, ADMIN_KEY, &orphan).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["counterpart_unit".to_string()]), "{body}");
    let (status, units) = app.get("/api/v1/counterpart-units", &agency).await;
    assert_eq!(status, 200, "{units}");
    assert_eq!(units["counterpart_units"].as_array().map(Vec::len), Some(4), "{units}");
    let unit = json!({"id": "inspection-nowhere", "name_fa": "واحد نمونه", "name_en": "Sample unit"});
    let (status, body) = app.put("/api/v1/counterpart-units/inspection-nowhere", ADMIN_KEY, &unit).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(app.put("/api/v1/counterpart-units/inspection-nowhere", ADMIN_KEY, &unit).await.0, 200);
    assert_eq!(app.put(&path, ADMIN_KEY, &orphan).await.0, 200, "the unit now exists");
    let bad_unit = json!({"id": "inspection-nowhere", "name_fa": " ", "name_en": "x"});
    let (status, body) = app.put("/api/v1/counterpart-units/inspection-nowhere", ADMIN_KEY, &bad_unit).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["name_fa".to_string()]), "{body}");
    let (status, _) = app.put("/api/v1/counterpart-units/inspection-nowhere", &agency, &unit).await;
    assert_eq!(status, 403);

    // Admins only write; every caller with a key reads; nobody without one.
    for key in [&agency, &supervisor] {
        let (status, body) = app.put(&path, key, &lighting()).await;
        assert_eq!(status, 403, "{body}");
    }
    let (status, _) = app.get(TYPES, "no-such-key-0123456789").await;
    assert_eq!(status, 401);
    let (status, body) = app.get(&format!("{TYPES}/no-such-type"), &agency).await;
    assert_eq!(status, 404, "{body}");
    app.stop().await;
}
