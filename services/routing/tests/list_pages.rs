//! The agency and routing-rule lists in pages: a stable order, `next_cursor` followed to the
//! last page in either direction, filters, and bad paging refused naming the field. PostgreSQL
//! when NAZER_TEST_DATABASE_URL is set; SQLite otherwise.

use chrono::{DateTime, Duration, Utc};
use nazer_routing::store;
use nazer_shared::http::Scope;
use nazer_shared::testing::fixtures::{api_key, rfc3339};
use nazer_shared::testing::list_contract::ListContract;
use nazer_shared::testing::{self, ADMIN_KEY, TestApp};
use serde_json::Value;

const AGENCIES: &str = "/api/v1/agencies";
const RULES: &str = "/api/v1/routing-rules";

fn agency(app: &TestApp, id: &str, parent: Option<&str>) {
    let mut conn = app.db().get().unwrap();
    store::create_agency(&mut conn, id, id, parent, &[], Utc::now()).unwrap();
}

fn agency_list<'a>(app: &'a TestApp, key: &'a str) -> ListContract<'a> {
    ListContract { app, path: AGENCIES, key, items: ("agencies", "id") }
}

fn rule_list(app: &TestApp) -> ListContract<'_> {
    ListContract { app, path: RULES, key: ADMIN_KEY, items: ("routing_rules", "id") }
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
    let agency_key = api_key(&app, &[Scope::Agency], Some("tehran-water"));
    let agencies = agency_list(&app, ADMIN_KEY);

    assert_eq!(agencies.ids("").await, ascending);
    assert_eq!(agency_list(&app, &agency_key).ids("sort=id").await, ascending);
    agencies.sorts_both_ways("id", &ascending).await;
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
        let query = format!("parent_id={parent}");
        assert_eq!(agencies.ids(&query).await, children, "{parent}");
        children.reverse();
        assert_eq!(agencies.ids(&format!("{query}&sort=-id")).await, children, "{parent}");
    }
    assert_eq!(agencies.ids("parent_id=tehran-water").await, Vec::<String>::new());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_agency_paging_is_refused_naming_the_field() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    let agencies = agency_list(&app, ADMIN_KEY);
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
        agencies.refuses(query, &[field]).await;
    }
    agencies.refuses("cursor=A&sort=name", &["sort", "cursor"]).await;
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
        let new = store::NewRule { category, area: province, province: None, city: "*", agency_id: agency };
        let rule = store::create_rule(&mut conn, &new, at).unwrap();
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
    let rules = rule_list(&app);

    assert_eq!(rules.ids("").await, oldest_first);
    rules.sorts_both_ways("created_at", &oldest_first).await;
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
        assert_eq!(rules.ids(query).await, expected, "{query}");
    }
    let (from, to) = (base + Duration::seconds(10), base + Duration::seconds(30));
    assert_eq!(
        rules.ids(&format!("sort=-created_at&from={}&to={}", rfc3339(from), rfc3339(to))).await,
        ids_of(&made, |m| m.0 >= from && m.0 < to).into_iter().rev().collect::<Vec<_>>(),
        "from is inclusive, to exclusive"
    );
    // 2026-11-29 is 1405-09-08 in Tehran.
    rules.whole_days(("1405-09-08", "2026-11-29"), "1405-09-09", 7).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rule_paging_and_filters_are_refused_naming_the_field() {
    let mut app = TestApp::start(&[nazer_routing::SERVICE]).await;
    let rules = rule_list(&app);
    rules
        .refuses_bad_paging(&[
            ("sort=category", "sort"),
            ("sort=-id", "sort"),
            ("province=atlantis", "province"),
            ("agency_id=Not%20An%20Id", "agency_id"),
        ])
        .await;
    // Both faults, in the order the list checks them.
    rules.refuses("cursor=abc&sort=size", &["sort", "cursor"]).await;
    app.stop().await;
}
