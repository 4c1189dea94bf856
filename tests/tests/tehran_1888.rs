//! The example reference data of Tehran's 1888, imported into an empty installation — through
//! the admin API, and by `nazer import DIR`, all or nothing — and then messages located by a
//! point alone reach the municipality of the district whose (illustrative) boundary holds it;
//! on SQLite, and on PostgreSQL/RabbitMQ when pointed at them.

mod support;

use std::time::Duration;

use std::path::{Path, PathBuf};

use nazer_shared::testing::{ADMIN_KEY, TestApp, TestDatabase, eventually};
use serde_json::{Value, json};

const AREAS: &str = include_str!("../../services/nazer/reference-data/tehran-1888/areas.geojson");
const CATEGORIES: &str = include_str!("../../services/nazer/reference-data/tehran-1888/categories.json");
const AGENCIES: &str = include_str!("../../services/nazer/reference-data/tehran-1888/agencies.json");
const RULES: &str = include_str!("../../services/nazer/reference-data/tehran-1888/routing-rules.json");

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("reference data: {e}"))
}

fn list<'a>(value: &'a Value, key: &str) -> &'a Vec<Value> {
    value[key].as_array().unwrap_or_else(|| panic!("reference data without `{key}`"))
}

/// Imports every file through the API, as an admin would on an empty installation.
async fn import(app: &TestApp) {
    let (status, body) = app.put("/api/v1/areas", ADMIN_KEY, &parse(AREAS)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], 23, "the city and its 22 districts: {body}");
    for category in list(&parse(CATEGORIES), "categories") {
        let code = category["code"].as_str().unwrap_or_default();
        let mut document = category.clone();
        document.as_object_mut().map(|fields| fields.remove("code"));
        let (status, body) = app.put(&format!("/api/v1/categories/{code}"), ADMIN_KEY, &document).await;
        assert_eq!(status, 200, "{code}: {body}");
    }
    // Each agency at its id, as `nazer import` loads agencies.json.
    for (n, agency) in list(&parse(AGENCIES), "agencies").iter().enumerate() {
        let id = agency["id"].as_str().unwrap_or_default();
        let path = format!("/api/v1/agencies/{id}");
        let body = json!({ "name": agency["name"], "parent_id": agency["parent_id"], "areas": agency["areas"] });
        if n == 0 {
            // Routing learns of the areas from intake's event: the first agency waits for it.
            eventually(Duration::from_secs(20), "routing to know the imported areas", || async {
                let (status, _) = app.put(&path, ADMIN_KEY, &body).await;
                (status == 201).then_some(())
            })
            .await;
            continue;
        }
        let (status, reply) = app.put(&path, ADMIN_KEY, &body).await;
        assert_eq!(status, 201, "{body}: {reply}");
    }
    for rule in list(&parse(RULES), "routing_rules") {
        let (status, reply) = app.post("/api/v1/routing-rules", ADMIN_KEY, rule).await;
        assert_eq!(status, 201, "{rule}: {reply}");
    }
}

/// The mean of a district's boundary's vertices: inside it, as every demo cell is convex.
fn inside(feature: &Value) -> (f64, f64) {
    let ring = feature["geometry"]["coordinates"][0].as_array().cloned().unwrap_or_default();
    let open = &ring[..ring.len().saturating_sub(1)];
    let count = open.len().max(1) as f64;
    let long = open.iter().filter_map(|p| p[0].as_f64()).sum::<f64>() / count;
    let lat = open.iter().filter_map(|p| p[1].as_f64()).sum::<f64>() / count;
    (lat, long)
}

async fn post(app: &TestApp, category: &str, place: Value) -> String {
    let mut message = json!({ "kind": "complaint", "channel": "web", "category": category,
                              "body": "چاله‌ای بزرگ وسط خیابان" });
    for (key, value) in place.as_object().cloned().unwrap_or_default() {
        message[key] = value;
    }
    let (status, receipt) = app.post("/api/v1/messages", ADMIN_KEY, &message).await;
    assert_eq!(status, 201, "{message}: {receipt}");
    receipt["tracking_code"].as_str().unwrap_or_default().to_string()
}

async fn assigned_to(app: &TestApp, code: &str) -> (String, Value) {
    eventually(Duration::from_secs(20), "the message to be assigned", || async {
        let (_, view) = app.get(&format!("/api/v1/messages/{code}"), ADMIN_KEY).await;
        let agency = view["assigned_agency"]["id"].as_str().map(str::to_string)?;
        Some((agency, view))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_alone_reaches_the_municipality_of_its_district() {
    let app = TestApp::start(&[nazer_intake::SERVICE, nazer_routing::SERVICE]).await;
    import(&app).await;

    let areas = parse(AREAS);
    let districts: Vec<&Value> =
        list(&areas, "features").iter().filter(|f| f["properties"]["level"] == "district").collect();
    assert_eq!(districts.len(), 22);
    for district in districts {
        let area = district["properties"]["code"].as_str().unwrap_or_default();
        assert_eq!(district["properties"]["illustrative"], true, "{area}: demo boundaries are marked illustrative");
        let (lat, long) = inside(district);
        let code = post(&app, "municipal.asphalt", json!({ "location": { "lat": lat, "long": long } })).await;
        let (agency, view) = assigned_to(&app, &code).await;
        let number = area.trim_start_matches("tehran-district-");
        assert_eq!(agency, format!("district-{number}-municipality"), "a point in {area}: {view}");
        let path: Vec<&str> = view["area_path"]
            .as_array()
            .map(|p| p.iter().filter_map(|s| s["code"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(path, ["tehran", "tehran-city", area]);
    }

    // A category the districts do not handle goes to its organization, wherever the point.
    let metro = post(&app, "transport.metro", json!({ "location": { "lat": 35.722, "long": 51.398 } })).await;
    assert_eq!(assigned_to(&app, &metro).await.0, "metro-operation");
    // A message placed by its province alone, as older clients send it, reaches the municipality.
    let old_client = post(&app, "municipal.asphalt", json!({ "province": "tehran" })).await;
    assert_eq!(assigned_to(&app, &old_client).await.0, "tehran-municipality");
    // Agencies show the areas they serve.
    let (status, agency) = app.get("/api/v1/agencies/district-06-municipality", ADMIN_KEY).await;
    assert_eq!(status, 200, "{agency}");
    assert_eq!(agency["areas"], json!(["tehran-district-06"]));
}

/// The example directory, as an operator would point `nazer import` at it.
fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../services/nazer/reference-data/tehran-1888")
}

/// `nazer import DIR [extra…]` on `database`: whether it succeeded, and what it said.
fn nazer_import(database: &TestDatabase, dir: &Path, extra: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(support::binary("nazer"))
        .arg("import")
        .arg(dir)
        .args(extra)
        .current_dir(dir)
        .env("NAZER__DATABASE__URL", &database.url)
        .output()
        .unwrap_or_else(|e| panic!("nazer import: {e}"));
    let shown = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), shown)
}

/// A copy of the example directory with `agencies.json` changed by `edit`.
fn copy_with_agencies(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
    for entry in std::fs::read_dir(example_dir()).unwrap_or_else(|e| panic!("example directory: {e}")) {
        let path = entry.unwrap_or_else(|e| panic!("example directory: {e}")).path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = if name == "agencies.json" { edit(&text) } else { text };
        std::fs::write(copy.path().join(&name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    copy
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nazer_import_loads_the_example_into_an_empty_database_all_or_nothing() {
    let database = TestDatabase::create();
    // One agency names a parent that does not exist, after every good category, area and
    // agency before it: nothing is written, and its line is named.
    let broken = copy_with_agencies(|text| {
        text.replacen("\"parent_id\": \"deputy-urban-services\"", "\"parent_id\": \"no-such-agency\"", 1)
    });
    let broken_text = std::fs::read_to_string(broken.path().join("agencies.json")).unwrap_or_default();
    let bad = broken_text.lines().position(|l| l.contains("no-such-agency")).unwrap_or_default();
    let opens = broken_text.lines().take(bad).enumerate().filter(|(_, l)| l.trim() == "{").last();
    let line = opens.map(|(i, _)| i + 1).unwrap_or_default();
    let (ok, shown) = nazer_import(&database, broken.path(), &[]);
    assert!(!ok, "{shown}");
    let first = shown.lines().find(|l| l.contains("agencies.json line")).unwrap_or_default();
    assert!(
        first.contains(&format!("agencies.json line {line}: agencies["))
            && first.contains("].parent_id: parent agency `no-such-agency` does not exist"),
        "the first bad line is named: {shown}"
    );

    // Nothing was half-written: a dry run still finds everything to create, and writes nothing.
    for _ in 0..2 {
        let (ok, shown) = nazer_import(&database, &example_dir(), &["--dry-run"]);
        assert!(ok, "{shown}");
        for counted in [
            "13 categories: 13 to create",
            "23 areas: 23 to create",
            "32 agencies: 32 to create",
            "4 SLA policies: 4 to create",
        ] {
            assert!(shown.contains(counted), "{counted} in\n{shown}");
        }
    }
    let (ok, shown) = nazer_import(&database, &example_dir(), &[]);
    assert!(ok && shown.contains("32 agencies: 32 created"), "{shown}");
    let (ok, shown) = nazer_import(&database, &example_dir(), &[]);
    assert!(ok, "{shown}");
    for again in [
        "13 categories: 0 created, 0 updated, 13 unchanged",
        "23 areas: 0 created, 0 updated, 23 unchanged",
        "routing rules: 0 created, 0 updated",
    ] {
        assert!(shown.contains(again), "an import is idempotent: {again} in\n{shown}");
    }
    // An agency renamed is an update, shown by the dry run.
    let renamed = copy_with_agencies(|text| text.replacen("شهرداری منطقه ۶", "شهرداری منطقه شش", 1));
    let (ok, shown) = nazer_import(&database, renamed.path(), &["--dry-run"]);
    assert!(ok && shown.contains("~ district-06-municipality: name"), "{shown}");

    // The demo flow on what was imported: a point in District 6 reaches its municipality,
    // whose clock runs on the example's policy and calendar, and which answers.
    let entries = [nazer_intake::SERVICE, nazer_routing::SERVICE, nazer_deadline_timer::SERVICE];
    let app = TestApp::start_on(database, &entries, |_| {}).await;
    let code = post(&app, "municipal.asphalt", json!({ "location": { "lat": 35.722, "long": 51.398 } })).await;
    let (agency, view) = assigned_to(&app, &code).await;
    assert_eq!(agency, "district-06-municipality", "{view}");
    let message_id = view["id"].as_str().unwrap_or_default().to_string();
    let deadline = eventually(Duration::from_secs(20), "the district's clock to start", || async {
        let (_, page) = app.get(&format!("/api/v1/deadlines?message_id={message_id}"), ADMIN_KEY).await;
        page["deadlines"].as_array().and_then(|d| d.iter().find(|d| d["stage"] == "respond").cloned())
    })
    .await;
    assert_eq!(
        (deadline["policy_id"].clone(), deadline["calendar_id"].clone()),
        (json!("tehran-1888-default"), json!("iran-gov-1405"))
    );
    let key = json!({ "name": "district 6 portal", "scopes": ["agency"], "agency_id": "district-06-municipality" });
    let (status, created) = app.post("/api/v1/api-keys", ADMIN_KEY, &key).await;
    assert_eq!(status, 201, "{created}");
    let district = created["secret"].as_str().unwrap_or_default().to_string();
    let answer = json!({ "outcome": "resolved", "body": "لکه‌گیری انجام شد" });
    let (status, reply) = app.post(&format!("/api/v1/messages/{code}/responses"), &district, &answer).await;
    assert_eq!(status, 201, "{reply}");
}

/// Writes `files` (name, text) into a new directory.
fn directory_of(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temporary directory: {e}"));
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    dir
}

#[tokio::test]
async fn nazer_import_loads_calendars_policies_and_csv_files_in_one_run() {
    let database = TestDatabase::create();
    let calendar = |holidays: Value| {
        json!({"calendars": [{"id": "tehran-municipality", "timezone": "Asia/Tehran",
            "weekly_days_off": ["friday"], "working_hours": [{"from": "07:00", "to": "15:00"}],
            "holidays": holidays,
            "closures": [{"date": "1405-09-20", "province": null, "area": "tehran-district-06", "reason": "آلودگی هوا"}]}]})
        .to_string()
    };
    // The policy counts on the calendar and the closure names an area, both loaded in this run.
    let policies = json!({"sla_policies": [{"id": "district-asphalt", "category": "municipal.asphalt",
        "calendar": "tehran-municipality", "stages": [{"stage": "respond", "budget": "3d"}]}]})
    .to_string();
    let agencies = "id,name,parent_id,areas\ntehran-municipality,شهرداری تهران,,tehran-city\n\
                    district-06-municipality,\"شهرداری منطقه ۶\",tehran-municipality,tehran-district-06|tehran-city\n";
    // A shipped violation type with budgets of its own: an update of what `nazer migrate` stored.
    let building: Value = json!({"violation_types": [{"code": "building.unauthorized",
        "name_fa": "ساخت‌وساز بدون پروانه یا مازاد بر پروانه", "name_en": "Building without a permit or beyond it",
        "legal_bases": [{"law": "قانون شهرداری‌ها", "article": "100"}], "remedial_actions": ["demolition", "fine"],
        "counterpart_unit": "inspection-urban-planning",
        "budgets": {"remedial": {"referred": "5d", "decided": "20d", "executed": "20d", "verdict": "3d"},
            "culpability": {"findings_recorded": "10d", "at_committee": "5d", "decided": "20d", "outcome_recorded": "20d", "closed": "60d"}}}]});
    // A counterpart unit of its own, beside the shipped ones.
    let units = json!({"counterpart_units": [{"id": "inspection-transport",
        "name_fa": "معاونت نظیر حمل و نقل و ترافیک", "name_en": "Counterpart unit for transport and traffic"}]});
    let files = |holidays: Value| {
        directory_of(&[
            ("areas.geojson", AREAS.to_string()),
            ("categories.json", CATEGORIES.to_string()),
            ("agencies.csv", agencies.to_string()),
            ("calendars.json", calendar(holidays)),
            ("sla-policies.json", policies.clone()),
            ("violation-types.json", building.to_string()),
            ("counterpart-units.json", units.to_string()),
        ])
    };
    let first = files(json!([]));
    let (ok, shown) = nazer_import(&database, first.path(), &[]);
    assert!(ok, "{shown}");
    for created in [
        "2 agencies: 2 created",
        "1 calendars: 1 created",
        "1 SLA policies: 1 created",
        "1 violation types: 0 created, 1 updated",
        "1 counterpart units: 1 created",
        "~ building.unauthorized: budgets",
    ] {
        assert!(shown.contains(created), "{created} in\n{shown}");
    }
    let (ok, shown) = nazer_import(&database, first.path(), &[]);
    assert!(ok && shown.contains("1 calendars: 0 created, 0 updated, 1 unchanged"), "{shown}");

    // A holiday added: the calendar is updated, and the run says how many deadlines moved.
    let second = files(json!([{"date": "1405-09-25", "name": "تعطیل"}]));
    let (ok, shown) = nazer_import(&database, second.path(), &[]);
    assert!(ok && shown.contains("~ tehran-municipality (0 pending deadlines moved): holidays"), "{shown}");

    // A CSV row refused names its line; the calendars and policies after it are not written.
    let broken = directory_of(&[
        ("agencies.csv", format!("{agencies}district-07-municipality,منطقه ۷,no-such-agency,\n")),
        ("calendars.json", calendar(json!([]))),
    ]);
    let (ok, shown) = nazer_import(&database, broken.path(), &[]);
    assert!(!ok && shown.contains("agencies.csv line 4: parent_id: parent agency `no-such-agency`"), "{shown}");
    let (ok, shown) = nazer_import(&database, second.path(), &["--dry-run"]);
    assert!(ok && shown.contains("1 calendars: 0 to create, 0 to update, 1 unchanged"), "nothing written: {shown}");
}
