//! A standard GeoReport v2 client against intake: `tests/python/georeport_client.py` drives the
//! `georeport` package from PyPI, which lists the services, and reads back keyless, in JSON and
//! XML, a request posted with an Open311 key. The interpreter is `NAZER_TEST_PYTHON` (CI points
//! it at a virtualenv holding georeport), else `python3`. Under `CI=true` a missing interpreter
//! or package fails the test; elsewhere the test says so and passes.

use std::path::PathBuf;

use nazer_shared::testing::{ADMIN_KEY, TestApp};
use serde_json::json;

fn python() -> String {
    std::env::var("NAZER_TEST_PYTHON").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "python3".into())
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/georeport_client.py")
}

/// Whether `python` imports georeport; without it the test fails under CI and is skipped
/// elsewhere.
async fn georeport_available(python: &str) -> bool {
    let probe = tokio::process::Command::new(python).args(["-c", "import georeport"]).output().await;
    let missing = match probe {
        Ok(output) if output.status.success() => return true,
        Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_string(),
        Err(error) => format!("{python} cannot be run: {error}"),
    };
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false");
    assert!(!ci, "the georeport client test needs python3 with georeport (pip install georeport): {missing}");
    eprintln!("skipped: python3 with georeport is needed (pip install georeport): {missing}");
    false
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standard_client_lists_services_posts_with_a_key_and_reads_back_keyless() {
    let python = python();
    if !georeport_available(&python).await {
        return;
    }
    let mut app = TestApp::start(&[nazer_intake::SERVICE]).await;
    let category = json!({ "name_fa": "تخلفات ساختمانی", "name_en": "Building violations", "kinds": ["complaint"] });
    let (status, reply) = app.put("/api/v1/categories/municipal.building", ADMIN_KEY, &category).await;
    assert_eq!(status, 200, "{reply}");
    let (status, key) =
        app.post("/api/v1/api-keys", ADMIN_KEY, &json!({ "name": "311 app", "scopes": ["open311"] })).await;
    assert_eq!(status, 201, "{key}");
    let secret = key["secret"].as_str().unwrap_or_else(|| panic!("no secret: {key}")).to_string();

    let output = tokio::process::Command::new(&python)
        .arg(script())
        .arg(app.url("/open311/v2"))
        .arg(&secret)
        .env_remove("GEOREPORT_API_KEY")
        .output()
        .await
        .unwrap_or_else(|e| panic!("{python} could not run the client: {e}"));
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "the georeport client failed ({}):\n{stdout}\n{stderr}", output.status);
    let seen: serde_json::Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: the client printed {stdout}"));
    assert_eq!(seen["services"], 1, "{seen}");
    assert_eq!(seen["fields"].as_array().map(Vec::len), Some(8), "{seen}");
    app.stop().await;
}
