//! The example reference data of Tehran's 1888, imported into an empty installation through the
//! admin API — areas, categories, agencies, routing rules — and then messages located by a
//! point alone reach the municipality of the district whose (illustrative) boundary holds it;
//! on SQLite, and on PostgreSQL/RabbitMQ when pointed at them.

use std::time::Duration;

use nazer_shared::testing::{ADMIN_KEY, TestApp, eventually};
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
    let agencies = parse(AGENCIES);
    for (n, agency) in list(&agencies, "agencies").iter().enumerate() {
        let body = json!({ "id": agency["id"], "name": agency["name"], "parent_id": agency["parent"],
                           "areas": agency["areas"] });
        if n == 0 {
            // Routing learns of the areas from intake's event: the first agency waits for it.
            eventually(Duration::from_secs(20), "routing to know the imported areas", || async {
                let (status, _) = app.post("/api/v1/agencies", ADMIN_KEY, &body).await;
                (status == 201).then_some(())
            })
            .await;
            continue;
        }
        let (status, reply) = app.post("/api/v1/agencies", ADMIN_KEY, &body).await;
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
