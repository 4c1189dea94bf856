//! The delivery log a page at a time: a cursor through a stable order (`created_at`, then the
//! id) in both directions, with the agency, state and period filters, and refused cursors and
//! sorts. PostgreSQL and RabbitMQ when NAZER_TEST_DATABASE_URL and NAZER_TEST_BROKER_URL are
//! set; SQLite and the in-process bus otherwise.

use chrono::{DateTime, Duration, Utc};
use nazer_notification::store;
use nazer_shared::testing::fixtures::{self, message_assigned, rfc3339, stored, write};
use nazer_shared::testing::list_contract::ListContract;
use nazer_shared::testing::{ADMIN_KEY, TestApp, page_through};
use serde_json::{Value, json};

async fn subscribe(app: &TestApp, agency_id: &str, url: &str) -> String {
    let body = json!({ "agency_id": agency_id, "url": url, "event_types": ["*"] });
    let (status, body) = app.post("/api/v1/webhook-subscriptions", ADMIN_KEY, &body).await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_page_through_a_stable_order_in_both_directions() {
    let mut app = TestApp::start(&[nazer_notification::SERVICE]).await;
    // Two receivers for agency-a (so one event makes two deliveries at the same instant), one
    // for agency-b. Nothing is due before tomorrow, so the sender leaves them alone.
    let a_1 = subscribe(&app, "agency-a", "http://127.0.0.1:9/a-1").await;
    let a_2 = subscribe(&app, "agency-a", "http://127.0.0.1:9/a-2").await;
    subscribe(&app, "agency-b", "http://127.0.0.1:9/b").await;
    let t0 = stored(Utc::now() + Duration::days(1));
    for (message, agency, seconds) in
        [("m-1", "agency-a", 0), ("m-2", "agency-a", 1), ("m-3", "agency-b", 1), ("m-4", "agency-a", 2)]
    {
        let at = t0 + Duration::seconds(seconds);
        let envelope = fixtures::envelope("routing", &message_assigned(message, agency));
        write(&app, |conn| store::enqueue_deliveries(conn, &envelope, agency, at));
    }

    // The order expected: by `created_at`, then id.
    let (status, everything) = app.get("/api/v1/deliveries?limit=200", ADMIN_KEY).await;
    assert_eq!(status, 200, "{everything}");
    assert_eq!(everything["next_cursor"], Value::Null, "{everything}");
    let mut listed: Vec<(DateTime<Utc>, String, String)> = everything["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let at = DateTime::parse_from_rfc3339(d["created_at"].as_str().unwrap()).unwrap().with_timezone(&Utc);
            (at, d["id"].as_str().unwrap().to_string(), d["subscription_id"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(listed.len(), 7, "{everything}");
    listed.sort_by(|x, y| (y.0, &y.1).cmp(&(x.0, &x.1)));
    let newest_first: Vec<String> = listed.iter().map(|d| d.1.clone()).collect();
    let oldest_first: Vec<String> = newest_first.iter().rev().cloned().collect();
    let of_a: Vec<String> = listed.iter().filter(|d| d.2 == a_1 || d.2 == a_2).map(|d| d.1.clone()).collect();
    assert_eq!(of_a.len(), 6);

    let deliveries =
        ListContract { app: &app, path: "/api/v1/deliveries", key: ADMIN_KEY, items: ("deliveries", "id") };
    let walked =
        page_through(&app, "/api/v1/deliveries?state=pending&limit=2", ADMIN_KEY, deliveries.items, None).await;
    assert_eq!(walked.len(), 4, "{walked:?}");
    assert_eq!(walked.concat(), newest_first, "no delivery lost, repeated or out of order");
    deliveries.sorts_both_ways("created_at", &oldest_first).await;
    let (_, partial) = app.get("/api/v1/deliveries?limit=6", ADMIN_KEY).await;
    assert!(partial["next_cursor"].is_string(), "{partial}");

    // Filters hold on every page: the agency, the period, the subscription.
    assert_eq!(deliveries.ids("agency_id=agency-a").await, of_a);
    let of_a_oldest_first: Vec<String> = of_a.iter().rev().cloned().collect();
    assert_eq!(deliveries.ids("agency_id=agency-a&sort=created_at").await, of_a_oldest_first);
    let (_, body) = app.get("/api/v1/deliveries?agency_id=agency-c", ADMIN_KEY).await;
    assert_eq!((body["deliveries"].clone(), body["next_cursor"].clone()), (json!([]), Value::Null));
    let second = rfc3339(t0 + Duration::seconds(1));
    let third = rfc3339(t0 + Duration::seconds(2));
    let walked = deliveries.ids(&format!("from={second}&to={third}")).await;
    assert_eq!(walked, newest_first[2..5], "the second instant only");
    let walked = deliveries.ids(&format!("subscription_id={a_1}&sort=created_at")).await;
    let of_a_1: Vec<String> = listed.iter().rev().filter(|d| d.2 == a_1).map(|d| d.1.clone()).collect();
    assert_eq!((walked.len(), walked), (3, of_a_1));

    // Refusals name the field.
    deliveries
        .refuses_bad_paging(&[
            ("cursor=nope", "cursor"),
            ("cursor=123_not-a-uuid", "cursor"),
            ("sort=attempts", "sort"),
            ("sort=-finished_at", "sort"),
            ("from=someday", "from"),
            ("agency_id=Agency%20A", "agency_id"),
        ])
        .await;
    deliveries.refuses(&format!("from={third}&to={second}"), &["to"]).await;
    deliveries.refuses("state=lost&sort=up&cursor=x", &["state", "sort", "cursor"]).await;
    app.stop().await;
}
