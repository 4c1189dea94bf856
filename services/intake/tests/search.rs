//! Finding a message again, on a real host over a fresh database (PostgreSQL when
//! NAZER_TEST_DATABASE_URL is set, SQLite otherwise): by the reporter's mobile or national ID
//! through their blind index, and by words of the subject and body however they were typed.

use chrono::Utc;
use diesel::prelude::*;
use nazer_intake::projection::{self, Projection};
use nazer_intake::schema::{messages, reporters};
use nazer_intake::sealing::ReporterKeys;
use nazer_intake::search::{SearchKey, index_all};
use nazer_shared::db::DbConnection;
use nazer_shared::events::MessageAssigned;
use nazer_shared::http::Scope;
use nazer_shared::inbox::{HandlerError, InboxOutcome, apply_once};
use nazer_shared::testing::fixtures::{self, envelope, message_assigned};
use nazer_shared::testing::{ADMIN_KEY, REPORTER_KEYS, SEARCH_KEY, TestApp};
use serde_json::{Value, json};

const CATEGORY: &str = "municipal.building";
const MESSAGES: &str = "/api/v1/messages";
const MOBILE: &str = "09121234567";
const NATIONAL_ID: &str = "0499370899";

async fn start() -> TestApp {
    let app = TestApp::start(&[nazer_intake::SERVICE]).await;
    let body = json!({
        "name_fa": "تخلفات ساختمانی",
        "name_en": "Building violations",
        "kinds": ["complaint", "violation_report"],
        "active": true,
    });
    let (status, reply) = app.put(&format!("/api/v1/categories/{CATEGORY}"), ADMIN_KEY, &body).await;
    assert_eq!(status, 200, "{reply}");
    app
}

/// Posts a complaint as the call centre; answers its receipt.
async fn post(app: &TestApp, subject: &str, body: &str, reporter: Value) -> Value {
    let message = json!({
        "kind": "complaint",
        "channel": "call_center",
        "category": CATEGORY,
        "subject": subject,
        "body": body,
        "province": "tehran",
        "reporter": reporter,
    });
    let (status, receipt) = app.post(MESSAGES, ADMIN_KEY, &message).await;
    assert_eq!(status, 201, "{receipt}");
    receipt
}

/// `GET /api/v1/messages` with `params`: the status and the answer.
async fn search(app: &TestApp, key: &str, params: &[(&str, &str)]) -> (u16, Option<String>, Value) {
    let response = app
        .client
        .get(app.url(MESSAGES))
        .query(params)
        .bearer_auth(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"));
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (status, body) = nazer_shared::testing::read(response).await;
    (status, content_type, body)
}

/// The tracking codes a search finds, in the list's order.
async fn found(app: &TestApp, key: &str, params: &[(&str, &str)]) -> Vec<String> {
    let (status, _, body) = search(app, key, params).await;
    assert_eq!(status, 200, "{params:?}: {body}");
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| m["tracking_code"].as_str().unwrap_or("").into())
        .collect()
}

fn code(receipt: &Value) -> String {
    receipt["tracking_code"].as_str().unwrap_or_default().to_string()
}

#[track_caller]
fn assert_problem(answer: (u16, Option<String>, Value), status: u16, slug: &str, fields: &[&str]) {
    let (got, content_type, body) = answer;
    fixtures::assert_problem(got, content_type.as_deref(), &body, (status, slug, fields));
}

/// Assigns the message of `receipt` to `agency`, as routing's event would.
async fn assign(app: &TestApp, receipt: &Value, agency: &str) {
    let id = receipt["id"].as_str().unwrap_or_default().to_string();
    let assigned = MessageAssigned {
        tracking_code: code(receipt),
        kind: "complaint".into(),
        category: CATEGORY.into(),
        agency_name: format!("شهرداری {agency}"),
        assigned_at: fixtures::stored(Utc::now()),
        ..message_assigned(&id, agency)
    };
    let envelope = envelope("routing", &assigned);
    let handler = projection::handlers().with_state(Projection);
    let outcome = app
        .db()
        .write(move |conn| apply_once(conn, "intake", &envelope, Utc::now(), handler.as_ref()))
        .await
        .unwrap_or_else(|e: HandlerError| panic!("the projection refused the event: {e}"));
    assert_eq!(outcome, InboxOutcome::Applied);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reporter_is_found_by_mobile_or_national_id_in_any_written_form_and_never_by_an_agency() {
    let mut app = start().await;
    let theirs =
        post(&app, "گزارش", "ساخت و ساز", json!({ "mobile": "+98 912 123 4567", "national_id": NATIONAL_ID })).await;
    let other =
        post(&app, "گزارش", "ساخت و ساز", json!({ "mobile": "09351112233", "national_id": "0790419904" })).await;
    let _anonymous = post(&app, "گزارش", "ساخت و ساز", json!({ "full_name": "بی‌نام" })).await;
    let theirs_only = vec![code(&theirs)];

    for mobile in [MOBILE, "۰۹۱۲۱۲۳۴۵۶۷", "00989121234567", "+98 912-123-4567"] {
        assert_eq!(found(&app, ADMIN_KEY, &[("mobile", mobile)]).await, theirs_only, "{mobile}");
    }
    for id in [NATIONAL_ID, "۰۴۹۹۳۷۰۸۹۹"] {
        assert_eq!(found(&app, ADMIN_KEY, &[("national_id", id)]).await, theirs_only, "{id}");
    }
    assert_eq!(found(&app, ADMIN_KEY, &[("mobile", MOBILE), ("national_id", NATIONAL_ID)]).await, theirs_only);
    assert_eq!(found(&app, ADMIN_KEY, &[("national_id", "0790419904")]).await, vec![code(&other)]);
    // Both must hold; with the other filters too.
    assert!(found(&app, ADMIN_KEY, &[("mobile", MOBILE), ("national_id", "0790419904")]).await.is_empty());
    assert!(found(&app, ADMIN_KEY, &[("mobile", MOBILE), ("status", "closed")]).await.is_empty());
    assert_eq!(found(&app, ADMIN_KEY, &[("mobile", MOBILE), ("status", "received")]).await, theirs_only);
    assert!(found(&app, ADMIN_KEY, &[("mobile", "09120000000")]).await.is_empty(), "no match: an empty list");

    // Stored blind: neither the number nor its plain hash is in the row.
    let id = theirs["id"].as_str().unwrap_or_default().to_string();
    let (mobile_index, national_id_index) = app
        .db()
        .run(move |conn| {
            Ok(reporters::table
                .find(&id)
                .select((reporters::mobile_blind_index, reporters::national_id_blind_index))
                .first::<(Option<String>, Option<String>)>(conn)?)
        })
        .await
        .unwrap();
    let (mobile_index, national_id_index) = (mobile_index.unwrap_or_default(), national_id_index.unwrap_or_default());
    assert_eq!((mobile_index.len(), national_id_index.len()), (64, 64));
    assert!(!mobile_index.contains("9121234567") && mobile_index != national_id_index);

    // Values that are no mobile or national ID are named.
    assert_problem(search(&app, ADMIN_KEY, &[("mobile", "12345")]).await, 422, "validation", &["mobile"]);
    let wrong_check_digit = [("national_id", "0499370898")];
    assert_problem(search(&app, ADMIN_KEY, &wrong_check_digit).await, 422, "validation", &["national_id"]);
    let both = [("mobile", "0912"), ("national_id", "abc")];
    assert_problem(search(&app, ADMIN_KEY, &both).await, 422, "validation", &["mobile", "national_id"]);

    // Agencies may not search by identity, even for their own messages.
    assign(&app, &theirs, "agency-a").await;
    let agency = fixtures::api_key(&app, &[Scope::Agency], Some("agency-a"));
    for params in [[("mobile", MOBILE)], [("national_id", NATIONAL_ID)], [("mobile", "not a number")]] {
        let answer = search(&app, &agency, &params).await;
        assert!(answer.2["detail"].as_str().unwrap_or_default().contains("agencies may not search by identity"));
        assert_problem(answer, 403, "forbidden", &[]);
    }
    assert_eq!(found(&app, &agency, &[]).await, theirs_only, "the list itself stays open to the agency");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn words_are_found_however_they_were_typed_and_agencies_find_their_own_only() {
    let mut app = start().await;
    let pothole = post(&app, "چاله\u{200C}ی خیابان", "آسفالت کوچهٔ شمارهٔ ۱۲ کنار ایستگاه BRT خراب است", json!({})).await;
    let noise = post(&app, "نور", "چراغ کوچه خاموش است", json!({})).await;
    let elsewhere = post(&app, "چاله\u{200C}ی خیابان", "آسفالت خراب است", json!({})).await;
    let pothole_only = vec![code(&pothole)];

    // With Arabic yeh and kaf, with and without ZWNJ, with diacritics, digits in any script.
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "كوچهٔ 12")]).await, pothole_only);
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "چالهي ١٢")]).await, pothole_only);
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "چاله\u{200C}ی  ۱۲")]).await, pothole_only);
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "آسفالتِ خیابان ۱۲")]).await, pothole_only);
    let mut both = vec![code(&elsewhere), code(&pothole)];
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "چالهی")]).await, both, "newest first");
    both.reverse();
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "brt")]).await, pothole_only, "case-folded");
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "خیابان"), ("sort", "received_at")]).await, both);
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "کوچه")]).await, vec![code(&noise), code(&pothole)]);
    // A word matches the start of a word, the same on both backends: not the middle of one.
    let newest_first = vec![code(&elsewhere), code(&pothole)];
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "آسف خیا")]).await, newest_first, "the body's first word too");
    assert!(found(&app, ADMIN_KEY, &[("q", "فالت")]).await.is_empty(), "the middle of آسفالت");
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "ایستگا")]).await, pothole_only);
    // Every word must appear; `%` and `_` are only themselves.
    assert!(found(&app, ADMIN_KEY, &[("q", "آسفالت چراغ")]).await.is_empty());
    assert!(found(&app, ADMIN_KEY, &[("q", "%")]).await.is_empty());
    assert!(found(&app, ADMIN_KEY, &[("q", "_")]).await.is_empty());

    for q in ["", " \u{200C} ", &"و ".repeat(11), &"ا".repeat(201)] {
        assert_problem(search(&app, ADMIN_KEY, &[("q", q)]).await, 422, "validation", &["q"]);
    }

    // An agency searches its own messages only.
    assign(&app, &pothole, "agency-a").await;
    assign(&app, &elsewhere, "agency-b").await;
    let agency_a = fixtures::api_key(&app, &[Scope::Agency], Some("agency-a"));
    let agency_b = fixtures::api_key(&app, &[Scope::Agency], Some("agency-b"));
    assert_eq!(found(&app, &agency_a, &[("q", "چالهی")]).await, pothole_only);
    assert_eq!(found(&app, &agency_b, &[("q", "چالهی")]).await, vec![code(&elsewhere)]);
    assert!(found(&app, &agency_b, &[("q", "کوچه")]).await.is_empty());
    let agency_c = fixtures::api_key(&app, &[Scope::Agency], Some("agency-c"));
    assert!(found(&app, &agency_c, &[("q", "آسفالت")]).await.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_stored_before_search_are_indexed_from_their_sealed_reporters() {
    let mut app = start().await;
    let receipt = post(&app, "درخت", "قطع درخت در پارک", json!({ "mobile": MOBILE, "national_id": NATIONAL_ID })).await;
    // As an older version stored it: no search column, no blind index, the mobile in plaintext.
    let id = receipt["id"].as_str().unwrap_or_default().to_string();
    let row = id.clone();
    app.db()
        .run(move |conn| {
            diesel::update(messages::table.find(&row)).set(messages::search_text.eq(None::<String>)).execute(conn)?;
            if matches!(conn, DbConnection::Sqlite(_)) {
                // Nor its words in the FTS5 table: filling the column must write them.
                diesel::sql_query("DELETE FROM message_words WHERE message_id = ?")
                    .bind::<diesel::sql_types::Text, _>(&row)
                    .execute(conn)?;
            }
            diesel::update(reporters::table.find(&row))
                .set((
                    reporters::mobile.eq(Some(MOBILE)),
                    reporters::mobile_blind_index.eq(None::<String>),
                    reporters::national_id_blind_index.eq(None::<String>),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
    assert!(found(&app, ADMIN_KEY, &[("q", "درخت")]).await.is_empty());
    assert!(found(&app, ADMIN_KEY, &[("mobile", MOBILE)]).await.is_empty());

    let keys = ReporterKeys::parse(REPORTER_KEYS).unwrap();
    let search_key = SearchKey::parse(SEARCH_KEY).unwrap();
    let index =
        |app: &TestApp, keys: &ReporterKeys| index_all(&mut app.db().get().unwrap(), &search_key, keys).unwrap();
    // A key that opens nothing: the row is named and left for later.
    let unrelated = ReporterKeys::parse(&format!("other:{}", "11".repeat(32))).unwrap();
    let outcome = index(&app, &unrelated);
    assert_eq!((outcome.messages, outcome.reporters, outcome.unreadable), (1, 0, vec![id.clone()]));
    let outcome = index(&app, &keys);
    assert_eq!((outcome.messages, outcome.reporters, outcome.unreadable.len()), (0, 1, 0));
    assert_eq!(index(&app, &keys), Default::default(), "nothing left to index");

    let this = vec![code(&receipt)];
    assert_eq!(found(&app, ADMIN_KEY, &[("q", "درخت")]).await, this);
    assert_eq!(found(&app, ADMIN_KEY, &[("mobile", "+989121234567")]).await, this);
    assert_eq!(found(&app, ADMIN_KEY, &[("national_id", NATIONAL_ID)]).await, this);
    app.stop().await;
}
