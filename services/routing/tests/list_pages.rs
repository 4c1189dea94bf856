//! The agency and routing-rule lists in pages: a stable order, `next_cursor` followed to the
//! last page in either direction, filters, and bad paging refused naming the field. PostgreSQL
//! when NAZER_TEST_DATABASE_URL is set; SQLite otherwise.

use chrono::{DateTime, Duration, Utc};
use nazer_routing::store;
use nazer_shared::http::Scope;
use nazer_shared::http::auth::create_key;
use nazer_shared::testing::list_contract::ListContract;
use nazer_shared::testing::{self, ADMIN_KEY, TestApp, problem_fields};
use serde_json::Value;

const AGENCIES: &str = "/api/v1/agencies";
const RULES: &str = "/api/v1/routing-rules";

fn agency(app: &TestApp, id: &str, parent: Option<&str>) {
    let mut conn = app.db().get().unwrap();
    store::create_agency(&mut conn, id, id, parent, Utc::now()).unwrap();
}

fn assert_invalid(response: (u16, Value), field: &str) {
    let (status, body) = response;
    assert_eq!(status, 422, "{body}");
    assert_eq!(problem_fields(&body), vec![field.to_string()], "{body}");
}

async fn agency_ids(app: &TestApp, path: &str, key: &str) -> Vec<String> {
    testing::page_through(app, path, key, ("agencies", "id"), None).await.concat()
}

async fn rule_ids(app: &TestApp, path: &str) -> Vec<String> {
    testing::page_through(app, path, ADMIN_KEY, ("routing_rules", "id"), None).await.concat()
}

/// Seven agencies, created out of id order: two top-level, five under them.
fn seed_agencies(app: &TestApp) -> Vec<(&'static str, Option<&'static str>)> {
    let plan = [
        ("tehran-governorate", None),
        ("isfahan-governorate", None),
        ("tehran-municipality", Some("tehran-governorate")),
        ("tehran-water", Some("tehran-governorate")),
        ("isfahan-municipality", Some("isfahan-governorate")),
        ("rey-municipality", Some("tehran-governorate")),
        ("isfahan-water", Some("isfahan-governorate")),
    ];
    for (id, parent) in plan {
        agency(app, id, parent);
    }
    plan.to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agency_list_pages_by_id_in_either_direction() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    let plan = seed_agencies(&app);
    let mut ascending: Vec<String> = plan.iter().map(|(id, _)| id.to_string()).collect();
    ascending.sort();
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();
    let agency_key = {
        let mut conn = app.db().get().unwrap();
        create_key(&mut conn, "agency", &[Scope::Agency], Some("tehran-water"), Utc::now()).unwrap().1
    };

    assert_eq!(agency_ids(&app, &format!("{AGENCIES}?limit=2"), ADMIN_KEY).await, ascending);
    assert_eq!(agency_ids(&app, &format!("{AGENCIES}?limit=2&sort=id"), &agency_key).await, ascending);
    assert_eq!(agency_ids(&app, &format!("{AGENCIES}?limit=2&sort=-id"), ADMIN_KEY).await, descending);
    let pages = testing::page_through(&app, &format!("{AGENCIES}?limit=2"), ADMIN_KEY, ("agencies", "id"), None).await;
    assert_eq!(pages.len(), 4, "7 agencies, 2 a page: {pages:?}");

    // Without a limit, the first 50; a full last page still ends with a null cursor.
    let (status, body) = app.get(AGENCIES, ADMIN_KEY).await;
    assert_eq!((status, body["agencies"].as_array().map(Vec::len), &body["next_cursor"]), (200, Some(7), &Value::Null));
    let (_, body) = app.get(&format!("{AGENCIES}?limit=7"), ADMIN_KEY).await;
    assert_eq!((body["agencies"].as_array().map(Vec::len), &body["next_cursor"]), (Some(7), &Value::Null), "{body}");

    for parent in ["tehran-governorate", "isfahan-governorate"] {
        let mut children: Vec<String> =
            plan.iter().filter(|(_, p)| *p == Some(parent)).map(|(id, _)| id.to_string()).collect();
        children.sort();
        let path = format!("{AGENCIES}?limit=2&parent_id={parent}");
        assert_eq!(agency_ids(&app, &path, ADMIN_KEY).await, children, "{parent}");
        children.reverse();
        assert_eq!(agency_ids(&app, &format!("{path}&sort=-id"), ADMIN_KEY).await, children, "{parent}");
    }
    assert_eq!(
        agency_ids(&app, &format!("{AGENCIES}?limit=2&parent_id=tehran-water"), ADMIN_KEY).await,
        Vec::<String>::new()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_agency_paging_is_refused_naming_the_field() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    for (query, field) in [
        ("cursor=Not%20An%20Id", "cursor"),
        ("cursor=", "cursor"),
        ("sort=name", "sort"),
        ("sort=-created_at", "sort"),
        ("parent_id=Tehran!", "parent_id"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("q=tehran", "q"),
    ] {
        assert_invalid(app.get(&format!("{AGENCIES}?{query}"), ADMIN_KEY).await, field);
    }
    let (status, body) = app.get(&format!("{AGENCIES}?cursor=A&sort=name"), ADMIN_KEY).await;
    assert_eq!((status, problem_fields(&body)), (422, vec!["sort".to_string(), "cursor".to_string()]), "{body}");
    app.stop().await;
}

/// Rules: (created_at, id, category, province, agency), oldest first.
type Made = (DateTime<Utc>, String, &'static str, &'static str, &'static str);

fn seed_rules(app: &TestApp, base: DateTime<Utc>) -> Vec<Made> {
    for id in ["tehran-municipality", "qom-municipality"] {
        agency(app, id, None);
    }
    // Some share an instant: the id breaks the tie.
    let plan: [(i64, &str, &str, &str); 7] = [
        (0, "municipal.building", "tehran", "tehran-municipality"),
        (10, "municipal.building", "qom", "qom-municipality"),
        (10, "municipal.roads", "tehran", "tehran-municipality"),
        (10, "municipal.roads", "*", "qom-municipality"),
        (20, "municipal.parks", "tehran", "tehran-municipality"),
        (30, "municipal.parks", "qom", "qom-municipality"),
        (40, "municipal.building", "*", "tehran-municipality"),
    ];
    let mut made = Vec::new();
    for (seconds, category, province, agency) in plan {
        let at = base + Duration::seconds(seconds);
        let mut conn = app.db().get().unwrap();
        let rule = store::create_rule(&mut conn, category, province, "*", agency, at).unwrap();
        made.push((at, rule.id, category, province, agency));
    }
    made.sort_by(|x, y| (x.0, &x.1).cmp(&(y.0, &y.1)));
    made
}

fn ids_of(made: &[Made], keep: impl Fn(&Made) -> bool) -> Vec<String> {
    made.iter().filter(|m| keep(m)).map(|m| m.1.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rule_list_pages_by_creation_in_either_direction() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    let base = DateTime::parse_from_rfc3339("2026-11-29T10:00:00.123456Z").unwrap().with_timezone(&Utc);
    let made = seed_rules(&app, base);
    let oldest_first = ids_of(&made, |_| true);
    let newest_first: Vec<String> = oldest_first.iter().rev().cloned().collect();

    assert_eq!(rule_ids(&app, &format!("{RULES}?limit=2")).await, oldest_first);
    assert_eq!(rule_ids(&app, &format!("{RULES}?limit=2&sort=created_at")).await, oldest_first);
    assert_eq!(rule_ids(&app, &format!("{RULES}?limit=2&sort=-created_at")).await, newest_first);
    let (status, body) = app.get(&format!("{RULES}?limit=7"), ADMIN_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["routing_rules"].as_array().map(Vec::len), &body["next_cursor"]), (Some(7), &Value::Null));

    for (query, expected) in [
        ("category=municipal.building", ids_of(&made, |m| m.2 == "municipal.building")),
        ("agency_id=qom-municipality", ids_of(&made, |m| m.4 == "qom-municipality")),
        ("province=tehran", ids_of(&made, |m| m.3 == "tehran")),
        ("province=Qom", ids_of(&made, |m| m.3 == "qom")),
        ("province=*", ids_of(&made, |m| m.3 == "*")),
        (
            "category=municipal.roads&agency_id=tehran-municipality",
            ids_of(&made, |m| m.2 == "municipal.roads" && m.4 == "tehran-municipality"),
        ),
    ] {
        assert_eq!(rule_ids(&app, &format!("{RULES}?limit=2&{query}")).await, expected, "{query}");
    }
    let (from, to) = (base + Duration::seconds(10), base + Duration::seconds(30));
    let rfc3339 = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    assert_eq!(
        rule_ids(&app, &format!("{RULES}?limit=2&sort=-created_at&from={}&to={}", rfc3339(from), rfc3339(to))).await,
        ids_of(&made, |m| m.0 >= from && m.0 < to).into_iter().rev().collect::<Vec<_>>(),
        "from is inclusive, to exclusive"
    );
    // 2026-11-29 is 1405-09-08 in Tehran.
    for (query, count) in
        [("from=1405-09-08&to=1405-09-08", 7), ("from=2026-11-29&to=2026-11-29", 7), ("from=1405-09-09", 0)]
    {
        let (status, body) = app.get(&format!("{RULES}?{query}"), ADMIN_KEY).await;
        assert_eq!((status, body["routing_rules"].as_array().map(Vec::len)), (200, Some(count)), "{query}: {body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rule_paging_and_filters_are_refused_naming_the_field() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    let rules = ListContract { app: &app, path: RULES, key: ADMIN_KEY, items: ("routing_rules", "id") };
    rules
        .refuses_bad_paging(&[
            ("sort=category", "sort"),
            ("sort=-id", "sort"),
            ("province=atlantis", "province"),
            ("agency_id=Not%20An%20Id", "agency_id"),
        ])
        .await;
    app.stop().await;
}
