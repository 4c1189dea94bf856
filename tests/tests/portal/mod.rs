//! A portal set-up shared by the lifecycle and access tests: intake, routing and
//! deadline-timer in one host, people signed in by JWT from a local JWKS, a small agency tree.
//!
//! ```text
//! tehran-governorate ─ tehran-municipality ─ district-3
//! isfahan-municipality
//! national-housing
//! ```

#![allow(dead_code)]

use std::time::Duration;

use nazer_shared::config::Settings;
use nazer_shared::testing::tokens::{self, JwksServer};
use nazer_shared::testing::{ADMIN_KEY, TestApp, eventually};
use serde_json::{Value, json};

pub const CATEGORY: &str = "municipal.building";

pub struct Portal {
    pub app: TestApp,
    pub jwks: JwksServer,
}

/// A person's token: an officer of `agency`, or a role without agency.
pub fn officer(agency: &str) -> String {
    tokens::person(&format!("officer-of-{agency}"), &["agency_officer"], Some(agency))
}

pub fn supervisor() -> String {
    tokens::person("supervisor-1", &["supervisor"], None)
}

impl Portal {
    /// `budget` is the respond budget of every message (warnings follow it).
    pub async fn start(budget: &str) -> Self {
        Self::start_tuned(budget, |_| {}).await
    }

    /// As `start`, with further settings.
    pub async fn start_tuned(budget: &str, tune: impl FnOnce(&mut Settings)) -> Self {
        Self::start_hosting(
            &[nazer_intake::SERVICE, nazer_routing::SERVICE, nazer_deadline_timer::SERVICE],
            budget,
            tune,
        )
        .await
    }

    /// As `start`, with violation-referral too and its shipped violation types.
    pub async fn start_with_violations(budget: &str) -> Self {
        let services = [
            nazer_intake::SERVICE,
            nazer_routing::SERVICE,
            nazer_deadline_timer::SERVICE,
            nazer_violation_referral::SERVICE,
        ];
        let portal = Self::start_hosting(&services, budget, |_| {}).await;
        let mut conn = portal.app.db().get().unwrap_or_else(|e| panic!("{e}"));
        nazer_violation_referral::types::store::seed_catalogue(&mut conn, chrono::Utc::now())
            .unwrap_or_else(|e| panic!("{e}"));
        drop(conn);
        portal
    }

    async fn start_hosting(
        services: &[nazer_shared::runtime::ServiceEntry],
        budget: &str,
        tune: impl FnOnce(&mut Settings),
    ) -> Self {
        let jwks = JwksServer::start().await;
        let jwt = jwks.settings();
        let budget = budget.to_string();
        let app = TestApp::start_with(services, move |settings| {
            settings.auth.jwt = jwt;
            settings.deadlines.default_budget = budget;
            tune(settings);
        })
        .await;
        let portal = Self { app, jwks };
        portal.seed().await;
        portal
    }

    async fn seed(&self) {
        // The reference data `nazer migrate` stores: the shipped business calendar.
        let mut conn = self.app.db().get().unwrap_or_else(|e| panic!("{e}"));
        nazer_deadline_timer::seed_reference(&mut conn, chrono::Utc::now()).unwrap_or_else(|e| panic!("{e}"));
        drop(conn);
        let category = json!({ "name_fa": "تخلفات ساختمانی", "name_en": "Building violations",
                               "kinds": ["complaint", "violation_report"] });
        self.expect(self.app.put(&format!("/api/v1/categories/{CATEGORY}"), ADMIN_KEY, &category).await, 200);
        for (id, parent) in [
            ("tehran-governorate", None),
            ("tehran-municipality", Some("tehran-governorate")),
            ("district-3", Some("tehran-municipality")),
            ("isfahan-municipality", None),
            ("national-housing", None),
        ] {
            let agency = json!({ "id": id, "name": format!("agency {id}"), "parent_id": parent });
            self.expect(self.app.post("/api/v1/agencies", ADMIN_KEY, &agency).await, 201);
        }
        for (province, city, agency) in [
            ("tehran", Some("تهران"), "district-3"),
            ("tehran", None, "tehran-municipality"),
            ("isfahan", None, "isfahan-municipality"),
            ("*", None, "national-housing"),
        ] {
            let rule = json!({ "category": CATEGORY, "province": province, "city": city, "agency_id": agency });
            self.expect(self.app.post("/api/v1/routing-rules", ADMIN_KEY, &rule).await, 201);
        }
    }

    #[track_caller]
    pub fn expect(&self, (status, body): (u16, Value), wanted: u16) -> Value {
        assert_eq!(status, wanted, "{body}");
        body
    }

    /// Posts a complaint from `province` (and `city`); its tracking code and id.
    pub async fn post_message(&self, province: &str, city: Option<&str>) -> (String, String) {
        self.post_kind("complaint", province, city).await
    }

    /// Posts a message of `kind` from `province` (and `city`); its tracking code and id.
    pub async fn post_kind(&self, kind: &str, province: &str, city: Option<&str>) -> (String, String) {
        let message = json!({ "kind": kind, "channel": "call_center", "category": CATEGORY,
                              "body": "ساخت و ساز بدون پروانه", "province": province, "city": city,
                              "reporter": { "full_name": "شهروند", "mobile": "09121234567" } });
        let receipt = self.expect(self.app.post("/api/v1/messages", ADMIN_KEY, &message).await, 201);
        (
            receipt["tracking_code"].as_str().unwrap_or_default().into(),
            receipt["id"].as_str().unwrap_or_default().into(),
        )
    }

    /// The message as the call centre sees it.
    pub async fn message(&self, code: &str) -> Value {
        self.expect(self.app.get(&format!("/api/v1/messages/{code}"), ADMIN_KEY).await, 200)
    }

    /// Waits until the message is `status` (and assigned to `agency`, when given).
    pub async fn wait_for(&self, code: &str, status: &str, agency: Option<&str>) -> Value {
        eventually(Duration::from_secs(20), &format!("{code} to be {status} ({agency:?})"), || async {
            let view = self.message(code).await;
            let agency_matches = agency.is_none_or(|a| view["assigned_agency"]["id"] == a);
            (view["status"] == status && agency_matches).then_some(view)
        })
        .await
    }
}
