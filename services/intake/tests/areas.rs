//! Areas through intake's API: importing a GeoJSON FeatureCollection (all or nothing), reading
//! the tree back as a list, one area and GeoJSON, and locating posted messages by area code,
//! point or province — on SQLite, and on PostgreSQL/RabbitMQ when pointed at them.

use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::api_key;
use nazer_shared::testing::{ADMIN_KEY, TestApp};
use serde_json::{Value, json};

const CATEGORY: &str = "municipal.asphalt";

fn square(west: f64, south: f64, east: f64, north: f64) -> Value {
    json!({ "type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]] })
}

fn feature(code: &str, parent: &str, level: &str, name_fa: &str, geometry: Value) -> Value {
    json!({ "type": "Feature", "properties": { "code": code, "parent": parent, "level": level, "name_fa": name_fa,
        "name_en": code, "illustrative": true }, "geometry": geometry })
}

/// A city of Tehran with two districts side by side (sharing the meridian 51.40) and a
/// neighbourhood inside district 6.
fn tehran() -> Value {
    json!({ "type": "FeatureCollection", "features": [
        feature("tehran-city", "tehran", "city", "شهر تهران", square(51.2, 35.6, 51.6, 35.8)),
        feature("tehran-district-05", "tehran-city", "district", "منطقه ۵", square(51.3, 35.7, 51.4, 35.8)),
        feature("tehran-district-06", "tehran-city", "district", "منطقه ۶", square(51.4, 35.7, 51.5, 35.8)),
        feature("yusef-abad", "tehran-district-06", "neighbourhood", "یوسف‌آباد", square(51.41, 35.72, 51.42, 35.73)),
    ]})
}

async fn start() -> TestApp {
    let app = TestApp::start(&[nazer_intake::SERVICE]).await;
    let category = json!({ "name_fa": "لکه‌گیری آسفالت", "name_en": "Asphalt patching", "kinds": ["complaint"] });
    let (status, body) = app.put(&format!("/api/v1/categories/{CATEGORY}"), ADMIN_KEY, &category).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.put("/api/v1/areas", ADMIN_KEY, &tehran()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "created": 4, "updated": 0, "unchanged": 0 }));
    app
}

fn message(place: Value) -> Value {
    let mut body = json!({ "kind": "complaint", "channel": "call_center", "category": CATEGORY,
                           "body": "چاله بزرگ در خیابان" });
    for (key, value) in place.as_object().cloned().unwrap_or_default() {
        body[key] = value;
    }
    body
}

async fn post(app: &TestApp, place: Value) -> (u16, Value) {
    app.post("/api/v1/messages", ADMIN_KEY, &message(place)).await
}

async fn area_path(app: &TestApp, place: Value) -> Vec<String> {
    let (status, receipt) = post(app, place).await;
    assert_eq!(status, 201, "{receipt}");
    let code = receipt["tracking_code"].as_str().unwrap_or_default().to_string();
    let (status, view) = app.get(&format!("/api/v1/messages/{code}"), ADMIN_KEY).await;
    assert_eq!(status, 200, "{view}");
    let steps = view["area_path"].as_array().cloned().unwrap_or_default();
    let codes = steps.iter().map(|s| s["code"].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>();
    assert_eq!(view["area"].as_str(), codes.last().map(String::as_str), "{view}");
    assert_eq!(view["province"].as_str(), codes.first().map(String::as_str), "{view}");
    codes
}

fn fields(body: &Value) -> Vec<String> {
    let errors = body["errors"].as_array().cloned().unwrap_or_default();
    errors.iter().map(|e| e["field"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_locates_a_message_in_the_deepest_area_that_holds_it() {
    let app = start().await;
    let point = |lat: f64, long: f64| json!({ "location": { "lat": lat, "long": long } });
    assert_eq!(area_path(&app, point(35.75, 51.45)).await, ["tehran", "tehran-city", "tehran-district-06"]);
    assert_eq!(
        area_path(&app, point(35.725, 51.415)).await,
        ["tehran", "tehran-city", "tehran-district-06", "yusef-abad"]
    );
    assert_eq!(area_path(&app, point(35.65, 51.25)).await, ["tehran", "tehran-city"]);
    // By code, by province as older clients send it, and both agreeing: the deeper wins.
    let district = json!({ "area": "tehran-district-05" });
    assert_eq!(area_path(&app, district).await, ["tehran", "tehran-city", "tehran-district-05"]);
    assert_eq!(area_path(&app, json!({ "province": "tehran" })).await, ["tehran"]);
    let both = json!({ "province": "tehran", "area": "tehran-city", "location": { "lat": 35.75, "long": 51.35 } });
    assert_eq!(area_path(&app, both).await, ["tehran", "tehran-city", "tehran-district-05"]);

    // The view names every step in Persian.
    let (_, receipt) = post(&app, point(35.725, 51.415)).await;
    let (_, view) =
        app.get(&format!("/api/v1/messages/{}", receipt["tracking_code"].as_str().unwrap_or("")), ADMIN_KEY).await;
    let names: Vec<&str> = view["area_path"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["name_fa"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["تهران", "شهر تهران", "منطقه ۶", "یوسف‌آباد"]);

    // Lists filter by an area and everything under it.
    let (status, list) = app.get("/api/v1/messages?area=tehran-district-06", ADMIN_KEY).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["messages"].as_array().map(Vec::len), Some(3), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn places_that_disagree_or_locate_nothing_are_refused_by_field() {
    let app = start().await;
    let cases = [
        (json!({ "area": "tehran-district-06", "location": { "lat": 35.75, "long": 51.35 } }), "location"),
        (json!({ "province": "isfahan", "area": "tehran-district-06" }), "province"),
        (json!({ "location": { "lat": 32.65, "long": 51.67 } }), "location"),
        (json!({ "area": "atlantis" }), "area"),
        (json!({ "location": { "lat": 135.0, "long": 51.4 } }), "location.lat"),
        (json!({ "location": { "lat": 35.7 } }), "location.long"),
        (json!({}), "area"),
    ];
    for (place, field) in cases {
        let (status, body) = post(&app, place.clone()).await;
        assert_eq!(status, 422, "{place}: {body}");
        assert!(fields(&body).contains(&field.to_string()), "{place} should name {field}: {body}");
    }
    let (_, list) = app.get("/api/v1/messages", ADMIN_KEY).await;
    assert_eq!(list["messages"], json!([]), "nothing refused was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_reads_back_as_a_list_one_area_and_geojson_that_imports_unchanged() {
    let app = start().await;
    // Any client reads the tree: here an agency.
    let agency = api_key(&app, &[Scope::Agency], Some("district-06-municipality"));
    let (status, list) = app.get("/api/v1/areas?level=district", &agency).await;
    assert_eq!(status, 200, "{list}");
    let codes: Vec<&str> =
        list["areas"].as_array().map(|a| a.iter().filter_map(|a| a["code"].as_str()).collect()).unwrap_or_default();
    assert_eq!(codes, ["tehran-district-05", "tehran-district-06"]);
    let (_, provinces) = app.get("/api/v1/areas?level=province", ADMIN_KEY).await;
    assert_eq!(provinces["areas"].as_array().map(Vec::len), Some(31), "the provinces ship as data");
    let (_, children) = app.get("/api/v1/areas?parent=tehran-city", ADMIN_KEY).await;
    assert_eq!(children["areas"].as_array().map(Vec::len), Some(2), "{children}");

    let (status, one) = app.get("/api/v1/areas/yusef-abad", ADMIN_KEY).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["geometry"]["type"], "Polygon", "{one}");
    assert_eq!(one["illustrative"], true);
    let path: Vec<&str> =
        one["path"].as_array().map(|p| p.iter().filter_map(|s| s["code"].as_str()).collect()).unwrap_or_default();
    assert_eq!(path, ["tehran", "tehran-city", "tehran-district-06", "yusef-abad"]);
    assert_eq!(app.get("/api/v1/areas/atlantis", ADMIN_KEY).await.0, 404);

    let (status, collection) = app.get("/api/v1/areas?format=geojson&parent=tehran-city", ADMIN_KEY).await;
    assert_eq!(status, 200, "{collection}");
    assert_eq!(collection["type"], "FeatureCollection");
    let (status, again) = app.put("/api/v1/areas", ADMIN_KEY, &collection).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, json!({ "created": 0, "updated": 0, "unchanged": 2 }));
    for bad in ["?level=planet", "?parent=atlantis", "?format=kml"] {
        let (status, body) = app.get(&format!("/api/v1/areas{bad}"), ADMIN_KEY).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_import_names_its_feature_and_changes_nothing() {
    let app = start().await;
    let bowtie = json!({ "type": "Polygon", "coordinates": [[[51.3, 35.7], [51.4, 35.8], [51.4, 35.7], [51.3, 35.8], [51.3, 35.7]]] });
    let cases = [
        (feature("tehran-district-07", "nowhere", "district", "منطقه ۷", Value::Null), "features[1].properties.parent"),
        (feature("tehran-district-07", "tehran-city", "district", "منطقه ۷", bowtie), "features[1].geometry"),
        (
            feature("tehran-district-07", "tehran-city", "district", "منطقه ۷", square(51.55, 35.7, 51.7, 35.8)),
            "features[1].geometry",
        ),
        (
            feature("tehran-district-07", "yusef-abad", "district", "منطقه ۷", Value::Null),
            "features[1].properties.parent",
        ),
    ];
    for (broken, field) in cases {
        // A good feature first: the bad one refuses it too.
        let good = feature("tehran-district-08", "tehran-city", "district", "منطقه ۸", Value::Null);
        let import = json!({ "type": "FeatureCollection", "features": [good, broken] });
        let (status, body) = app.put("/api/v1/areas", ADMIN_KEY, &import).await;
        assert_eq!(status, 422, "{body}");
        assert!(fields(&body).contains(&field.to_string()), "should name {field}: {body}");
    }
    // A cycle through the stored tree: the city under its own district.
    let cycle = json!({ "type": "FeatureCollection", "features": [
        feature("tehran-city", "tehran-district-05", "city", "شهر تهران", Value::Null)] });
    assert_eq!(app.put("/api/v1/areas", ADMIN_KEY, &cycle).await.0, 422);
    let (_, districts) = app.get("/api/v1/areas?parent=tehran-city", ADMIN_KEY).await;
    assert_eq!(districts["areas"].as_array().map(Vec::len), Some(2), "nothing was half-applied: {districts}");
    // Only admins import.
    let call_centre = api_key(&app, &[Scope::CallCenter], None);
    let (status, body) = app.put("/api/v1/areas", &call_centre, &tehran()).await;
    assert_eq!(status, 403, "{body}");
}

/// A regular polygon of `sides` around (`long`, `lat`): a boundary with many vertices.
fn circle(long: f64, lat: f64, radius: f64, sides: usize) -> Value {
    let mut ring: Vec<Value> = (0..sides)
        .map(|i| {
            let angle = std::f64::consts::TAU * i as f64 / sides as f64;
            json!([long + radius * angle.cos(), lat + radius * angle.sin()])
        })
        .collect();
    ring.push(ring[0].clone());
    json!({ "type": "Polygon", "coordinates": [ring] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_larger_than_any_other_body_is_taken_whole() {
    let app = start().await;
    let neighbourhoods: Vec<Value> = (0..100)
        .map(|n| {
            let (long, lat) = (51.305 + 0.009 * (n % 10) as f64, 35.705 + 0.009 * (n / 10) as f64);
            let code = format!("district-05-neighbourhood-{n:03}");
            feature(&code, "tehran-district-05", "neighbourhood", "محله", circle(long, lat, 0.004, 64))
        })
        .collect();
    let import = json!({ "type": "FeatureCollection", "features": neighbourhoods });
    assert!(import.to_string().len() > 64 * 1024, "larger than the JSON limit of every other route");
    let (status, body) = app.put("/api/v1/areas", ADMIN_KEY, &import).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["created"], 100);
    let point = json!({ "location": { "lat": 35.705 + 0.009 * 3.0, "long": 51.305 + 0.009 * 7.0 } });
    assert_eq!(area_path(&app, point).await.last().map(String::as_str), Some("district-05-neighbourhood-037"));
}
