//! Open311 GeoReport v2 end to end: real HTTP against intake on a fresh database (PostgreSQL
//! and RabbitMQ when NAZER_TEST_DATABASE_URL / NAZER_TEST_BROKER_URL are set; SQLite and the
//! in-process bus otherwise). XML answers are parsed by a small reader here, independent of
//! the writer under test.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, SecondsFormat, Timelike, Utc};
use diesel::prelude::*;
use nazer_intake::schema::{messages, reporters};
use nazer_intake::tracking_code::TrackingCode;
use nazer_shared::db::to_db_time;
use nazer_shared::events::{DeadlineMet, DeadlineScheduled, Event, MessageAssigned, MessageReceived};
use nazer_shared::testing::fixtures::{envelope, message_assigned, stored};
use nazer_shared::testing::{ADMIN_KEY, TestApp, eventually};
use serde_json::{Value, json};

const ROOT: &str = "/open311/v2";
const BUILDING: &str = "municipal.building";
/// A service whose names need escaping in XML.
const SIGNS: &str = "roads.signs";
const SIGNS_NAME_FA: &str = "علائم & تابلوهای <راه>";
/// What the reporter of [`a_request`] gave about themselves, in every form it may be stored or
/// shown (whole numbers only: a short run of digits may occur in a random tracking code).
const PERSONAL: [&str; 7] = ["رضا", "احمدی", "09121234567", "912 123 4567", "reza@example.org", "device-1", "acct-7"];

// ---------------------------------------------------------------------------------------------
// Helpers

async fn start() -> TestApp {
    let app = TestApp::start(&[nazer_intake::SERVICE]).await;
    for (code, name_fa, name_en, kinds, active) in [
        (BUILDING, "تخلفات ساختمانی", "Building violations", json!(["complaint", "violation_report"]), true),
        (SIGNS, SIGNS_NAME_FA, "Signs & <roads>", json!(["suggestion", "criticism"]), true),
        ("tenders.retired", "مناقصه", "Retired tenders", json!(["complaint"]), false),
    ] {
        let body = json!({ "name_fa": name_fa, "name_en": name_en, "kinds": kinds, "active": active });
        let (status, reply) = app.put(&format!("/api/v1/categories/{code}"), ADMIN_KEY, &body).await;
        assert_eq!(status, 200, "PUT category {code}: {reply}");
    }
    app
}

/// Creates a key with `scopes` through the admin API: (id, secret).
async fn create_key(app: &TestApp, scopes: &[&str]) -> (String, String) {
    let (status, body) = app.post("/api/v1/api-keys", ADMIN_KEY, &json!({ "name": "311 app", "scopes": scopes })).await;
    assert_eq!(status, 201, "{body}");
    (text(&body["id"]), text(&body["secret"]))
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("not a string: {value}")).to_string()
}

/// One HTTP answer, its body as sent.
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        assert_eq!(self.content_type, "application/json; charset=utf-8", "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn xml(&self) -> Element {
        assert_eq!(self.content_type, "text/xml; charset=utf-8", "{}", self.body);
        parse_xml(&self.body)
    }
}

async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    Reply { status, content_type, body: response.text().await.unwrap_or_default() }
}

async fn get(app: &TestApp, path: &str, query: &[(&str, &str)]) -> Reply {
    send(app.client.get(app.url(&format!("{ROOT}/{path}"))).query(query)).await
}

type Form = Vec<(String, String)>;

async fn post(app: &TestApp, format: &str, form: &Form) -> Reply {
    send(app.client.post(app.url(&format!("{ROOT}/requests.{format}"))).form(form)).await
}

/// A complete request as an Open311 app posts it, with Persian digits where people type them.
fn a_request(key: &str) -> Form {
    [
        ("api_key", key),
        ("jurisdiction_id", "1888.gov.ir"),
        ("service_code", BUILDING),
        ("lat", "۳۵٫۶۸۹۲"),
        ("long", "51.389"),
        ("address_string", "تهران، خیابان ولیعصر، کوچهٔ ۳"),
        ("email", "reza@example.org"),
        ("device_id", "device-1"),
        ("account_id", "acct-7"),
        ("first_name", "رضا"),
        ("last_name", "احمدی"),
        ("phone", "+98 912 123 4567"),
        ("description", "ساخت و ساز غیرمجاز در کوچه & بدون <مجوز>"),
        ("media_url", "https://example.org/photo.jpg?size=large&v=2"),
        ("attribute[province]", "tehran"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect()
}

/// `form` with `name` set to `value` (added when missing), or removed when `value` is None.
fn with(form: &Form, name: &str, value: Option<&str>) -> Form {
    let mut changed: Form = form.iter().filter(|(n, _)| n != name).cloned().collect();
    if let Some(value) = value {
        changed.push((name.to_string(), value.to_string()));
    }
    changed
}

/// Posts `form` as JSON and returns the new request's id.
async fn submit(app: &TestApp, form: &Form) -> String {
    let reply = post(app, "json", form).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    text(&reply.json()[0]["service_request_id"])
}

/// The (code, description) pairs of a spec error list, in JSON or XML.
fn errors(reply: &Reply) -> Vec<(u16, String)> {
    if reply.content_type.starts_with("text/xml") {
        let root = reply.xml();
        assert_eq!(root.name, "errors", "{}", reply.body);
        root.all("error").iter().map(|e| (e.text_of("code").parse().unwrap(), e.text_of("description"))).collect()
    } else {
        let list = reply.json();
        let items = list.as_array().unwrap_or_else(|| panic!("not a list: {list}"));
        items.iter().map(|e| (e["code"].as_u64().unwrap() as u16, text(&e["description"]))).collect()
    }
}

/// Checks a spec error: the status, each code equal to it, and the fields named, in order.
#[track_caller]
fn assert_error(reply: &Reply, status: u16, fields: &[&str]) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let found = errors(reply);
    let named: Vec<&str> = found.iter().map(|(_, d)| d.split(':').next().unwrap_or_default()).collect();
    assert_eq!(named, fields, "{}", reply.body);
    for (code, description) in &found {
        assert_eq!(*code, status, "{}", reply.body);
        assert!(description.len() > fields.join("").len() + 10, "says what is accepted: {description}");
    }
}

/// W3C time in Tehran, computed apart from the code under test.
fn tehran(instant: DateTime<Utc>) -> String {
    let offset = FixedOffset::east_opt(3 * 3600 + 1800).unwrap();
    instant.with_timezone(&offset).to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn w3c_utc(instant: DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Ids of a JSON list of requests, in order.
fn ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json().as_array().unwrap().iter().map(|r| text(&r["service_request_id"])).collect()
}

async fn message_id(app: &TestApp, code: &str) -> String {
    let (status, view) = app.get(&format!("/api/v1/messages/{code}"), ADMIN_KEY).await;
    assert_eq!(status, 200, "{view}");
    text(&view["id"])
}

/// Moves a message back in time (no API can), and closes it when `closed`.
async fn backdate(app: &TestApp, code: &str, days: i64, closed: bool) {
    let (code, at) = (code.to_string(), to_db_time(Utc::now() - chrono::Duration::days(days)));
    app.db()
        .run(move |conn| {
            let target = messages::table.filter(messages::tracking_code.eq(&code));
            diesel::update(target).set((messages::received_at.eq(at), messages::updated_at.eq(at))).execute(conn)?;
            if closed {
                let closing = (messages::status.eq("closed"), messages::closed_at.eq(Some(at)));
                diesel::update(messages::table.filter(messages::tracking_code.eq(&code))).set(closing).execute(conn)?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

async fn count_messages(app: &TestApp) -> i64 {
    app.db().run(|conn| Ok(messages::table.count().get_result(conn)?)).await.unwrap()
}

async fn publish<E: Event>(app: &TestApp, producer: &str, event: &E) {
    let bus = app.host.as_ref().map(|h| h.bus.clone()).unwrap();
    bus.publish(&envelope(producer, event)).await.unwrap();
}

/// An XML element as the loose reader below sees it.
#[derive(Debug)]
struct Element {
    name: String,
    children: Vec<Element>,
    text: String,
}

impl Element {
    fn all(&self, name: &str) -> Vec<&Element> {
        self.children.iter().filter(|c| c.name == name).collect()
    }

    fn child(&self, name: &str) -> &Element {
        self.children.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no <{name}> in <{}>", self.name))
    }

    fn text_of(&self, name: &str) -> String {
        self.child(name).text.clone()
    }

    fn names(&self) -> Vec<&str> {
        self.children.iter().map(|c| c.name.as_str()).collect()
    }
}

/// Reads the XML these answers use — a declaration, then nested elements and text — and fails
/// on anything else: attributes, stray markup characters, unknown entities, unbalanced tags.
fn parse_xml(document: &str) -> Element {
    let body = document.strip_prefix("<?xml version=\"1.0\" encoding=\"utf-8\"?>").expect("the XML declaration");
    let (mut stack, mut root, mut rest) = (Vec::<Element>::new(), None, body.trim());
    let attach = |done: Element, stack: &mut Vec<Element>, root: &mut Option<Element>| match stack.last_mut() {
        Some(parent) => parent.children.push(done),
        None => assert!(root.replace(done).is_none(), "one root element"),
    };
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<') {
            let end = after.find('>').expect("a tag closes");
            let tag = &after[..end];
            rest = &after[end + 1..];
            let name = tag.trim_start_matches('/').trim_end_matches('/');
            assert!(!name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "tag <{tag}>");
            let element = Element { name: name.to_string(), children: Vec::new(), text: String::new() };
            if tag.starts_with('/') {
                let done = stack.pop().expect("an open element");
                assert_eq!(done.name, name, "closing tag matches");
                attach(done, &mut stack, &mut root);
            } else if tag.ends_with('/') {
                attach(element, &mut stack, &mut root);
            } else {
                stack.push(element);
            }
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let raw = &rest[..end];
            assert!(!raw.contains('>'), "an escaped text: {raw}");
            let parent = stack.last_mut().unwrap_or_else(|| panic!("text outside the root: {raw}"));
            parent.text.push_str(&unescape(raw));
            rest = &rest[end..];
        }
    }
    assert!(stack.is_empty(), "every element closes");
    root.expect("a root element")
}

fn unescape(raw: &str) -> String {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let entity_end = rest[at..].find(';').expect("an entity ends") + at;
        out.push(match &rest[at..=entity_end] {
            "&amp;" => '&',
            "&lt;" => '<',
            "&gt;" => '>',
            "&quot;" => '"',
            "&apos;" => '\'',
            other => panic!("unknown entity {other}"),
        });
        rest = &rest[entity_end + 1..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------
// Services

#[tokio::test(flavor = "multi_thread")]
async fn services_are_listed_in_json_and_xml() {
    let mut app = start().await;
    let reply = get(&app, "services.json", &[("jurisdiction_id", "1888.gov.ir")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let listed = reply.json();
    assert_eq!(
        listed[0],
        json!({
            "service_code": BUILDING, "service_name": "تخلفات ساختمانی", "description": "Building violations",
            "metadata": true, "type": "realtime", "keywords": "Building violations, municipal, building",
            "group": "municipal",
        })
    );
    let codes: Vec<String> = listed.as_array().unwrap().iter().map(|s| text(&s["service_code"])).collect();
    assert_eq!(codes, [BUILDING, SIGNS], "active services only, by code");
    assert_eq!(listed[1]["service_name"], SIGNS_NAME_FA);

    let reply = get(&app, "services.xml", &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("علائم &amp; تابلوهای &lt;راه&gt;"), "escaped: {}", reply.body);
    let root = reply.xml();
    assert_eq!(root.name, "services");
    assert_eq!(root.names(), ["service", "service"]);
    let signs = root.all("service")[1];
    assert_eq!(signs.names(), ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]);
    assert_eq!(signs.text_of("service_name"), SIGNS_NAME_FA);
    assert_eq!(signs.text_of("description"), "Signs & <roads>");
    assert_eq!((signs.text_of("metadata"), signs.text_of("type")), ("true".into(), "realtime".into()));

    // Formats other than json and xml, unknown fields and resources answer the spec's errors.
    let reply = get(&app, "services.csv", &[]).await;
    assert_error(&reply, 400, &["format"]);
    assert!(errors(&reply)[0].1.contains(".json or .xml"), "{}", reply.body);
    assert_error(&get(&app, "services.xml", &[("locale", "fa")]).await, 400, &["locale"]);
    assert_error(&get(&app, "discovery.xml", &[]).await, 404, &["resource"]);
    let deleted = send(app.client.delete(app.url(&format!("{ROOT}/requests.json")))).await;
    assert_error(&deleted, 404, &["resource"]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_definition_publishes_the_province_attribute() {
    let mut app = start().await;
    let reply = get(&app, &format!("services/{BUILDING}.json"), &[]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let definition = reply.json();
    assert_eq!(definition["service_code"], BUILDING);
    let province = &definition["attributes"][0];
    assert_eq!(
        (&province["code"], &province["datatype"], &province["required"], &province["variable"], &province["order"]),
        (&json!("province"), &json!("singlevaluelist"), &json!(false), &json!(true), &json!(1))
    );
    let values = province["values"].as_array().unwrap();
    assert_eq!(values.len(), 31);
    assert!(values.contains(&json!({ "key": "tehran", "name": "تهران" })), "{province}");
    let kind = &definition["attributes"][1];
    assert_eq!((&kind["code"], &kind["required"]), (&json!("kind"), &json!(false)), "complaint is the default");
    let kinds: Vec<String> = kind["values"].as_array().unwrap().iter().map(|v| text(&v["key"])).collect();
    assert_eq!(kinds, ["complaint", "violation_report"]);

    // A service that does not take complaints needs its kind named.
    let signs = get(&app, &format!("services/{SIGNS}.xml"), &[]).await.xml();
    assert_eq!(signs.name, "service_definition");
    assert_eq!(signs.names(), ["service_code", "attributes"]);
    let attributes = signs.child("attributes").all("attribute");
    assert_eq!(attributes.len(), 2);
    assert_eq!(attributes[0].child("values").all("value").len(), 31);
    assert_eq!((attributes[1].text_of("code"), attributes[1].text_of("required")), ("kind".into(), "true".into()));
    let first_kind = attributes[1].child("values").all("value")[0];
    assert_eq!((first_kind.text_of("key"), first_kind.text_of("name")), ("suggestion".into(), "پیشنهاد".into()));

    for format in ["json", "xml"] {
        assert_error(&get(&app, &format!("services/roads.potholes.{format}"), &[]).await, 404, &["service_code"]);
        assert_error(&get(&app, &format!("services/tenders.retired.{format}"), &[]).await, 404, &["service_code"]);
    }
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Posting requests

#[tokio::test(flavor = "multi_thread")]
async fn a_posted_request_becomes_a_message_and_reads_back_without_personal_data() {
    let mut app = start().await;
    let (key_id, key) = create_key(&app, &["open311"]).await;
    let reply = post(&app, "json", &a_request(&key)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let created = reply.json();
    assert_eq!(created.as_array().map(Vec::len), Some(1), "{created}");
    let code = text(&created[0]["service_request_id"]);
    assert!(TrackingCode::parse(&code).is_ok(), "a tracking code: {code}");
    assert!(created[0]["service_notice"].as_str().is_some_and(|n| n.contains(&code)), "{created}");
    assert_eq!(created[0]["account_id"], Value::Null);

    // Read back: open, where it was made, and nothing about who reported it.
    let reply = get(&app, &format!("requests/{code}.json"), &[("api_key", &key)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let shown = reply.json();
    assert_eq!(shown.as_array().map(Vec::len), Some(1), "{shown}");
    let request = &shown[0];
    let requested = text(&request["requested_datetime"]);
    assert!(requested.ends_with("+03:30"), "{requested}");
    assert!((Utc::now() - DateTime::parse_from_rfc3339(&requested).unwrap().to_utc()).num_seconds().abs() < 60);
    assert_eq!(
        *request,
        json!({
            "service_request_id": code, "status": "open",
            "status_notes": "ثبت شد و در انتظار ارجاع به دستگاه مسئول است",
            "service_name": "تخلفات ساختمانی", "service_code": BUILDING,
            "description": "ساخت و ساز غیرمجاز در کوچه & بدون <مجوز>",
            "agency_responsible": null, "service_notice": null,
            "requested_datetime": requested, "updated_datetime": requested, "expected_datetime": null,
            "address": "تهران، خیابان ولیعصر، کوچهٔ ۳", "address_id": null, "zipcode": null,
            "lat": 35.6892, "long": 51.389, "media_url": "https://example.org/photo.jpg?size=large&v=2",
        })
    );
    let xml = get(&app, &format!("requests/{code}.xml"), &[("api_key", &key)]).await;
    for raw in [&reply.body, &xml.body] {
        for personal in PERSONAL {
            assert!(!raw.contains(personal), "personal data ({personal}) shown: {raw}");
        }
    }
    let in_xml = xml.xml();
    assert_eq!((in_xml.name.as_str(), in_xml.names()), ("service_requests", vec!["request"]));
    let in_xml = in_xml.child("request");
    assert_eq!(in_xml.text_of("description"), "ساخت و ساز غیرمجاز در کوچه & بدون <مجوز>");
    assert_eq!(in_xml.text_of("media_url"), "https://example.org/photo.jpg?size=large&v=2");
    assert_eq!((in_xml.text_of("lat"), in_xml.text_of("long")), ("35.6892".into(), "51.389".into()));
    assert_eq!((in_xml.child("expected_datetime").text.as_str(), in_xml.names().len()), ("", 17));

    // The call centre sees an ordinary message from the open311 channel, its reporter sealed.
    let (status, view) = app.get(&format!("/api/v1/messages/{code}"), ADMIN_KEY).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (&view["channel"], &view["kind"], &view["province"]),
        (&json!("open311"), &json!("complaint"), &json!("tehran"))
    );
    assert_eq!(view["reporter"]["full_name"], "رضا احمدی");
    assert_eq!(view["reporter"]["mobile"], "09121234567");
    assert_eq!(view["reporter"]["email"], "reza@example.org");
    let id = text(&view["id"]);
    let stored_id = id.clone();
    let (submitted_by, sealed_name, sealed_mobile): (String, Option<String>, Option<String>) = app
        .db()
        .run(move |conn| {
            let submitted_by = messages::table.find(&stored_id).select(messages::submitted_by).first(conn)?;
            let (name, mobile) =
                reporters::table.find(&stored_id).select((reporters::full_name, reporters::mobile)).first(conn)?;
            Ok((submitted_by, name, mobile))
        })
        .await
        .unwrap();
    assert_eq!(submitted_by, key_id);
    for sealed in [sealed_name.unwrap(), sealed_mobile.unwrap()] {
        assert!(
            sealed.starts_with("v1:test:") && !sealed.contains("رضا") && !sealed.contains("09121234567"),
            "{sealed}"
        );
    }
    let events = app.outbox_events("intake", "message.received");
    assert_eq!(events.len(), 1, "{events:?}");
    let received: MessageReceived = events[0].decode().unwrap();
    assert_eq!((received.message_id, received.channel.as_str()), (id, "open311"));

    // In XML, with the key in the query string and the least a request needs.
    let minimal: Form = [
        ("service_code", SIGNS),
        ("address_string", "اصفهان"),
        ("description", "تابلو افتاده است"),
        ("attribute[province]", "isfahan"),
        ("attribute[kind]", "suggestion"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let url = app.url(&format!("{ROOT}/requests.xml"));
    let reply = send(app.client.post(url).query(&[("api_key", &key)]).form(&minimal)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let root = reply.xml();
    assert_eq!((root.name.as_str(), root.names()), ("service_requests", vec!["request"]));
    let code = root.child("request").text_of("service_request_id");
    let (_, view) = app.get(&format!("/api/v1/messages/{code}"), ADMIN_KEY).await;
    assert_eq!((&view["kind"], &view["province"]), (&json!("suggestion"), &json!("isfahan")), "{view}");
    assert!(view.get("reporter").is_none(), "no reporter was given: {view}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn posting_and_reading_need_an_active_open311_key() {
    let mut app = start().await;
    let (_, call_center) = create_key(&app, &["call_center"]).await;
    let (revoked_id, revoked) = create_key(&app, &["open311"]).await;
    let (status, _) = app.delete(&format!("/api/v1/api-keys/{revoked_id}"), ADMIN_KEY).await;
    assert_eq!(status, 204);
    for format in ["json", "xml"] {
        for key in [None, Some("nzr_not-a-key"), Some(call_center.as_str()), Some(revoked.as_str()), Some(ADMIN_KEY)] {
            let form = with(&a_request(""), "api_key", key);
            let reply = post(&app, format, &form).await;
            assert_error(&reply, 403, &["api_key"]);
        }
        // A key that does not hold is refused, not read as no key at all.
        for key in ["nzr_not-a-key", call_center.as_str(), revoked.as_str(), ADMIN_KEY] {
            assert_error(&get(&app, &format!("requests.{format}"), &[("api_key", key)]).await, 403, &["api_key"]);
            let one = format!("requests/{}.{format}", TrackingCode::generate());
            assert_error(&get(&app, &one, &[("api_key", key)]).await, 403, &["api_key"]);
        }
    }
    assert_eq!(count_messages(&app).await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_requests_are_refused_naming_each_field_in_both_formats() {
    let mut app = start().await;
    let (_, key) = create_key(&app, &["open311"]).await;
    let good = a_request(&key);
    let cases: Vec<(Form, u16, Vec<&str>)> = vec![
        (with(&good, "service_code", None), 400, vec!["service_code"]),
        (with(&good, "service_code", Some("roads.potholes")), 404, vec!["service_code"]),
        // No area holds the point here, and without a province nothing locates the report.
        (with(&good, "attribute[province]", None), 400, vec!["lat, long"]),
        (with(&good, "attribute[province]", Some("atlantis")), 400, vec!["attribute[province]"]),
        (with(&good, "attribute[kind]", Some("appreciation")), 400, vec!["attribute[kind]"]),
        (with(&good, "attribute[colour]", Some("red")), 400, vec!["attribute[colour]"]),
        (with(&good, "phone", Some("021 1234 5678")), 400, vec!["phone"]),
        (with(&good, "email", Some("nobody")), 400, vec!["email"]),
        (with(&good, "lat", Some("91")), 400, vec!["lat"]),
        (with(&good, "long", Some("east")), 400, vec!["long"]),
        (with(&good, "long", None), 400, vec!["long"]),
        (with(&good, "media_url", Some("ftp://example.org/a.jpg")), 400, vec!["media_url"]),
        (with(&good, "description", Some("   ")), 400, vec!["description"]),
        (with(&good, "colour", Some("red")), 400, vec!["colour"]),
        (with(&good, "description", Some("a\u{0}b")), 400, vec!["description"]),
        (
            with(&with(&with(&good, "lat", None), "long", None), "address_string", None),
            400,
            vec!["lat, long, address_string"],
        ),
        (
            with(
                &with(&with(&with(&good, "lat", None), "long", None), "address_string", None),
                "address_id",
                Some("9"),
            ),
            400,
            vec!["address_id"],
        ),
        // Every problem at once, in the order of the form's checks.
        (
            with(&with(&with(&good, "attribute[province]", None), "phone", Some("12")), "lat", Some("-90.5")),
            400,
            vec!["lat", "phone"],
        ),
    ];
    for format in ["json", "xml"] {
        for (form, status, fields) in &cases {
            assert_error(&post(&app, format, form).await, *status, fields);
        }
        let reply = post(&app, format, &with(&good, "attribute[province]", Some("atlantis"))).await;
        assert!(errors(&reply)[0].1.contains("tehran"), "names the accepted codes: {}", reply.body);
        let twice = [good.clone(), vec![("service_code".into(), SIGNS.into())]].concat();
        assert_error(&post(&app, format, &twice).await, 400, &["service_code"]);
        let as_json = app.client.post(app.url(&format!("{ROOT}/requests.{format}"))).json(&json!({ "api_key": key }));
        assert_error(&send(as_json).await, 400, &["Content-Type"]);
    }
    assert_eq!(count_messages(&app).await, 0, "nothing is stored");
    app.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Reading requests

/// What a read without `api_key` shows of each request.
const PUBLIC_FIELDS: [&str; 8] = [
    "service_request_id",
    "status",
    "service_name",
    "service_code",
    "agency_responsible",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
];

/// Intake with the client named by `X-Real-IP` and `tune` applied.
async fn start_tuned(tune: impl FnOnce(&mut nazer_shared::config::Settings)) -> TestApp {
    let app = TestApp::start_with(&[nazer_intake::SERVICE], |settings| {
        settings.tracking.client_ip_header = Some("X-Real-IP".into());
        tune(settings);
    })
    .await;
    let body = json!({ "name_fa": "تخلفات ساختمانی", "name_en": "Building violations", "kinds": ["complaint"] });
    let (status, reply) = app.put(&format!("/api/v1/categories/{BUILDING}"), ADMIN_KEY, &body).await;
    assert_eq!(status, 200, "{reply}");
    app
}

/// A keyless read of `path` from `client`.
async fn get_from(app: &TestApp, path: &str, client: &str) -> (Reply, Option<String>) {
    let request = app.client.get(app.url(&format!("{ROOT}/{path}"))).header("X-Real-IP", client);
    let response = request.send().await.unwrap_or_else(|e| panic!("request failed: {e}"));
    let retry_after = response.headers().get("Retry-After").and_then(|v| v.to_str().ok()).map(str::to_string);
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (Reply { status, content_type, body: response.text().await.unwrap_or_default() }, retry_after)
}

#[tokio::test(flavor = "multi_thread")]
async fn keyless_reads_answer_the_public_subset_in_json_and_xml() {
    let mut app = start().await;
    let (_, key) = create_key(&app, &["open311"]).await;
    let code = submit(&app, &a_request(&key)).await;
    let hidden = submit(&app, &with(&a_request(&key), "attribute[kind]", Some("violation_report"))).await;

    let one = get(&app, &format!("requests/{code}.json"), &[("jurisdiction_id", "1888.gov.ir")]).await;
    assert_eq!(one.status, 200, "{}", one.body);
    let shown = one.json();
    let request = &shown[0];
    let mut fields: Vec<&str> = request.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    let mut expected = PUBLIC_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(fields, expected, "{shown}");
    let requested = text(&request["requested_datetime"]);
    assert_eq!(
        *request,
        json!({
            "service_request_id": code, "status": "open", "service_name": "تخلفات ساختمانی",
            "service_code": BUILDING, "agency_responsible": null, "requested_datetime": requested,
            "updated_datetime": requested, "expected_datetime": null,
        })
    );
    let xml = get(&app, &format!("requests/{code}.xml"), &[]).await;
    assert_eq!(xml.status, 200, "{}", xml.body);
    let root = xml.xml();
    assert_eq!((root.name.as_str(), root.names()), ("service_requests", vec!["request"]));
    assert_eq!(root.child("request").names(), PUBLIC_FIELDS);
    assert_eq!(root.child("request").text_of("service_request_id"), code);

    // The list, in both formats: the same subset, the hidden report still never shown.
    let listed = get(&app, "requests.json", &[]).await;
    assert_eq!(ids(&listed), [code.as_str()]);
    assert_eq!(listed.json()[0], *request);
    let listed = get(&app, "requests.xml", &[("service_request_id", &format!("{code},{hidden}"))]).await.xml();
    assert_eq!(listed.all("request").len(), 1, "{listed:?}");
    assert_eq!(listed.child("request").names(), PUBLIC_FIELDS);
    assert_error(&get(&app, &format!("requests/{hidden}.json"), &[]).await, 404, &["service_request_id"]);
    for raw in [&one.body, &xml.body] {
        for private in PERSONAL.iter().chain(&["ساخت و ساز", "ولیعصر", "photo.jpg", "status_notes", "35.6892"])
        {
            assert!(!raw.contains(private), "{private} shown without a key: {raw}");
        }
    }

    // With a key: the full view, as before.
    let full = get(&app, &format!("requests/{code}.json"), &[("api_key", &key)]).await.json();
    assert_eq!(full[0].as_object().map(|o| o.len()), Some(17), "{full}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_public_reads_off_every_read_needs_a_key() {
    let mut app = start_tuned(|settings| settings.open311.public_reads = nazer_shared::config::PublicReads::Off).await;
    let (_, key) = create_key(&app, &["open311"]).await;
    let code = submit(&app, &a_request(&key)).await;
    for format in ["json", "xml"] {
        assert_error(&get(&app, &format!("requests.{format}"), &[]).await, 403, &["api_key"]);
        assert_error(&get(&app, &format!("requests/{code}.{format}"), &[]).await, 403, &["api_key"]);
        assert_eq!(get(&app, &format!("requests/{code}.{format}"), &[("api_key", &key)]).await.status, 200);
        // The services stay public.
        assert_eq!(get(&app, &format!("services.{format}"), &[]).await.status, 200);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keyless_reads_are_limited_per_client() {
    let mut app = start_tuned(|settings| settings.open311.keyless_reads_per_minute = 3).await;
    let (_, key) = create_key(&app, &["open311"]).await;
    let code = submit(&app, &a_request(&key)).await;
    let one = format!("requests/{code}.json");
    for path in [one.as_str(), "requests.json", "requests.xml"] {
        assert_eq!(get_from(&app, path, "203.0.113.9").await.0.status, 200);
    }
    for format in ["json", "xml"] {
        let (limited, retry_after) = get_from(&app, &format!("requests.{format}"), "203.0.113.9").await;
        assert_error(&limited, 429, &["api_key"]);
        let retry_after: u64 = retry_after.and_then(|r| r.parse().ok()).unwrap_or(0);
        assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    }
    // Another address of the same IPv6 /64 is the same client.
    for _ in 0..3 {
        assert_eq!(get_from(&app, &one, "2001:db8:7:7:aaaa::1").await.0.status, 200);
    }
    assert_eq!(get_from(&app, &one, "2001:db8:7:7:bbbb::2").await.0.status, 429);
    // Other clients, and clients with a key, are not held up.
    assert_eq!(get_from(&app, &one, "198.51.100.1").await.0.status, 200);
    let keyed = app.client.get(app.url(&format!("{ROOT}/{one}"))).header("X-Real-IP", "203.0.113.9");
    assert_eq!(send(keyed.query(&[("api_key", &key)])).await.status, 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_are_filtered_by_service_status_period_and_id() {
    let mut app = start().await;
    let (_, key) = create_key(&app, &["open311"]).await;
    let signs = with(&with(&a_request(&key), "service_code", Some(SIGNS)), "attribute[kind]", Some("criticism"));
    let old = submit(&app, &a_request(&key)).await;
    let closed = submit(&app, &signs).await;
    let building = submit(&app, &a_request(&key)).await;
    let recent_sign = submit(&app, &signs).await;
    backdate(&app, &old, 100, false).await;
    backdate(&app, &closed, 10, true).await;

    let search = |query: Vec<(&'static str, String)>| {
        let (app, key) = (&app, key.clone());
        async move {
            let mut query: Vec<(&str, String)> = query;
            query.push(("api_key", key));
            let query: Vec<(&str, &str)> = query.iter().map(|(n, v)| (*n, v.as_str())).collect();
            get(app, "requests.json", &query).await
        }
    };
    // The last 90 days by default, newest first.
    assert_eq!(ids(&search(vec![]).await), [recent_sign.as_str(), building.as_str(), closed.as_str()]);
    assert_eq!(ids(&search(vec![("service_code", BUILDING.into())]).await), [building.as_str()]);
    assert_eq!(ids(&search(vec![("service_code", format!("{SIGNS}, {BUILDING}"))]).await).len(), 3);
    assert_eq!(ids(&search(vec![("status", "closed".into())]).await), [closed.as_str()]);
    assert_eq!(ids(&search(vec![("status", "open".into())]).await), [recent_sign.as_str(), building.as_str()]);
    assert_eq!(ids(&search(vec![("status", "open,closed".into())]).await).len(), 3);
    let closed_one = search(vec![("status", "closed".into())]).await.json();
    assert_eq!(closed_one[0]["status"], "closed");
    assert_eq!(closed_one[0]["status_notes"], "بسته شد");

    let days_ago = |days: i64| w3c_utc(Utc::now() - chrono::Duration::days(days));
    let period = vec![("start_date", days_ago(120)), ("end_date", days_ago(50))];
    assert_eq!(ids(&search(period).await), [old.as_str()]);
    assert_eq!(ids(&search(vec![("end_date", days_ago(50))]).await), [old.as_str()]);
    assert_eq!(
        ids(&search(vec![("start_date", days_ago(15)), ("service_code", SIGNS.into())]).await),
        [recent_sign.as_str(), closed.as_str()]
    );
    let too_long = vec![("start_date", days_ago(200)), ("end_date", days_ago(1))];
    assert_error(&search(too_long).await, 400, &["start_date, end_date"]);
    assert_error(&search(vec![("start_date", "last week".into())]).await, 400, &["start_date"]);
    assert_error(&search(vec![("status", "pending".into())]).await, 400, &["status"]);

    // Ids override every other filter.
    let by_id = vec![("service_request_id", format!("{old},{closed}")), ("status", "open".into())];
    assert_eq!(ids(&search(by_id).await), [closed.as_str(), old.as_str()]);
    assert_error(&search(vec![("service_request_id", "12345".into())]).await, 400, &["service_request_id"]);

    // The same list in XML.
    let xml = get(&app, "requests.xml", &[("api_key", &key), ("status", "open")]).await.xml();
    assert_eq!(xml.name, "service_requests");
    let listed: Vec<String> = xml.all("request").iter().map(|r| r.text_of("service_request_id")).collect();
    assert_eq!(listed, [recent_sign.as_str(), building.as_str()]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_open311_reports_are_shown_and_never_confidential_or_violation_reports() {
    let mut app = start().await;
    let (_, key) = create_key(&app, &["open311"]).await;
    let violation = submit(&app, &with(&a_request(&key), "attribute[kind]", Some("violation_report"))).await;
    let shown = submit(&app, &a_request(&key)).await;
    let call_centre = |kind: &str, confidential: bool| {
        json!({
            "kind": kind, "channel": "call_center", "category": BUILDING, "body": "گزارش", "province": "tehran",
            "reporter": { "full_name": "Someone", "confidential": confidential },
        })
    };
    let mut hidden = vec![violation];
    for (kind, confidential) in [("complaint", true), ("violation_report", false)] {
        let (status, receipt) = app.post("/api/v1/messages", ADMIN_KEY, &call_centre(kind, confidential)).await;
        assert_eq!(status, 201, "{receipt}");
        hidden.push(text(&receipt["tracking_code"]));
    }
    let (status, receipt) = app.post("/api/v1/messages", ADMIN_KEY, &call_centre("complaint", false)).await;
    assert_eq!(status, 201, "{receipt}");
    // What citizens told the call centre stays with it, confidential or not.
    let open_call = text(&receipt["tracking_code"]);
    hidden.push(open_call.clone());

    assert_eq!(ids(&get(&app, "requests.json", &[("api_key", &key)]).await), [shown.as_str()]);
    let all_ids = [hidden.clone(), vec![shown.clone()]].concat().join(",");
    assert_eq!(
        ids(&get(&app, "requests.json", &[("api_key", &key), ("service_request_id", &all_ids)]).await),
        [shown.as_str()]
    );
    let unknown = loop {
        let code = TrackingCode::generate().to_string();
        if !hidden.contains(&code) && code != shown && code != open_call {
            break code;
        }
    };
    for format in ["json", "xml"] {
        let missing = get(&app, &format!("requests/{unknown}.{format}"), &[("api_key", &key)]).await;
        assert_error(&missing, 404, &["service_request_id"]);
        for code in &hidden {
            let reply = get(&app, &format!("requests/{code}.{format}"), &[("api_key", &key)]).await;
            assert_error(&reply, 404, &["service_request_id"]);
            assert_eq!(reply.body.replace(code.as_str(), "?"), missing.body.replace(unknown.as_str(), "?"));
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_expected_datetime_follows_the_respond_deadline() {
    let mut app = start().await;
    let (_, key) = create_key(&app, &["open311"]).await;
    let code = submit(&app, &a_request(&key)).await;
    let id = message_id(&app, &code).await;
    let assigned_at = stored(Utc::now());
    let assigned = MessageAssigned {
        tracking_code: code.clone(),
        category: BUILDING.into(),
        channel: Some("open311".into()),
        assigned_at,
        ..message_assigned(&id, "tehran-municipality")
    };
    publish(&app, "routing", &assigned).await;
    let due_at = (Utc::now() + chrono::Duration::days(7)).with_nanosecond(0).unwrap();
    let scheduled = DeadlineScheduled {
        subject: None,
        deadline_id: "deadline-respond".into(),
        message_id: id.clone(),
        tracking_code: code.clone(),
        agency_id: "tehran-municipality".into(),
        stage: "respond".into(),
        started_at: assigned_at,
        due_at,
    };
    publish(&app, "deadline-timer", &scheduled).await;

    let path = format!("requests/{code}.json");
    let (app_ref, path_ref, key_ref) = (&app, path.as_str(), key.as_str());
    let request =
        eventually(Duration::from_secs(60), "the respond deadline as expected_datetime", move || async move {
            let reply = get(app_ref, path_ref, &[("api_key", key_ref)]).await.json();
            (reply[0]["expected_datetime"] != Value::Null && reply[0]["agency_responsible"] != Value::Null)
                .then(|| reply[0].clone())
        })
        .await;
    assert_eq!(request["expected_datetime"], tehran(due_at));
    assert_eq!(request["agency_responsible"], "شهرداری تهران");
    assert_eq!((&request["status"], &request["status_notes"]), (&json!("open"), &json!("به دستگاه مسئول ارجاع شد")));

    // A met deadline promises nothing more.
    let met = DeadlineMet {
        subject: None,
        deadline_id: "deadline-respond".into(),
        message_id: id,
        stage: "respond".into(),
        due_at,
        met_at: Utc::now(),
        answered_late: false,
    };
    publish(&app, "deadline-timer", &met).await;
    eventually(Duration::from_secs(60), "the met deadline", move || async move {
        let reply = get(app_ref, path_ref, &[("api_key", key_ref)]).await.json();
        (reply[0]["expected_datetime"] == Value::Null).then_some(())
    })
    .await;
    app.stop().await;
}
