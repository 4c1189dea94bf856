//! Broken object-level authorisation (OWASP API1): every object endpoint walked by officers of
//! agencies that must not see each other's messages. Another agency's object answers 404,
//! exactly like a missing one, and never shows up in a list; a parent agency sees its
//! sub-agencies' objects; positive controls keep the test from passing by refusing everything.

mod portal;

use std::time::Duration;

use nazer_shared::testing::eventually;
use portal::{Portal, officer, supervisor};
use serde_json::{Value, json};

/// One message and the objects other services keep of it.
struct Owned {
    agency: &'static str,
    code: String,
    message_id: String,
    deadline_id: String,
    warning_id: String,
}

async fn owned_by(portal: &Portal, agency: &'static str, province: &str, city: Option<&str>) -> Owned {
    let (code, message_id) = portal.post_message(province, city).await;
    portal.wait_for(&code, "assigned", Some(agency)).await;
    // A one-second budget: the level-1 warning follows at once.
    let path = format!("/api/v1/warnings?message_id={message_id}");
    let warning = eventually(Duration::from_secs(20), "a warning", || async {
        let body = portal.expect(portal.app.get(&path, &supervisor()).await, 200);
        body["warnings"].as_array().and_then(|w| w.first()).cloned()
    })
    .await;
    Owned {
        agency,
        code,
        message_id,
        deadline_id: warning["deadline_id"].as_str().unwrap_or_default().into(),
        warning_id: warning["id"].as_str().unwrap_or_default().into(),
    }
}

/// (method, path, body) of every object endpoint, for one message.
fn object_endpoints(o: &Owned) -> Vec<(&'static str, String, Option<Value>)> {
    let m = format!("/api/v1/messages/{}", o.code);
    vec![
        ("GET", m.clone(), None),
        ("POST", format!("{m}/acknowledgement"), Some(json!({}))),
        ("POST", format!("{m}/responses"), Some(json!({ "outcome": "resolved", "body": "پاسخ" }))),
        ("POST", format!("{m}/decline"), Some(json!({ "reason": "خارج از حوزه" }))),
        ("POST", format!("/api/v1/warnings/{}/acknowledgement", o.warning_id), Some(json!({}))),
        ("POST", format!("/api/v1/deadlines/{}/pause", o.deadline_id), Some(json!({ "reason": "waiting" }))),
        ("POST", format!("/api/v1/deadlines/{}/resume", o.deadline_id), Some(json!({}))),
    ]
}

/// Endpoints no agency may call at all (the call centre's reopening, a supervisor's review, a
/// search by the reporter's identity): refused for the role before the object is looked at, so
/// they reveal nothing either.
fn role_endpoints(o: &Owned) -> Vec<(&'static str, String, Option<Value>)> {
    let m = format!("/api/v1/messages/{}", o.code);
    let rubric = json!({ "relevant": 1, "complete": 1, "lawful": 1, "respectful": 1 });
    vec![
        ("POST", format!("{m}/reopen"), Some(json!({ "reason": "ناراضی" }))),
        ("POST", format!("{m}/responses/{}/review", o.warning_id), Some(rubric)),
        ("GET", format!("/api/v1/messages?mobile={MOBILE}"), None),
        ("GET", format!("/api/v1/messages?national_id={NATIONAL_ID}&q=ساخت"), None),
    ]
}

/// The reporter of every message the portal posts, and a national ID nobody gave.
const MOBILE: &str = "09121234567";
const NATIONAL_ID: &str = "0499370899";

/// List endpoints and whether their answer names the message.
fn list_endpoints(o: &Owned) -> Vec<String> {
    vec![
        "/api/v1/messages".into(),
        format!("/api/v1/messages?agency_id={}", o.agency),
        "/api/v1/messages?status=assigned".into(),
        // Words of every message's body, as typed and with a kasra and a tatweel.
        "/api/v1/messages?q=پروانه".into(),
        "/api/v1/messages?q=ساختِ%20پروانـه&status=assigned".into(),
        "/api/v1/warnings".into(),
        format!("/api/v1/warnings?message_id={}", o.message_id),
        format!("/api/v1/deadlines?message_id={}", o.message_id),
    ]
}

fn mentions(body: &Value, o: &Owned) -> bool {
    let text = body.to_string();
    text.contains(&o.message_id) || text.contains(&o.code) || text.contains(&o.warning_id)
}

async fn call(portal: &Portal, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
    portal.app.request(method, path, token, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn no_agency_reads_lists_or_acts_on_another_agencys_objects() {
    let mut portal = Portal::start("PT1S").await;
    let district = owned_by(&portal, "district-3", "tehran", Some("تهران")).await;
    let isfahan = owned_by(&portal, "isfahan-municipality", "isfahan", None).await;
    let missing = Owned {
        agency: "nowhere",
        code: "1000000009".into(),
        message_id: uuid::Uuid::now_v7().to_string(),
        deadline_id: uuid::Uuid::now_v7().to_string(),
        warning_id: uuid::Uuid::now_v7().to_string(),
    };

    // Who must not see whose: both directions, and the parent of one never the other's.
    let strangers = [
        ("isfahan-municipality", &district),
        ("national-housing", &district),
        ("district-3", &isfahan),
        ("tehran-municipality", &isfahan),
        ("tehran-governorate", &isfahan),
    ];
    let mut checks = 0;
    for (agency, object) in strangers {
        let token = officer(agency);
        for ((method, path, body), (_, missing_path, _)) in
            object_endpoints(object).into_iter().zip(object_endpoints(&missing))
        {
            let (status, answer) = call(&portal, method, &path, &token, body.as_ref()).await;
            let (missing_status, missing_answer) = call(&portal, method, &missing_path, &token, body.as_ref()).await;
            assert_eq!(status, 404, "{agency} {method} {path}: {answer}");
            assert_eq!(missing_status, 404, "{agency} {method} {missing_path}: {missing_answer}");
            assert_eq!(answer["type"], missing_answer["type"], "{agency} {method} {path}");
            assert_eq!(
                answer["detail"], missing_answer["detail"],
                "{agency} {method} {path}: same words as a missing one"
            );
            assert!(!mentions(&answer, object), "{agency} {method} {path}: {answer}");
            checks += 1;
        }
        for ((method, path, body), (_, missing_path, _)) in
            role_endpoints(object).into_iter().zip(role_endpoints(&missing))
        {
            let (status, answer) = call(&portal, method, &path, &token, body.as_ref()).await;
            let (missing_status, missing_answer) = call(&portal, method, &missing_path, &token, body.as_ref()).await;
            assert_eq!((status, missing_status), (403, 403), "{agency} {method} {path}: {answer}");
            assert_eq!(answer["detail"], missing_answer["detail"], "{agency} {method} {path}");
            checks += 1;
        }
        for path in list_endpoints(object) {
            let (status, answer) = call(&portal, "GET", &path, &token, None).await;
            assert_eq!(status, 200, "{agency} GET {path}: {answer}");
            assert!(!mentions(&answer, object), "{agency} GET {path} lists another agency's object: {answer}");
            checks += 1;
        }
    }

    // Positive controls: the owner, and every ancestor, reads and lists it.
    let mut controls = 0;
    for agency in ["district-3", "tehran-municipality", "tehran-governorate"] {
        let token = officer(agency);
        let (status, body) = call(&portal, "GET", &format!("/api/v1/messages/{}", district.code), &token, None).await;
        assert_eq!(status, 200, "{agency}: {body}");
        for path in list_endpoints(&district).into_iter().filter(|p| !p.contains("agency_id")) {
            let (status, answer) = call(&portal, "GET", &path, &token, None).await;
            assert!(status == 200 && mentions(&answer, &district), "{agency} GET {path} misses its own: {answer}");
            controls += 1;
        }
    }
    // Staff find both by the reporter's mobile, in any written form, and by words.
    for path in ["/api/v1/messages?mobile=%2B98%20912%20123%204567", "/api/v1/messages?q=پروانه"] {
        let (status, answer) = call(&portal, "GET", path, &supervisor(), None).await;
        assert!(status == 200 && mentions(&answer, &district) && mentions(&answer, &isfahan), "GET {path}: {answer}");
        controls += 1;
    }
    let path = format!("/api/v1/messages?national_id={NATIONAL_ID}");
    let (status, answer) = call(&portal, "GET", &path, &supervisor(), None).await;
    assert!(status == 200 && answer["messages"] == json!([]), "no match is an empty list: {answer}");
    // The owner may not search by identity either: the same refusal, naming why.
    let path = format!("/api/v1/messages?mobile={MOBILE}");
    let (status, answer) = call(&portal, "GET", &path, &officer("district-3"), None).await;
    assert_eq!(status, 403, "{answer}");
    assert!(answer["detail"].as_str().unwrap_or_default().contains("agencies may not search by identity"), "{answer}");

    // The warning is acknowledged by its agency's parent, once visible to it.
    let ack = format!("/api/v1/warnings/{}/acknowledgement", district.warning_id);
    let (status, body) = call(&portal, "POST", &ack, &officer("tehran-governorate"), Some(&json!({}))).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&portal, "POST", &ack, &officer("isfahan-municipality"), Some(&json!({}))).await;
    assert_eq!(status, 404, "{body}");
    println!(
        "access matrix: {checks} cross-agency checks (5 pairs × (7 object endpoints + 4 role-only endpoints + 8 lists)), {controls} positive controls"
    );
    portal.app.stop().await;
}

/// A violation report of `agency`'s, its case classified; (case id, tracking code, message id).
async fn case_owned_by(portal: &Portal, agency: &str, province: &str, city: Option<&str>) -> (String, String, String) {
    let (code, message_id) = portal.post_kind("violation_report", province, city).await;
    portal.wait_for(&code, "assigned", Some(agency)).await;
    let case_id = eventually(Duration::from_secs(20), "the violation case", || async {
        let list = portal.expect(portal.app.get("/api/v1/violation-cases", &supervisor()).await, 200);
        list["violation_cases"]
            .as_array()
            .and_then(|cases| cases.iter().find(|c| c["message_id"] == message_id.as_str()))
            .and_then(|c| c["id"].as_str().map(str::to_string))
    })
    .await;
    let classify = json!({ "violation_type": "building.unauthorized" });
    let path = format!("/api/v1/violation-cases/{case_id}/classification");
    portal.expect(portal.app.post(&path, &supervisor(), &classify).await, 200);
    (case_id, code, message_id)
}

/// (method, path, body) of every endpoint on one case an agency may call on its own case.
fn case_endpoints(case_id: &str) -> Vec<(&'static str, String, Option<Value>)> {
    let case = format!("/api/v1/violation-cases/{case_id}");
    let referral = json!({ "step": "referred", "authority": "کمیسیون ماده صد", "body": "ارجاع" });
    vec![
        ("GET", case.clone(), None),
        ("POST", format!("{case}/remedial/steps"), Some(referral)),
        ("POST", format!("{case}/remedial/pause"), Some(json!({ "reason": "کمیسیون" }))),
        ("POST", format!("{case}/remedial/resume"), Some(json!({}))),
    ]
}

/// Endpoints on a case only inspectors, counterpart units and the compliance committee may
/// call: refused to any agency for its role, before the case is looked at.
fn inspector_endpoints(case_id: &str) -> Vec<(&'static str, String, Option<Value>)> {
    let case = format!("/api/v1/violation-cases/{case_id}");
    let sessions = "/api/v1/compliance-committee/sessions";
    let decision = json!({ "case_id": case_id, "decision": "no_fault", "reasoning": "r" });
    vec![
        ("POST", format!("{case}/culpability/referral"), Some(json!({}))),
        ("POST", format!("{case}/culpability/outcome"), Some(json!({ "penalty": "الف", "body": "b" }))),
        ("POST", format!("{case}/culpability/closure"), Some(json!({ "body": "b" }))),
        ("POST", sessions.into(), Some(json!({ "held_on": "1405-09-17", "members": [{ "name": "n" }] }))),
        ("GET", sessions.into(), None),
        ("GET", "/api/v1/compliance-committee/agenda".into(), None),
        ("POST", "/api/v1/violation-cases".into(), Some(json!({ "tracking_code": "1234567890", "reason": "r" }))),
        ("GET", format!("{sessions}/{case_id}"), None),
        ("POST", format!("{sessions}/{case_id}/decisions"), Some(decision)),
        ("POST", format!("{case}/classification"), Some(json!({ "violation_type": "tender.irregular" }))),
        ("POST", format!("{case}/remedial/verdict"), Some(json!({ "effective": true, "reason": "r" }))),
        ("POST", format!("{case}/remedial/withdrawal"), Some(json!({ "reason": "r" }))),
        ("POST", format!("{case}/culpability"), Some(json!({ "unit": "inspection-urban-planning", "reason": "r" }))),
        (
            "POST",
            format!("{case}/culpability/findings"),
            Some(json!({ "summary": "s", "fault": "none", "officials": [] })),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn no_agency_reads_lists_or_acts_on_another_agencys_violation_case() {
    let mut portal = Portal::start_with_violations("P7D").await;
    let district = case_owned_by(&portal, "district-3", "tehran", Some("تهران")).await;
    let isfahan = case_owned_by(&portal, "isfahan-municipality", "isfahan", None).await;
    let missing = uuid::Uuid::now_v7().to_string();
    let mentions = |body: &Value, (case, code, message): &(String, String, String)| {
        let text = body.to_string();
        text.contains(case) || text.contains(code) || text.contains(message)
    };
    let strangers = [
        ("isfahan-municipality", &district),
        ("national-housing", &district),
        ("district-3", &isfahan),
        ("tehran-municipality", &isfahan),
        ("tehran-governorate", &isfahan),
    ];
    let lists = [
        "/api/v1/violation-cases",
        "/api/v1/violation-cases?remedial_state=pending&violation_type=building.unauthorized",
    ];
    let mut checks = 0;
    for (agency, object) in strangers {
        let token = officer(agency);
        for ((method, path, body), (_, missing_path, _)) in
            case_endpoints(&object.0).into_iter().zip(case_endpoints(&missing))
        {
            let (status, answer) = call(&portal, method, &path, &token, body.as_ref()).await;
            let (missing_status, missing_answer) = call(&portal, method, &missing_path, &token, body.as_ref()).await;
            assert_eq!((status, missing_status), (404, 404), "{agency} {method} {path}: {answer}");
            assert_eq!(answer["detail"], missing_answer["detail"], "{agency} {method} {path}");
            assert!(!mentions(&answer, object), "{agency} {method} {path}: {answer}");
            checks += 1;
        }
        for ((method, path, body), (_, missing_path, _)) in
            inspector_endpoints(&object.0).into_iter().zip(inspector_endpoints(&missing))
        {
            let (status, answer) = call(&portal, method, &path, &token, body.as_ref()).await;
            let (missing_status, missing_answer) = call(&portal, method, &missing_path, &token, body.as_ref()).await;
            assert_eq!((status, missing_status), (403, 403), "{agency} {method} {path}: {answer}");
            assert_eq!(answer["detail"], missing_answer["detail"], "{agency} {method} {path}");
            checks += 1;
        }
        for path in lists {
            let (status, answer) = call(&portal, "GET", path, &token, None).await;
            assert!(status == 200 && !mentions(&answer, object), "{agency} GET {path} lists another's case: {answer}");
            checks += 1;
        }
    }
    // Without a key (a citizen), nothing about cases answers.
    for (method, path, body) in case_endpoints(&district.0).into_iter().chain(inspector_endpoints(&district.0)) {
        let (status, _) = call(&portal, method, &path, "", body.as_ref()).await;
        assert_eq!(status, 401, "a citizen {method} {path}");
        checks += 1;
    }

    // Positive controls: the owner and every ancestor read it (without its culpability track)
    // and list it; the owner acts on it.
    let mut controls = 0;
    for agency in ["district-3", "tehran-municipality", "tehran-governorate"] {
        let token = officer(agency);
        let (status, body) =
            call(&portal, "GET", &format!("/api/v1/violation-cases/{}", district.0), &token, None).await;
        assert!(status == 200 && body.get("culpability").is_none(), "{agency}: {body}");
        for path in lists {
            let (status, answer) = call(&portal, "GET", path, &token, None).await;
            assert!(status == 200 && mentions(&answer, &district), "{agency} GET {path} misses its own: {answer}");
            controls += 1;
        }
    }
    let (method, path, body) = case_endpoints(&district.0).remove(1);
    let (status, answer) = call(&portal, method, &path, &officer("district-3"), body.as_ref()).await;
    assert_eq!(status, 201, "the owner refers its own case: {answer}");
    println!("access matrix, violation cases: {checks} checks, {controls} positive controls");
    portal.app.stop().await;
}
