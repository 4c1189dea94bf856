//! The citizens' tracking limits on a real host: a stranger's wrong verifiers hold up the
//! stranger's own client, not the citizen's, until the code's daily ceiling; an IPv6 client
//! counts by its /64. PostgreSQL when NAZER_TEST_DATABASE_URL is set, SQLite otherwise.

use nazer_shared::config::Settings;
use nazer_shared::testing::{ADMIN_KEY, TestApp};
use serde_json::{Value, json};

const CATEGORY: &str = "municipal.building";
/// The last four digits of the mobile the message is posted with.
const RIGHT: &str = "4567";
const WRONG: &str = "0000";

async fn start(tune: impl FnOnce(&mut Settings)) -> TestApp {
    let app = TestApp::start_with(&[nazer_intake::SERVICE], |settings| {
        settings.tracking.client_ip_header = Some("X-Real-IP".into());
        tune(settings);
    })
    .await;
    let category = json!({ "name_fa": "تخلفات ساختمانی", "name_en": "Building violations",
                           "kinds": ["complaint", "violation_report"] });
    let (status, reply) = app.put(&format!("/api/v1/categories/{CATEGORY}"), ADMIN_KEY, &category).await;
    assert_eq!(status, 200, "{reply}");
    app
}

/// Posts a complaint with a mobile ending in [`RIGHT`] and answers its tracking code.
async fn post_message(app: &TestApp) -> String {
    let message = json!({ "kind": "complaint", "channel": "call_center", "category": CATEGORY,
                          "body": "ساخت و ساز شبانه", "province": "tehran",
                          "reporter": { "mobile": "09121234567" } });
    let (status, receipt) = app.post("/api/v1/messages", ADMIN_KEY, &message).await;
    assert_eq!(status, 201, "{receipt}");
    receipt["tracking_code"].as_str().unwrap_or_else(|| panic!("no tracking code: {receipt}")).to_string()
}

/// Follows `code` with `verifier` from `client` (as the proxy names it): the status, the body
/// and `Retry-After`.
async fn track(app: &TestApp, code: &str, verifier: &str, client: &str) -> (u16, Value, Option<String>) {
    let request = app
        .client
        .get(app.url(&format!("/api/v1/track/{code}")))
        .header("X-Real-IP", client)
        .header("Tracking-Verifier", verifier);
    let response = request.send().await.unwrap_or_else(|e| panic!("GET /api/v1/track/{code}: {e}"));
    let retry_after = response.headers().get("Retry-After").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (status, body) = nazer_shared::testing::read(response).await;
    (status, body, retry_after)
}

async fn status(app: &TestApp, code: &str, verifier: &str, client: &str) -> u16 {
    track(app, code, verifier, client).await.0
}

#[tokio::test(flavor = "multi_thread")]
async fn a_strangers_wrong_verifiers_do_not_lock_the_citizen_out() {
    let mut app = start(|_| {}).await;
    let code = post_message(&app).await;
    for _ in 0..5 {
        assert_eq!(status(&app, &code, WRONG, "203.0.113.66").await, 404);
    }
    // The stranger waits out the hour for this code, even with the right verifier…
    let (locked, problem, retry_after) = track(&app, &code, RIGHT, "203.0.113.66").await;
    assert_eq!(locked, 429, "{problem}");
    assert_eq!(problem["type"], "urn:nazer:problem:too-many-requests");
    let retry_after: u64 = retry_after.and_then(|r| r.parse().ok()).unwrap_or(0);
    assert!((1..=3600).contains(&retry_after), "Retry-After {retry_after}");
    // …while the citizen, from their own client, follows the message.
    let (followed, view, _) = track(&app, &code, RIGHT, "198.51.100.7").await;
    assert_eq!(followed, 200, "{view}");
    assert_eq!(view["status"], "received", "{view}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_ipv6_client_is_counted_by_its_64() {
    let mut app = start(|_| {}).await;
    let code = post_message(&app).await;
    for _ in 0..5 {
        assert_eq!(status(&app, &code, WRONG, "2001:db8:1:2:aaaa::1").await, 404);
    }
    // Another address of the same /64 is the same client; another /64 is not.
    assert_eq!(status(&app, &code, RIGHT, "2001:db8:1:2:bbbb::2").await, 429);
    assert_eq!(status(&app, &code, RIGHT, "2001:db8:1:3::1").await, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_takes_a_daily_ceiling_of_wrong_verifiers_from_all_clients_together() {
    let mut app = start(|settings| {
        settings.tracking.code_failures_per_hour = 5;
        settings.tracking.code_failures_per_day = 8;
    })
    .await;
    let code = post_message(&app).await;
    // Six wrong verifiers from three clients: more than one client's hourly share, below the
    // code's ceiling; the citizen's right one counts against nothing.
    for client in ["192.0.2.1", "192.0.2.2", "192.0.2.3"] {
        for _ in 0..2 {
            assert_eq!(status(&app, &code, WRONG, client).await, 404);
        }
    }
    assert_eq!(status(&app, &code, RIGHT, "198.51.100.7").await, 200);
    for client in ["192.0.2.4", "192.0.2.5"] {
        assert_eq!(status(&app, &code, WRONG, client).await, 404);
    }
    // The ceiling is reached: the code waits out the day, whoever asks.
    let (locked, problem, retry_after) = track(&app, &code, RIGHT, "198.51.100.7").await;
    assert_eq!(locked, 429, "{problem}");
    let retry_after: u64 = retry_after.and_then(|r| r.parse().ok()).unwrap_or(0);
    assert!((3600..=86_400).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(status(&app, &code, RIGHT, "192.0.2.9").await, 429);
    // Another code is not held up.
    let other = post_message(&app).await;
    assert_eq!(status(&app, &other, RIGHT, "198.51.100.7").await, 200);
    app.stop().await;
}
