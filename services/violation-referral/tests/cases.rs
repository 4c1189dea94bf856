//! Violation-referral end to end: cases opened from assignments (directly and through the
//! bus) and the case API with its agency confinement, on a real host over a fresh database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use nazer_shared::events::{Envelope, MessageAssigned, ViolationCaseOpened};
use nazer_shared::http::Scope;
use nazer_shared::schema::{inbox, outbox};
use nazer_shared::testing::fixtures::{api_key, assert_problem, envelope, message_assigned, rfc3339, stored};
use nazer_shared::testing::list_contract::ListContract;
use nazer_shared::testing::{self, ADMIN_KEY, TestApp, eventually};
use nazer_violation_referral::schema::violation_cases;
use nazer_violation_referral::store;
use serde_json::{Value, json};

const CASES: &str = "/api/v1/violation-cases";

// ---------------------------------------------------------------------------------------------
// Helpers

async fn start() -> TestApp {
    TestApp::start(&[nazer_violation_referral::SERVICE]).await
}

/// Now, at the precision the database keeps, so times read back compare equal.
fn now() -> DateTime<Utc> {
    stored(Utc::now())
}

/// A valid tracking code of its own for message `n`: nine digits and their check digit.
fn tracking_code(n: u32) -> String {
    let digits: Vec<u8> = format!("{:09}", 100_000_000 + n).bytes().map(|b| b - b'0').collect();
    format!("{:09}{}", 100_000_000 + n, nazer_shared::tracking_code::check_digit(&digits))
}

/// What routing publishes when it assigns message `n` of `kind` to `agency`.
fn assignment(n: u32, kind: &str, agency: &str) -> MessageAssigned {
    MessageAssigned {
        tracking_code: tracking_code(n),
        kind: kind.into(),
        assigned_at: now(),
        ..message_assigned(&format!("message-{n}"), agency)
    }
}

/// Opens the case of `assigned` in its own transaction, as the consumer would.
async fn open(app: &TestApp, assigned: &MessageAssigned, at: DateTime<Utc>) -> Option<String> {
    let assigned = assigned.clone();
    app.db().write(move |conn| store::open_case(conn, &assigned, at)).await.unwrap_or_else(|e| panic!("{e}"))
}

/// The case view the API is expected to show for `assigned`.
fn case_json(id: &str, assigned: &MessageAssigned, opened_at: DateTime<Utc>) -> Value {
    json!({
        "id": id,
        "message_id": assigned.message_id,
        "tracking_code": assigned.tracking_code,
        "agency_id": assigned.agency_id,
        "category": assigned.category,
        "province": assigned.province,
        "status": "open",
        "opened_at": opened_at,
        "violation_type": null,
        "remedial_state": null,
        "culpability_state": null,
        "opened_reason": null,
    })
}

/// What an agency lists of it: nothing of the culpability track, not even its place.
fn agency_case_json(id: &str, assigned: &MessageAssigned, opened_at: DateTime<Utc>) -> Value {
    let mut case = case_json(id, assigned, opened_at);
    case.as_object_mut().map(|c| c.remove("culpability_state"));
    case
}

/// The detail an overseer reads of an unclassified case: no track opened yet.
fn detail_json(id: &str, assigned: &MessageAssigned, opened_at: DateTime<Utc>) -> Value {
    let mut detail = case_json(id, assigned, opened_at);
    detail["remedial"] = Value::Null;
    detail["culpability"] = Value::Null;
    detail
}

/// What the agency reads of it: the culpability track is absent, not even null.
fn agency_detail_json(id: &str, assigned: &MessageAssigned, opened_at: DateTime<Utc>) -> Value {
    let mut detail = agency_case_json(id, assigned, opened_at);
    detail["remedial"] = Value::Null;
    detail
}

async fn count_cases(app: &TestApp) -> i64 {
    app.db().run(|conn| Ok(violation_cases::table.count().get_result(conn)?)).await.unwrap()
}

/// The `violation.case_opened` envelopes in the outbox, published or not, oldest first.
async fn cases_announced(app: &TestApp) -> Vec<Envelope> {
    let rows: Vec<String> = app
        .db()
        .run(|conn| {
            Ok(outbox::table
                .filter(outbox::producer.eq("violation-referral"))
                .filter(outbox::event_type.eq("violation.case_opened"))
                .order(outbox::id)
                .select(outbox::envelope)
                .load(conn)?)
        })
        .await
        .unwrap();
    rows.iter().map(|row| serde_json::from_str(row).unwrap_or_else(|e| panic!("{e}: {row}"))).collect()
}

async fn get(app: &TestApp, path: &str, key: Option<&str>) -> (u16, Option<String>, Value) {
    let mut request = app.client.get(app.url(path));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (status, body) = nazer_shared::testing::read(response).await;
    (status, content_type, body)
}

/// Checks `reply` is a problem document of `status` and `slug` naming `fields`; its body.
#[track_caller]
fn problem(reply: (u16, Option<String>, Value), status: u16, slug: &str, fields: &[&str]) -> Value {
    let (got, content_type, body) = reply;
    assert_problem(got, content_type.as_deref(), &body, (status, slug, fields));
    body
}

fn listed(body: &Value) -> Vec<Value> {
    body["violation_cases"].as_array().cloned().unwrap_or_else(|| panic!("no violation_cases: {body}"))
}

// ---------------------------------------------------------------------------------------------
// Opening cases

#[tokio::test(flavor = "multi_thread")]
async fn a_violation_report_opens_one_case_however_often_it_is_assigned() {
    let mut app = start().await;
    let assigned = assignment(1, "violation_report", "agency-a");
    let opened_at = now();

    let id = open(&app, &assigned, opened_at).await.expect("a violation report opens a case");
    assert_eq!(open(&app, &assigned, opened_at + chrono::Duration::seconds(5)).await, None);
    let reassigned = MessageAssigned { agency_id: "agency-b".into(), ..assigned.clone() };
    assert_eq!(open(&app, &reassigned, opened_at + chrono::Duration::seconds(9)).await, None);
    assert_eq!(count_cases(&app).await, 1);

    let announced = cases_announced(&app).await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert_eq!(
        (announced[0].producer.as_str(), announced[0].aggregate_id.as_str()),
        ("violation-referral", id.as_str())
    );
    assert_eq!(
        announced[0].decode::<ViolationCaseOpened>().unwrap(),
        ViolationCaseOpened {
            case_id: id.clone(),
            message_id: assigned.message_id.clone(),
            tracking_code: assigned.tracking_code.clone(),
            agency_id: "agency-a".into(),
            category: assigned.category.clone(),
            province: assigned.province.clone(),
            opened_at,
        }
    );

    let (status, _, body) = get(&app, &format!("{CASES}/{id}"), Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, detail_json(&id, &assigned, opened_at));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_inspector_opens_a_case_on_any_assigned_message_once() {
    let mut app = start().await;
    let inspector = api_key(&app, &[Scope::Supervisor], None);
    let agency = api_key(&app, &[Scope::Agency], Some("district-3"));
    let complaint = assignment(7, "complaint", "district-3");
    assert_eq!(open(&app, &complaint, now()).await, None, "a complaint opens no case by itself");
    let body = json!({ "tracking_code": complaint.tracking_code, "reason": "شکایت از ساخت بدون پروانه خبر می‌دهد" });
    assert_eq!(app.post(CASES, &agency, &body).await.0, 403);
    let (status, refused) = app.post(CASES, &inspector, &json!({ "tracking_code": "12", "reason": " " })).await;
    assert_eq!(
        (status, testing::problem_fields(&refused)),
        (422, vec!["tracking_code".to_string(), "reason".to_string()]),
        "{refused}"
    );
    // A well-formed code no message was given.
    let unknown = json!({ "tracking_code": tracking_code(999), "reason": "r" });
    let (status, refused) = app.post(CASES, &inspector, &unknown).await;
    assert_eq!((status, testing::problem_fields(&refused)), (422, vec!["tracking_code".to_string()]), "{refused}");

    let (status, case) = app.post(CASES, &inspector, &body).await;
    assert_eq!(status, 201, "{case}");
    assert_eq!((case["message_id"].as_str(), case["agency_id"].as_str()), (Some("message-7"), Some("district-3")));
    assert_eq!(case["opened_reason"], "شکایت از ساخت بدون پروانه خبر می‌دهد");
    let (status, again) = app.post(CASES, &inspector, &body).await;
    assert_eq!(status, 409, "one case per message: {again}");
    assert!(again["detail"].as_str().unwrap_or_default().contains(case["id"].as_str().unwrap()), "{again}");
    assert_eq!(cases_announced(&app).await.len(), 1);
    // The agency reads it; declined and assigned to another, the case goes with it.
    let path = format!("{CASES}/{}", case["id"].as_str().unwrap());
    assert_eq!(app.get(&path, &agency).await.0, 200);
    let later = MessageAssigned {
        assigned_at: now() + chrono::Duration::seconds(1),
        ..assignment(7, "complaint", "district-6")
    };
    open(&app, &later, now()).await;
    assert_eq!(app.get(&path, &agency).await.0, 404, "handed over");
    let (_, moved) = app.get(&path, &inspector).await;
    assert_eq!(moved["agency_id"], "district-6", "{moved}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn other_kinds_of_message_open_no_case() {
    let mut app = start().await;
    for (n, kind) in ["complaint", "criticism", "suggestion", "appreciation", "a_future_kind"].into_iter().enumerate() {
        let assigned = assignment(n as u32, kind, "agency-a");
        assert_eq!(open(&app, &assigned, now()).await, None, "{kind} opened a case");
    }
    assert_eq!(count_cases(&app).await, 0);
    assert!(cases_announced(&app).await.is_empty());
    let (status, _, body) = get(&app, CASES, Some(ADMIN_KEY)).await;
    assert_eq!((status, body), (200, json!({ "violation_cases": [], "next_cursor": null })));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_assignment_from_the_bus_opens_its_case_once() {
    let mut app = start().await;
    let bus = app.host.as_ref().map(|h| h.bus.clone()).unwrap();
    let complaint = envelope("routing", &assignment(1, "complaint", "agency-a"));
    let report = envelope("routing", &assignment(2, "violation_report", "agency-a"));
    let last = envelope("routing", &assignment(3, "violation_report", "agency-b"));
    // The report is delivered twice; the last event, once consumed, shows the queue drained
    // (one consumer takes its queue in order).
    for envelope in [&complaint, &report, &report, &last] {
        bus.publish(envelope).await.unwrap_or_else(|e| panic!("{e}"));
    }

    let app_ref = &app;
    let cases = eventually(Duration::from_secs(60), "the case of the last assignment", move || async move {
        let (status, _, body) = get(app_ref, CASES, Some(ADMIN_KEY)).await;
        assert_eq!(status, 200, "{body}");
        let cases = listed(&body);
        cases.iter().any(|c| c["message_id"] == "message-3").then_some(cases)
    })
    .await;
    let mut opened: Vec<(&str, &str)> =
        cases.iter().map(|c| (c["message_id"].as_str().unwrap(), c["agency_id"].as_str().unwrap())).collect();
    opened.sort_unstable();
    assert_eq!(opened, [("message-2", "agency-a"), ("message-3", "agency-b")]);
    assert_eq!(cases_announced(&app).await.len(), 2);

    // Each distinct event is in the inbox once; the redelivery was only acknowledged.
    let seen: Vec<String> = app
        .db()
        .run(|conn| {
            Ok(inbox::table
                .filter(inbox::consumer.eq("violation-referral"))
                .order(inbox::event_id)
                .select(inbox::event_id)
                .load(conn)?)
        })
        .await
        .unwrap();
    let mut expected: Vec<String> = [&complaint, &report, &last].iter().map(|e| e.event_id.to_string()).collect();
    expected.sort_unstable();
    assert_eq!(seen, expected);
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// The case API

#[tokio::test(flavor = "multi_thread")]
async fn admins_list_and_read_every_case() {
    let mut app = start().await;
    let (first, second) =
        (assignment(1, "violation_report", "agency-a"), assignment(2, "violation_report", "agency-b"));
    let earlier = now();
    let later = earlier + chrono::Duration::seconds(30);
    let first_id = open(&app, &first, earlier).await.unwrap();
    let second_id = open(&app, &second, later).await.unwrap();

    let (status, _, body) = get(&app, CASES, Some(ADMIN_KEY)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        listed(&body),
        [case_json(&second_id, &second, later), case_json(&first_id, &first, earlier)],
        "newest first"
    );

    let (status, _, body) = get(&app, &format!("{CASES}?agency_id=agency-a"), Some(ADMIN_KEY)).await;
    assert_eq!((status, listed(&body)), (200, vec![case_json(&first_id, &first, earlier)]));
    let (status, _, body) = get(&app, &format!("{CASES}?limit=1"), Some(ADMIN_KEY)).await;
    assert_eq!((status, listed(&body)), (200, vec![case_json(&second_id, &second, later)]));

    let (status, _, body) = get(&app, &format!("{CASES}/{first_id}"), Some(ADMIN_KEY)).await;
    assert_eq!((status, body), (200, detail_json(&first_id, &first, earlier)));
    problem(get(&app, &format!("{CASES}/no-such-case"), Some(ADMIN_KEY)).await, 404, "not-found", &[]);

    for limit in [0, 201] {
        problem(get(&app, &format!("{CASES}?limit={limit}"), Some(ADMIN_KEY)).await, 422, "validation", &["limit"]);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agency_sees_only_its_own_cases() {
    let mut app = start().await;
    let (own, other) = (assignment(1, "violation_report", "agency-a"), assignment(2, "violation_report", "agency-b"));
    let at = now();
    let own_id = open(&app, &own, at).await.unwrap();
    let other_id = open(&app, &other, at + chrono::Duration::seconds(1)).await.unwrap();
    let agency_a = api_key(&app, &[Scope::Agency], Some("agency-a"));

    let (status, _, body) = get(&app, CASES, Some(&agency_a)).await;
    assert_eq!((status, listed(&body)), (200, vec![agency_case_json(&own_id, &own, at)]));
    // Asking for another agency's cases does not widen what the key sees.
    let (status, _, body) = get(&app, &format!("{CASES}?agency_id=agency-b"), Some(&agency_a)).await;
    assert_eq!((status, listed(&body)), (200, vec![agency_case_json(&own_id, &own, at)]));

    let (status, _, body) = get(&app, &format!("{CASES}/{own_id}"), Some(&agency_a)).await;
    assert_eq!((status, body), (200, agency_detail_json(&own_id, &own, at)));
    // Another agency's case answers exactly like a missing one.
    let theirs = problem(get(&app, &format!("{CASES}/{other_id}"), Some(&agency_a)).await, 404, "not-found", &[]);
    let missing = problem(get(&app, &format!("{CASES}/no-such-case"), Some(&agency_a)).await, 404, "not-found", &[]);
    assert_eq!(theirs, missing);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cases_need_an_overseer_or_agency_key() {
    let mut app = start().await;
    let id = open(&app, &assignment(1, "violation_report", "agency-a"), now()).await.unwrap();
    // Supervisors and special follow-up follow every agency's cases.
    for scopes in [&[Scope::Supervisor][..], &[Scope::SpecialFollowUp]] {
        let overseer = api_key(&app, scopes, None);
        let (status, _, body) = get(&app, CASES, Some(&overseer)).await;
        assert_eq!((status, listed(&body).len()), (200, 1), "{scopes:?}");
        assert_eq!(get(&app, &format!("{CASES}/{id}"), Some(&overseer)).await.0, 200, "{scopes:?}");
    }
    let call_center = api_key(&app, &[Scope::CallCenter], None);
    let unbound_agency = api_key(&app, &[Scope::Agency], None);

    for path in [CASES.to_string(), format!("{CASES}/{id}")] {
        problem(get(&app, &path, None).await, 401, "unauthorized", &[]);
        problem(get(&app, &path, Some("nzr_neverIssued")).await, 401, "unauthorized", &[]);
        problem(get(&app, &path, Some(&call_center)).await, 403, "forbidden", &[]);
        problem(get(&app, &path, Some(&unbound_agency)).await, 403, "forbidden", &[]);
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Paging, sorting and filters

fn case_list<'a>(app: &'a TestApp, key: &'a str) -> ListContract<'a> {
    ListContract { app, path: CASES, key, items: ("violation_cases", "id") }
}

/// The cases, as (opened_at, id, agency, province), in the stable order oldest first.
type Opened = Vec<(DateTime<Utc>, String, &'static str, &'static str)>;

fn ids_of(cases: &Opened, keep: impl Fn(&(DateTime<Utc>, String, &'static str, &'static str)) -> bool) -> Vec<String> {
    cases.iter().filter(|c| keep(c)).map(|c| c.1.clone()).collect()
}

/// Eight cases: six of agency-a, two of agency-b, some opened at the same instant (the id
/// breaks the tie) and the others of agency-b between those of agency-a.
async fn open_many(app: &TestApp, base: DateTime<Utc>) -> Opened {
    let plan: [(u32, i64, &str, &str); 8] = [
        (1, 0, "agency-a", "tehran"),
        (2, 10, "agency-a", "qom"),
        (3, 10, "agency-b", "tehran"),
        (4, 10, "agency-a", "tehran"),
        (5, 20, "agency-a", "tehran"),
        (6, 30, "agency-b", "qom"),
        (7, 40, "agency-a", "qom"),
        (8, 40, "agency-a", "tehran"),
    ];
    let mut opened = Vec::new();
    for (n, seconds, agency, province) in plan {
        let assigned = MessageAssigned { province: province.into(), ..assignment(n, "violation_report", agency) };
        let at = base + chrono::Duration::seconds(seconds);
        let id = open(app, &assigned, at).await.expect("a violation report opens a case");
        opened.push((at, id, agency, province));
    }
    opened.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
    opened
}

#[tokio::test(flavor = "multi_thread")]
async fn cases_page_through_a_stable_order_in_either_direction() {
    let mut app = start().await;
    let base = DateTime::parse_from_rfc3339("2026-11-29T10:00:00.123456Z").unwrap().with_timezone(&Utc);
    let cases = open_many(&app, base).await;
    let oldest_first = ids_of(&cases, |_| true);
    let newest_first: Vec<String> = oldest_first.iter().rev().cloned().collect();

    let listing = case_list(&app, ADMIN_KEY);

    // Newest first by default, two at a time: every case once, none twice.
    assert_eq!(listing.ids("").await, newest_first);
    listing.sorts_both_ways("opened_at", &oldest_first).await;
    // One page holding everything says no page follows.
    let (status, _, body) = get(&app, &format!("{CASES}?limit=8"), Some(ADMIN_KEY)).await;
    assert_eq!((status, listed(&body).len(), &body["next_cursor"]), (200, 8, &Value::Null), "{body}");

    // Filters page too: an agency, a province, a period.
    let of_a = |c: &(DateTime<Utc>, String, &str, &str)| c.2 == "agency-a";
    assert_eq!(listing.ids("sort=opened_at&agency_id=agency-a").await, ids_of(&cases, of_a));
    assert_eq!(listing.ids("sort=opened_at&province=tehran&status=open").await, ids_of(&cases, |c| c.3 == "tehran"));
    let (from, to) = (base + chrono::Duration::seconds(10), base + chrono::Duration::seconds(30));
    assert_eq!(
        listing.ids(&format!("sort=opened_at&from={}&to={}", rfc3339(from), rfc3339(to))).await,
        ids_of(&cases, |c| c.0 >= from && c.0 < to),
        "from is inclusive, to exclusive"
    );
    // 2026-11-29 is 1405-09-08 in Tehran: the whole day, in either calendar.
    listing.whole_days(("1405-09-08", "2026-11-29"), "1405-09-09", 8).await;
    for query in ["to=1405-09-07", "category=utilities.water", "province=isfahan"] {
        assert_eq!(listing.count(query).await, 0, "{query}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agency_pages_through_its_own_cases_only() {
    let mut app = start().await;
    let base = now();
    let cases = open_many(&app, base).await;
    let own = ids_of(&cases, |c| c.2 == "agency-a");
    let agency_a = api_key(&app, &[Scope::Agency], Some("agency-a"));
    let listing = case_list(&app, &agency_a);

    let newest_first: Vec<String> = own.iter().rev().cloned().collect();
    assert_eq!(listing.ids("").await, newest_first);
    assert_eq!(listing.ids("sort=opened_at").await, own);
    // Asking for another agency's cases, or resuming from a cursor taken on a page that showed
    // them, still shows nothing but its own.
    assert_eq!(listing.ids("sort=opened_at&agency_id=agency-b").await, own);
    let (_, _, body) = get(&app, &format!("{CASES}?limit=2&sort=opened_at"), Some(ADMIN_KEY)).await;
    let cursor = body["next_cursor"].as_str().map(str::to_string);
    assert!(cursor.is_some(), "{body}");
    let after: Vec<String> = cases.iter().skip(2).filter(|c| c.2 == "agency-a").map(|c| c.1.clone()).collect();
    let path = format!("{CASES}?sort=opened_at&limit=2");
    let resumed = testing::page_through(&app, &path, &agency_a, ("violation_cases", "id"), cursor).await.concat();
    assert_eq!(resumed, after);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_paging_and_filters_are_refused_naming_the_field() {
    let mut app = start().await;
    open(&app, &assignment(1, "violation_report", "agency-a"), now()).await.unwrap();
    let agency_a = api_key(&app, &[Scope::Agency], Some("agency-a"));
    for (query, field) in [
        ("cursor=abc", "cursor"),
        ("cursor=1764400000123456_not-a-uuid", "cursor"),
        ("sort=size", "sort"),
        ("sort=-received_at", "sort"),
        ("from=yesterday", "from"),
        ("to=1405-13-01", "to"),
        ("status=closed", "status"),
        ("province=atlantis", "province"),
        ("category=Not%20A%20Code", "category"),
        ("limit=many", "limit"),
        ("page=2", "page"),
    ] {
        for key in [ADMIN_KEY, agency_a.as_str()] {
            problem(get(&app, &format!("{CASES}?{query}"), Some(key)).await, 422, "validation", &[field]);
        }
    }
    // Every bad field is named at once.
    let reply = get(&app, &format!("{CASES}?cursor=abc&sort=size"), Some(ADMIN_KEY)).await;
    problem(reply, 422, "validation", &["sort", "cursor"]);
    app.stop().await;
}
