//! `nazer up --demo` as a newcomer runs it: nothing configured, one process, SQLite in
//! ./nazer-data and the in-process bus, demo data and the built-in webhook receiver.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use nazer_shared::testing::{self, eventually};
use serde_json::json;
use support::{Process, binary};

const KEY: &str = "demo-call-centre-key-1888";
const AGENCY_KEY: &str = "demo-agency-key-district-06-municipality";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nazer_up_demo_runs_the_whole_flow_with_nothing_configured() {
    let dir = tempfile::tempdir().unwrap();
    let mut nazer = Process::spawn("nazer", &binary("nazer"), &["up", "--demo"], &HashMap::new(), dir.path());
    nazer.wait_ready(Duration::from_secs(30)).await;
    assert!(dir.path().join("nazer-data/nazer.db").exists(), "the embedded database lives in ./nazer-data");
    let client = reqwest::Client::new();
    // The demo's default policy, shortened and without levels 2 and 3.
    let policy = client
        .put(nazer.url("/api/v1/sla-policies/demo-default"))
        .bearer_auth(KEY)
        .json(&json!({"id": "demo-default", "stages": [{"stage": "respond", "budget": "PT2S"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(policy.status(), 200);
    let due = client
        .get(
            nazer
                .url("/api/v1/calendars/iran-gov-1405/due?start=2026-11-30T09:00:00%2B03:30&budget=1d&province=tehran"),
        )
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let (status, due) = testing::read(due).await;
    assert_eq!(
        (status, due["due_at"].as_str()),
        (200, Some("2026-12-02T14:30:00+03:30")),
        "the README's example: {due}"
    );

    // A point in District 6's (illustrative) demo boundary, and nothing else about the place.
    let body = json!({"kind": "violation_report", "channel": "call_center", "category": "municipal.building",
                      "body": "ساخت و ساز غیرمجاز", "location": {"lat": 35.722, "long": 51.398}});
    let (status, receipt) =
        testing::read(client.post(nazer.url("/api/v1/messages")).bearer_auth(KEY).json(&body).send().await.unwrap())
            .await;
    assert_eq!(status, 201, "{receipt}");
    let code = receipt["tracking_code"].as_str().unwrap().to_string();

    let view = eventually(Duration::from_secs(20), "the warning", || async {
        let response =
            client.get(nazer.url(&format!("/api/v1/messages/{code}"))).bearer_auth(AGENCY_KEY).send().await.ok()?;
        let (_, view) = testing::read(response).await;
        (view["warnings"].as_array().is_some_and(|w| w.len() == 1)).then_some(view)
    })
    .await;
    assert_eq!(view["assigned_agency"]["id"], "district-06-municipality");
    assert_eq!(view["area"], "tehran-district-06", "{view}");
    let delivered = eventually(Duration::from_secs(20), "the signed warning webhook", || async {
        let response =
            client.get(nazer.url("/api/v1/deliveries?state=delivered")).bearer_auth(KEY).send().await.ok()?;
        let (_, body) = testing::read(response).await;
        let deliveries = body["deliveries"].as_array()?.clone();
        deliveries.iter().any(|d| d["event_type"] == "warning.issued").then_some(deliveries)
    })
    .await;
    assert!(delivered.iter().all(|d| d["last_status"] == 204), "the demo receiver accepted every signature");
    assert!(nazer.output().contains("signed webhook received"));
    expect_unreadable_requests_logged_below_error(&nazer).await;
    nazer.terminate();
}

/// A client's unreadable request is the client's fault: answered 400, and no ERROR line.
async fn expect_unreadable_requests_logged_below_error(nazer: &Process) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = nazer.base.trim_start_matches("http://").to_string();
    for raw in [
        &b"BLAH\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(raw).await.unwrap();
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        assert!(answer.starts_with(b"HTTP/1.1 400"), "{}", String::from_utf8_lossy(&answer));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let output = nazer.output();
    let errors: Vec<&str> = output.lines().filter(|line| line.contains(r#""level":"ERROR""#)).collect();
    assert!(errors.is_empty(), "a client's malformed request was logged as an ERROR: {errors:#?}");
}

#[tokio::test]
async fn a_subset_without_a_broker_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(binary("nazer"))
        .args(["up", "--services", "intake,routing"])
        .current_dir(dir.path())
        .env_remove("NAZER__BROKER__URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("NAZER__BROKER__URL"), "{text}");
}

#[tokio::test]
async fn a_service_binary_refuses_the_in_process_bus() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(binary("routing"))
        .current_dir(dir.path())
        .env_remove("NAZER__BROKER__URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("NAZER__BROKER__URL"), "{text}");
}

#[tokio::test]
async fn nazer_calendar_due_prints_the_due_instant_of_a_calendar_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("calendar.json");
    let calendar = json!({"id": "iran-gov-1405", "timezone": "Asia/Tehran", "weekly_days_off": ["thursday", "friday"],
        "working_hours": [{"from": "07:30", "to": "14:30"}],
        "closures": [{"date": "1405-09-10", "province": "tehran", "reason": "آلودگی هوا"}]});
    std::fs::write(&file, calendar.to_string()).unwrap();
    let output = std::process::Command::new(binary("nazer"))
        .args(["calendar", "due", "--calendar"])
        .arg(&file)
        .args(["--start", "2026-11-30T09:00:00+03:30", "--budget", "1d", "--province", "tehran"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "2026-12-02T14:30:00+03:30");
}

#[tokio::test]
async fn nazer_import_areas_names_the_line_of_a_bad_feature_and_writes_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let square = |w: f64, s: f64, e: f64, n: f64| {
        json!({"type": "Polygon",
        "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]})
    };
    let feature = |code: &str, parent: &str, level: &str, geometry: serde_json::Value| {
        json!({"type": "Feature",
        "properties": {"code": code, "parent": parent, "level": level, "name_fa": code, "name_en": code},
        "geometry": geometry})
    };
    let city = feature("tehran-city", "tehran", "city", square(51.2, 35.6, 51.6, 35.8));
    let district = feature("tehran-district-06", "tehran-city", "district", square(51.4, 35.7, 51.5, 35.8));
    let import = |features: Vec<serde_json::Value>, extra: &[&str]| {
        let file = dir.path().join("areas.geojson");
        let text = serde_json::to_string_pretty(&json!({"type": "FeatureCollection", "features": features})).unwrap();
        std::fs::write(&file, &text).unwrap();
        let output = std::process::Command::new(binary("nazer"))
            .args(["import", "areas"])
            .arg(&file)
            .args(extra)
            .current_dir(dir.path())
            .env_remove("NAZER__DATABASE__URL")
            .output()
            .unwrap();
        let shown = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), shown, text)
    };

    // The district names a parent that does not exist: the good city before it is not written.
    let orphan = feature("tehran-district-07", "nowhere", "district", serde_json::Value::Null);
    let (ok, shown, text) = import(vec![city.clone(), orphan], &[]);
    assert!(!ok, "{shown}");
    // Pretty-printed, each feature opens on a line of its own, four spaces in.
    let second = text.lines().enumerate().filter(|(_, l)| *l == "    {").nth(1).map(|(i, _)| i + 1);
    let second = second.unwrap_or_else(|| panic!("two features in\n{text}"));
    assert!(shown.contains(&format!("line {second}: features[1].properties.parent")), "{shown}");

    let (ok, shown, _) = import(vec![city.clone(), district.clone()], &["--dry-run"]);
    assert!(ok, "{shown}");
    assert!(shown.contains("2 areas: 2 to create"), "nothing was half-written before, nothing is now: {shown}");
    let (ok, shown, _) = import(vec![city.clone(), district.clone()], &[]);
    assert!(ok && shown.contains("2 created"), "{shown}");
    let (ok, shown, _) = import(vec![city, district], &[]);
    assert!(ok && shown.contains("0 created, 0 updated, 2 unchanged"), "an import is idempotent: {shown}");
}
