//! The quality of handling through the portal: the citizen follows the message with its
//! tracking code and a second factor, rates the answer and reopens it; the agency answers
//! again on a fresh clock; a supervisor's low review registers a quality warning; tracking is
//! limited per (code, client) and per client.

mod portal;

use std::collections::HashSet;
use std::time::Duration;

use diesel::prelude::*;
use nazer_shared::testing::{ADMIN_KEY, eventually};
use portal::{CATEGORY, Portal, officer, supervisor};
use serde_json::{Value, json};

/// A citizen's request: no account, the second factor in its header, `client` as the proxy
/// names it.
async fn citizen(
    portal: &Portal,
    method: reqwest::Method,
    path: &str,
    verifier: Option<&str>,
    client: &str,
    body: Option<Value>,
) -> (u16, Value, Option<String>) {
    let mut request = reqwest::Client::new().request(method, portal.app.url(path)).header("X-Real-IP", client);
    if let Some(verifier) = verifier {
        request = request.header("Tracking-Verifier", verifier);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let retry_after = response.headers().get("Retry-After").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (status, body) = nazer_shared::testing::read(response).await;
    (status, body, retry_after)
}

async fn track(portal: &Portal, code: &str, verifier: Option<&str>, client: &str) -> (u16, Value) {
    let (status, body, _) =
        citizen(portal, reqwest::Method::GET, &format!("/api/v1/track/{code}"), verifier, client, None).await;
    (status, body)
}

async fn start() -> Portal {
    Portal::start_tuned("P7D", |settings| {
        settings.tracking.client_ip_header = Some("X-Real-IP".into());
        settings.tracking.code_failures_per_hour = 3;
        settings.tracking.client_failures_per_hour = 4;
        settings.tracking.client_requests_per_minute = 40;
    })
    .await
}

fn titles(view: &Value) -> Vec<String> {
    let steps = view["steps"].as_array().cloned().unwrap_or_default();
    steps.iter().map(|s| s["transition"].as_str().unwrap_or("?").to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_citizen_rates_and_reopens_the_agency_answers_again_and_a_low_review_warns_it() {
    let mut portal = start().await;
    let (code, message_id) = portal.post_message("tehran", Some("تهران")).await;
    portal.wait_for(&code, "assigned", Some("district-3")).await;
    let app = &portal.app;
    let path = |action: &str| format!("/api/v1/messages/{code}/{action}");

    // The second factor is required; a wrong one answers like an unknown code.
    let (status, missing) = track(&portal, &code, None, "10.0.0.1").await;
    assert_eq!((status, missing["errors"][0]["field"].clone()), (400, json!("Tracking-Verifier")), "{missing}");
    let (status, wrong) = track(&portal, &code, Some("4568"), "10.0.0.1").await;
    let never_issued = nazer_intake::tracking_code::TrackingCode::generate().to_string();
    let (unknown_status, unknown) = track(&portal, &never_issued, Some("4567"), "10.0.0.1").await;
    assert_eq!((status, unknown_status), (404, 404));
    assert_eq!(wrong["detail"], unknown["detail"]);

    // The last four digits of the mobile (Persian digits accepted) show the message, in Persian.
    let (status, view) = track(&portal, &code, Some("۴۵۶۷"), "10.0.0.1").await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "assigned");
    assert_eq!(view["agency_name"], "agency district-3");
    assert_eq!(titles(&view), ["received", "assigned"]);
    assert!(view["received"]["jalali"].as_str().is_some_and(|d| d.starts_with("14")), "{view}");
    assert!(view["received"]["fa"].as_str().is_some_and(|d| d.starts_with('۱')), "{view}");
    assert!(view.get("reporter").is_none() && !view.to_string().contains("0912"), "no personal data: {view}");
    assert_eq!((view["can_rate"].clone(), view["can_reopen"].clone()), (json!(false), json!(false)));

    // The district answers; deadline-timer works out the reopening period on the calendar.
    let district = officer("district-3");
    let answer = json!({ "outcome": "partially_resolved", "body": "بخشی از بنا تخریب شد" });
    let first = portal.expect(app.post(&path("responses"), &district, &answer).await, 201);
    let answered_at = chrono::DateTime::parse_from_rfc3339(first["responded_at"].as_str().unwrap_or("")).unwrap();
    let view = eventually(Duration::from_secs(20), "the reopening period", || async {
        let view = portal.message(&code).await;
        view["reopen_until"].is_string().then_some(view)
    })
    .await;
    let until = chrono::DateTime::parse_from_rfc3339(view["reopen_until"].as_str().unwrap_or("")).unwrap();
    assert!(until - answered_at > chrono::Duration::days(10), "ten working days outlast ten days: {until}");

    let (_, view) = track(&portal, &code, Some("4567"), "10.0.0.1").await;
    assert_eq!((view["can_rate"].clone(), view["can_reopen"].clone()), (json!(true), json!(true)), "{view}");
    assert_eq!(view["answers"][0]["outcome_fa"], "بخشی از موضوع رفع شد");
    assert!(view["reopen_until"]["jalali"].is_string(), "{view}");

    // Rating: 1–5, once.
    let rating_path = format!("/api/v1/track/{code}/rating");
    let rate = |rating: Value| {
        let body = json!({ "rating": rating, "comment": "کامل نبود" });
        citizen(&portal, reqwest::Method::POST, &rating_path, Some("4567"), "10.0.0.1", Some(body))
    };
    let (status, refused, _) = rate(json!(6)).await;
    assert_eq!((status, refused["errors"][0]["field"].clone()), (422, json!("rating")), "{refused}");
    assert_eq!(rate(json!(2)).await.0, 201);
    assert_eq!(rate(json!(3)).await.0, 409, "an answer is rated once");

    // Reopening: a reason is required; then the same agency answers again, on a fresh clock.
    let reopen_path = format!("/api/v1/track/{code}/reopen");
    let reopen =
        |body: Value| citizen(&portal, reqwest::Method::POST, &reopen_path, Some("4567"), "10.0.0.1", Some(body));
    let (status, refused, _) = reopen(json!({})).await;
    assert_eq!((status, refused["errors"][0]["field"].clone()), (422, json!("reason")), "{refused}");
    let (status, reopened, _) = reopen(json!({ "reason": "بقیه بنا هنوز پابرجاست" })).await;
    assert_eq!((status, reopened["status"].clone()), (200, json!("reopened")), "{reopened}");
    assert_eq!(reopen(json!({ "reason": "دوباره" })).await.0, 409, "a reopened message is not reopened again");
    let view = eventually(Duration::from_secs(20), "a fresh respond clock", || async {
        let view = portal.message(&code).await;
        let respond: Vec<Value> = view["deadlines"]
            .as_array()
            .map(|d| d.iter().filter(|d| d["stage"] == "respond").cloned().collect())
            .unwrap_or_default();
        (respond.len() == 2 && respond.iter().any(|d| d["state"] == "pending")).then_some(view)
    })
    .await;
    assert_eq!((view["status"].clone(), view["reopen_count"].clone()), (json!("reopened"), json!(1)));
    let again = json!({ "outcome": "resolved", "body": "باقی بنا تخریب شد" });
    let second = portal.expect(app.post(&path("responses"), &district, &again).await, 201);
    let second_id = second["id"].as_str().unwrap_or_default().to_string();

    // A supervisor scores the second answer on the rubric; only supervisors, once, on an
    // answer of this message.
    let review_path = format!("/api/v1/messages/{code}/responses/{second_id}/review");
    let low = json!({ "relevant": 3, "complete": 2, "lawful": 3, "respectful": 2, "comment": "ناقص" });
    portal.expect(app.post(&review_path, &district, &low).await, 403);
    let refused = portal.expect(app.post(&review_path, &supervisor(), &json!({ "relevant": 0 })).await, 422);
    assert_eq!(nazer_shared::testing::problem_fields(&refused), ["relevant", "complete", "lawful", "respectful"]);
    let other = format!("/api/v1/messages/{code}/responses/{}/review", uuid::Uuid::now_v7());
    portal.expect(app.post(&other, &supervisor(), &low).await, 404);
    let review = portal.expect(app.post(&review_path, &supervisor(), &low).await, 201);
    assert_eq!((review["score"].clone(), review["below_standard"].clone()), (json!(2.5), json!(true)));
    portal.expect(app.post(&review_path, &supervisor(), &low).await, 409);
    // The first answer, reviewed afterwards, warns on the clock it met, not the later one.
    let first_id = first["id"].as_str().unwrap_or_default();
    let first_review = format!("/api/v1/messages/{code}/responses/{first_id}/review");
    let poor = json!({ "relevant": 4, "complete": 4, "lawful": 4, "respectful": 1 });
    let review = portal.expect(app.post(&first_review, &supervisor(), &poor).await, 201);
    assert_eq!((review["score"].clone(), review["below_standard"].clone()), (json!(3.25), json!(true)));

    // The low review registers a quality warning through the warning machinery: listed with
    // the agency's warnings, on the message, on the timeline.
    let warnings = eventually(Duration::from_secs(20), "a quality warning", || async {
        let (_, body) = app.get(&format!("/api/v1/warnings?message_id={message_id}"), &district).await;
        let found: Vec<Value> = body["warnings"]
            .as_array()
            .map(|w| w.iter().filter(|w| w["stage"] == "quality").cloned().collect())
            .unwrap_or_default();
        (found.len() == 2).then_some(found)
    })
    .await;
    assert!(warnings.iter().all(|w| w["reason"] == "quality_below_standard" && w["level"] == 1), "{warnings:?}");
    let texts: Vec<&str> = warnings.iter().filter_map(|w| w["text_fa"].as_str()).collect();
    assert!(texts.iter().any(|t| t.contains("۲٫۵")) && texts.iter().any(|t| t.contains("۳٫۲")), "{texts:?}");
    let clocks: HashSet<&str> = warnings.iter().filter_map(|w| w["deadline_id"].as_str()).collect();
    assert_eq!(clocks.len(), 2, "each answer's warning on its own clock: {warnings:?}");
    let view = eventually(Duration::from_secs(20), "both warnings on the message", || async {
        let view = portal.message(&code).await;
        let warned = view["warnings"]
            .as_array()
            .is_some_and(|w| w.iter().filter(|w| w["reason"] == "quality_below_standard").count() == 2);
        warned.then_some(view)
    })
    .await;
    let answers = view["responses"].as_array().cloned().unwrap_or_default();
    assert_eq!(answers.iter().map(|r| r["rating"].clone()).collect::<Vec<_>>(), [json!(2), Value::Null]);
    let scores = (answers[0]["review"]["score"].clone(), answers[1]["review"]["score"].clone());
    assert_eq!(scores, (json!(3.25), json!(2.5)));

    // The citizen sees the steps, not the supervisor's review.
    let (_, view) = track(&portal, &code, Some("4567"), "10.0.0.1").await;
    assert_eq!(
        titles(&view),
        ["received", "assigned", "responded", "rated", "reopened", "responded", "warning", "warning"],
        "{view}"
    );
    assert!(view["answers"][1].get("review").is_none(), "{view}");

    // After the reopening period the message cannot be reopened any more.
    let window = eventually(Duration::from_secs(20), "the second answer's period", || async {
        portal.message(&code).await["reopen_until"].as_str().map(str::to_string)
    })
    .await;
    assert!(!window.is_empty());
    let mut conn = portal.app.db().get().unwrap_or_else(|e| panic!("{e}"));
    let past = chrono::Utc::now().naive_utc() - chrono::Duration::days(1);
    diesel::sql_query(format!(
        "UPDATE messages SET reopen_until = '{}' WHERE id = '{message_id}'",
        past.format("%Y-%m-%d %H:%M:%S")
    ))
    .execute(&mut *conn)
    .unwrap_or_else(|e| panic!("{e}"));
    drop(conn);
    let (status, ended, _) = reopen(json!({ "reason": "هنوز ناراضی‌ام" })).await;
    assert_eq!(status, 409, "{ended}");
    assert!(ended["detail"].as_str().is_some_and(|d| d.contains("period ended")), "{ended}");
    // The call centre may reopen for a caller too, within the same period only.
    portal.expect(app.post(&path("reopen"), ADMIN_KEY, &json!({ "reason": "تماس تلفنی" })).await, 409);
    portal.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tracking_is_limited_per_code_and_client_and_per_client_and_a_pin_works_without_a_mobile() {
    let mut portal = start().await;
    let (code, _) = portal.post_message("isfahan", None).await;
    // A PIN chosen at intake, for a citizen who gave no mobile.
    let with_pin = json!({ "kind": "complaint", "channel": "web", "category": CATEGORY, "body": "شکایت",
                           "province": "isfahan", "reporter": { "tracking_pin": "۸۰۸۰۸۰" } });
    let receipt = portal.expect(portal.app.post("/api/v1/messages", ADMIN_KEY, &with_pin).await, 201);
    let pin_code = receipt["tracking_code"].as_str().unwrap_or_default().to_string();
    assert_eq!(track(&portal, &pin_code, Some("808080"), "10.0.0.2").await.0, 200);
    assert_eq!(track(&portal, &pin_code, Some("8080"), "10.0.0.2").await.0, 404, "the whole PIN");

    // Right answers do not count against a code; wrong ones do, three an hour from one client,
    // then even the right one waits from that client, while another client is not held up.
    for _ in 0..5 {
        assert_eq!(track(&portal, &code, Some("4567"), "10.0.0.3").await.0, 200);
    }
    for _ in 0..3 {
        assert_eq!(track(&portal, &code, Some("0000"), "10.0.0.3").await.0, 404);
    }
    let (status, limited, retry_after) =
        citizen(&portal, reqwest::Method::GET, &format!("/api/v1/track/{code}"), Some("4567"), "10.0.0.3", None).await;
    assert_eq!(status, 429, "{limited}");
    let retry_after: u64 = retry_after.and_then(|r| r.parse().ok()).unwrap_or(0);
    assert!((1..=3600).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(limited["type"], "urn:nazer:problem:too-many-requests");
    assert_eq!(track(&portal, &code, Some("4567"), "10.0.0.4").await.0, 200);

    // A client sending too many requests waits, whatever the code; other clients do not.
    for _ in 0..40 {
        track(&portal, &pin_code, Some("808080"), "10.0.0.5").await;
    }
    assert_eq!(track(&portal, &pin_code, Some("808080"), "10.0.0.5").await.0, 429);
    assert_eq!(track(&portal, &pin_code, Some("808080"), "10.0.0.6").await.0, 200);

    // Wrong verifiers spread over codes: four an hour per client, then even a right one waits;
    // the code itself stays open to others.
    let (third, _) = portal.post_message("isfahan", None).await;
    let (fourth, _) = portal.post_message("isfahan", None).await;
    for guessed in [&third, &third, &fourth, &fourth] {
        assert_eq!(track(&portal, guessed, Some("1111"), "10.0.0.8").await.0, 404);
    }
    assert_eq!(track(&portal, &third, Some("4567"), "10.0.0.8").await.0, 429);
    assert_eq!(track(&portal, &third, Some("4567"), "10.0.0.9").await.0, 200);
    portal.app.stop().await;
}
