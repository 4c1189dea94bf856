//! The API document and the code agree: every route a service registers is described, nothing
//! is described that no route serves, each service's document holds its own operations, and
//! the API page loads nothing from elsewhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use nazer_shared::testing::{ADMIN_KEY, TestApp};
use serde_json::Value;

const SERVICES: [(&str, &str); 5] = [
    ("intake", "services/intake/src"),
    ("routing", "services/routing/src"),
    ("deadline-timer", "services/deadline-timer/src"),
    ("violation-referral", "services/violation-referral/src"),
    ("notification", "services/notification/src"),
];

/// Every host serves these (health, readiness, metrics, the documents).
const HOST: &str = "shared/src/http";

/// `(path, method)` of every `.route("<path>", web::<method>()` in the Rust files under `dir`;
/// catch-all patterns (`{name:regex}`) are not operations.
fn registered_routes(dir: &Path) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                // rustfmt may put the path on the next line.
                for chunk in text.split(".route(").skip(1) {
                    let Some(chunk) = chunk.trim_start().strip_prefix('"') else { continue };
                    let Some((route, rest)) = chunk.split_once('"') else { continue };
                    let Some(method) = rest.split_once("web::").and_then(|(_, m)| m.split_once('(')).map(|(m, _)| m)
                    else {
                        continue;
                    };
                    if !route.contains(':') && method != "route" {
                        routes.insert((route.to_string(), method.to_string()));
                    }
                }
            }
        }
    }
    routes
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().unwrap_or_else(|| panic!("no paths in {doc}"));
    paths
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
            methods.into_iter().filter(|m| m != "parameters").map(move |m| (path.clone(), m))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_is_documented_and_every_document_is_served() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut app = TestApp::start(&[
        nazer_intake::SERVICE,
        nazer_routing::SERVICE,
        nazer_deadline_timer::SERVICE,
        nazer_violation_referral::SERVICE,
        nazer_notification::SERVICE,
    ])
    .await;
    let host_routes = registered_routes(&root.join(HOST));
    assert!(host_routes.contains(&("/healthz".into(), "get".into())), "{host_routes:?}");

    let (status, all) = app.get("/api/v1/openapi.json", ADMIN_KEY).await;
    assert_eq!(status, 200);
    assert_eq!(all["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true), "{}", all["openapi"]);
    let mut expected = host_routes.clone();
    // Merging keeps the first schema of a name: two services must never mean different things by one.
    let mut schemas: BTreeMap<String, (&str, Value)> = BTreeMap::new();
    for (service, dir) in SERVICES {
        let routes = registered_routes(&root.join(dir));
        assert!(!routes.is_empty(), "{service} registers no routes?");
        let (status, own) = app.get(&format!("/api/v1/openapi/{service}.json"), ADMIN_KEY).await;
        assert_eq!(status, 200, "{own}");
        let own_operations = documented(&own);
        let undocumented: Vec<_> = routes.difference(&own_operations).collect();
        assert!(undocumented.is_empty(), "{service}: routes missing from its document: {undocumented:?}");
        let phantom: Vec<_> = own_operations.difference(&routes).filter(|op| !host_routes.contains(op)).collect();
        assert!(phantom.is_empty(), "{service}: documented, but no such route: {phantom:?}");
        for (name, schema) in own["components"]["schemas"].as_object().into_iter().flatten() {
            match schemas.get(name) {
                Some((first, earlier)) => {
                    assert_eq!(earlier, schema, "schema `{name}` of {service} differs from {first}'s")
                }
                None => {
                    schemas.insert(name.clone(), (service, schema.clone()));
                }
            }
        }
        expected.extend(routes);
    }
    assert_eq!(documented(&all), expected, "the merged document holds every service's operations");

    // Every operation answers refusals as documented (a problem document by default), under an
    // operation id of its own.
    let mut ids = BTreeSet::new();
    for (path, item) in all["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            assert!(operation["responses"]["default"].is_object(), "{method} {path} has no default answer");
            let id = operation["operationId"].as_str().unwrap_or_default().to_string();
            assert!(ids.insert(id.clone()), "operation id `{id}` twice ({method} {path})");
        }
    }

    let (status, missing) = app.get("/api/v1/openapi/nowhere.json", ADMIN_KEY).await;
    assert_eq!(status, 404, "{missing}");
    let page = reqwest::get(app.url("/api/v1/docs")).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.unwrap_or_default();
    assert!(html.contains("fetch(\"openapi.json\")"), "the page reads the document beside it");
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("@import"),
        "nothing fetched from elsewhere"
    );
    app.stop().await;
}

/// The Ingress paths of each service in the chart's default values (`services.<name>.ingress.paths`).
fn ingress_paths(values: &str) -> BTreeMap<String, Vec<String>> {
    let mut paths: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut in_services, mut service, mut in_paths) = (false, None::<String>, false);
    for line in values.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        match indent {
            0 => in_services = text == "services:",
            2 if in_services => (service, in_paths) = (text.strip_suffix(':').map(str::to_string), false),
            6 if in_services => in_paths = text == "paths:",
            8 if in_paths => {
                if let (Some(service), Some(path)) = (&service, text.strip_prefix("- ")) {
                    paths.entry(service.clone()).or_default().push(path.to_string());
                }
            }
            _ if indent <= 6 => in_paths = false,
            _ => {}
        }
    }
    paths
}

#[test]
fn every_route_is_behind_the_charts_ingress_to_its_own_service() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let values = std::fs::read_to_string(root.join("helm/nazer/values.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let ingress = ingress_paths(&values);
    assert_eq!(ingress.len(), SERVICES.len(), "{ingress:?}");
    // A Kubernetes `Prefix` path matches whole segments.
    let under = |path: &str, prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    for (service, dir) in SERVICES {
        let own = ingress.get(service).unwrap_or_else(|| panic!("no Ingress paths for {service}"));
        for (route, method) in registered_routes(&root.join(dir)) {
            if route.starts_with("/demo/") {
                continue;
            }
            assert!(
                own.iter().any(|prefix| under(&route, prefix)),
                "{method} {route} of {service} is not under its Ingress paths {own:?} (helm/nazer/values.yaml)"
            );
        }
    }
}
