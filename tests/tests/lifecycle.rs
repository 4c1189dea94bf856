//! The lifecycle of a message through the portal: acknowledged, declined three times (each
//! decline routed to the next responsible agency, the third to a supervisor), assigned by the
//! supervisor, answered, closed — every step on the timeline, each agency's clocks its own.

mod portal;

use std::time::Duration;

use nazer_shared::testing::{ADMIN_KEY, eventually};
use portal::{Portal, officer, supervisor};
use serde_json::{Value, json};

fn transitions(view: &Value) -> Vec<(String, Option<String>)> {
    view["timeline"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| {
                    (e["transition"].as_str().unwrap_or("?").to_string(), e["agency_id"].as_str().map(str::to_string))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_is_declined_to_a_supervisor_then_answered_and_closed() {
    let mut portal = Portal::start("P7D").await;
    let (code, id) = portal.post_message("tehran", Some("تهران")).await;
    portal.wait_for(&code, "assigned", Some("district-3")).await;
    let app = &portal.app;
    let path = |action: &str| format!("/api/v1/messages/{code}/{action}");

    // The district acknowledges, then finds the message outside its jurisdiction.
    let district = officer("district-3");
    portal.expect(app.post(&path("acknowledgement"), &district, &json!({})).await, 200);
    assert_eq!(portal.message(&code).await["status"], "acknowledged");
    let refused = portal.expect(app.post(&path("decline"), &district, &json!({ "reason": " " })).await, 422);
    assert_eq!(refused["errors"][0]["field"], "reason", "{refused}");
    let declined =
        portal.expect(app.post(&path("decline"), &district, &json!({ "reason": "خارج از حوزه" })).await, 200);
    assert_eq!(declined["decline_count"], 1);
    // Gone from the district's view at once, and routed to the next rule's agency.
    portal.expect(app.get(&format!("/api/v1/messages/{code}"), &district).await, 404);
    portal.wait_for(&code, "assigned", Some("tehran-municipality")).await;

    let municipality = officer("tehran-municipality");
    portal.expect(app.post(&path("decline"), &municipality, &json!({ "reason": "مربوط به وزارت" })).await, 200);
    portal.wait_for(&code, "assigned", Some("national-housing")).await;
    let housing = officer("national-housing");
    portal.expect(app.post(&path("decline"), &housing, &json!({ "reason": "مربوط به شهرداری" })).await, 200);

    // The third decline goes to 1888 triage, flagged: the desk may not decide, a supervisor may.
    let view = portal.wait_for(&code, "triage", None).await;
    assert_eq!((view["decline_count"].clone(), view["needs_supervisor"].clone()), (json!(3), json!(true)));
    let triage = portal.expect(app.get("/api/v1/triage", ADMIN_KEY).await, 200);
    let entry = triage["triage"].as_array().and_then(|t| t.iter().find(|e| e["message_id"] == id)).cloned();
    assert_eq!(entry.map(|e| e["needs_supervisor"].clone()), Some(json!(true)), "{triage}");
    let decide = json!({ "agency_id": "tehran-municipality" });
    let assignment = format!("/api/v1/triage/{id}/assignment");
    let by_admin = app.post(&assignment, ADMIN_KEY, &decide).await;
    assert_eq!(by_admin.0, 200, "an admin (the bootstrap key) may decide: {}", by_admin.1);

    // The municipality answers, with references to its documents; the call centre closes.
    portal.wait_for(&code, "assigned", Some("tehran-municipality")).await;
    let answer = json!({ "outcome": "resolved", "body": "پروانه صادر شد", "attachments": ["dms:1405/778"] });
    let response = portal.expect(app.post(&path("responses"), &municipality, &answer).await, 201);
    assert_eq!(response["attachments"], json!(["dms:1405/778"]));
    portal.expect(app.post(&path("responses"), &municipality, &answer).await, 409);
    portal.expect(app.post(&path("close"), &municipality, &json!({})).await, 403);
    let closed = portal.expect(app.post(&path("close"), ADMIN_KEY, &json!({ "reason": "پاسخ کامل" })).await, 200);
    assert_eq!(closed["status"], "closed");

    let view = portal.message(&code).await;
    let owned = |t: &str, a: Option<&str>| (t.to_string(), a.map(str::to_string));
    assert_eq!(
        transitions(&view),
        vec![
            owned("received", None),
            owned("assigned", Some("district-3")),
            owned("acknowledged", Some("district-3")),
            owned("declined", Some("district-3")),
            owned("assigned", Some("tehran-municipality")),
            owned("declined", Some("tehran-municipality")),
            owned("assigned", Some("national-housing")),
            owned("declined", Some("national-housing")),
            owned("triage", None),
            owned("assigned", Some("tehran-municipality")),
            owned("responded", Some("tehran-municipality")),
            owned("closed", None),
        ],
        "{view}"
    );

    // Each assignment got its own clock; the declined ones stopped without a warning, the
    // answered one is met (once deadline-timer has heard of the answer).
    let states = eventually(Duration::from_secs(20), "the answered clock to be met", || async {
        let deadlines = portal.expect(app.get(&format!("/api/v1/deadlines?message_id={id}"), &supervisor()).await, 200);
        let states: Vec<(String, String)> = deadlines["deadlines"]
            .as_array()
            .map(|all| {
                all.iter()
                    .map(|d| (d["agency_id"].as_str().unwrap_or("?").into(), d["state"].as_str().unwrap_or("?").into()))
                    .collect()
            })
            .unwrap_or_default();
        states.iter().any(|(_, s)| s != "declined" && s != "pending").then_some(states)
    })
    .await;
    let declined_clocks = states.iter().filter(|(_, s)| s == "declined").count();
    assert_eq!(declined_clocks, 3, "{states:?}");
    assert!(states.contains(&("tehran-municipality".into(), "met".into())), "{states:?}");
    portal.app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_triage_desk_cannot_place_a_message_declined_three_times_but_a_supervisor_can() {
    let mut portal = Portal::start("P7D").await;
    let (code, id) = portal.post_message("tehran", Some("تهران")).await;
    for agency in ["district-3", "tehran-municipality", "national-housing"] {
        portal.wait_for(&code, "assigned", Some(agency)).await;
        let (path, reason) = (format!("/api/v1/messages/{code}/decline"), json!({ "reason": "x" }));
        portal.expect(portal.app.post(&path, &officer(agency), &reason).await, 200);
    }
    portal.wait_for(&code, "triage", None).await;
    let desk_key = {
        let body = json!({ "name": "1888 desk", "scopes": ["call_center"] });
        let created = portal.expect(portal.app.post("/api/v1/api-keys", ADMIN_KEY, &body).await, 201);
        created["secret"].as_str().unwrap_or_default().to_string()
    };
    let decide = json!({ "agency_id": "isfahan-municipality" });
    let assignment = format!("/api/v1/triage/{id}/assignment");
    portal.expect(portal.app.post(&assignment, &desk_key, &decide).await, 403);
    portal.expect(portal.app.post(&assignment, &supervisor(), &decide).await, 200);
    portal.wait_for(&code, "assigned", Some("isfahan-municipality")).await;
    portal.app.stop().await;
}
