//! Demo data for `nazer up --demo`: Tehran's 1888 from the example reference data (its areas
//! with illustrative boundaries, categories, agencies and routing rules), SLA policies and
//! violation-case stage budgets of seconds, API keys known in advance, and a built-in receiver for the agencies' webhooks that
//! checks their signatures, so the whole path can be watched on one machine.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use nazer_notification::signature;
use nazer_shared::config::WebhookSettings;
use nazer_shared::db::{Db, DbError, write_transaction};
use nazer_shared::http::Scope;
use nazer_shared::http::auth::{KeyBinding, ensure_key};
use nazer_shared::sealing::SealingKeys;

use crate::reference;

/// The demo call-centre key (also an admin key, so the demo can be configured).
pub const CALL_CENTRE_KEY: &str = "demo-call-centre-key-1888";
/// The demo key of a 1888 supervisor (reviews answers).
pub const SUPERVISOR_KEY: &str = "demo-supervisor-key-1888";
/// The demo key of an Open311 app.
pub const OPEN311_KEY: &str = "demo-open311-key-1888";
/// The demo key of the counterpart unit for urban planning (culpability of building violations).
pub const UNIT_KEY: &str = "demo-unit-key-inspection-urban-planning";
/// The counterpart unit the demo's unit key is bound to.
const DEMO_UNIT: &str = "inspection-urban-planning";
/// The demo key of the compliance committee.
pub const COMMITTEE_KEY: &str = "demo-committee-key-1888";
/// The demo key of an agency of the demo's `agencies.json`.
fn agency_key(agency: &str) -> String {
    format!("demo-agency-key-{agency}")
}

/// Signs the demo webhooks; the built-in receiver checks it.
pub const WEBHOOK_SECRET: &str = "demo-webhook-secret-1888";

/// Adds the demo receiver's address (this host's, loopback when it listens on every address) to
/// the networks webhooks may reach: the operator's list and that one address, nothing more.
pub fn allow_receiver(webhooks: &mut WebhookSettings, http_addr: &str) {
    let Ok(addr) = http_addr.parse::<SocketAddr>() else { return };
    let network = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => format!("{}/32", Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => format!("{}/128", Ipv6Addr::LOCALHOST),
        IpAddr::V4(ip) => format!("{ip}/32"),
        IpAddr::V6(ip) => format!("{ip}/128"),
    };
    let listed = webhooks.allowed_networks.trim().trim_end_matches(',');
    webhooks.allowed_networks = if listed.is_empty() { network } else { format!("{listed},{network}") };
}

pub fn receiver_base(addr: &str) -> String {
    let host = addr.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
    format!("http://{host}/demo/webhooks")
}

/// Seeds the demo data (its reference data as `nazer import` loads it, then its budgets of
/// seconds); `keys` seal the demo webhooks' secret.
pub async fn seed(db: &Db, keys: SealingKeys, receiver: &str, now: DateTime<Utc>) -> Result<(), DbError> {
    let receiver = receiver.to_string();
    let data = reference::demo().map_err(|e| DbError::Refused(format!("demo reference data: {e}")))?;
    let agencies = reference::agency_ids(&data);
    db.run(move |conn| {
        write_transaction(conn, |conn| {
            crate::import::apply_or_refuse(conn, &data, now)?;
            nazer_deadline_timer::seed_demo(conn, now)?;
            nazer_violation_referral::types::store::seed_demo(conn, now)?;
            let mut ids: Vec<&str> = agencies.iter().map(String::as_str).collect();
            ids.push(nazer_deadline_timer::firing::store::SPECIAL_FOLLOW_UP);
            nazer_notification::seed_demo(conn, &keys, &ids, &receiver, WEBHOOK_SECRET, now)
        })?;
        ensure_key(
            conn,
            "demo-call-centre",
            "demo call centre",
            CALL_CENTRE_KEY,
            &[Scope::CallCenter, Scope::Admin],
            KeyBinding::default(),
            now,
        )?;
        ensure_key(
            conn,
            "demo-supervisor",
            "demo supervisor",
            SUPERVISOR_KEY,
            &[Scope::Supervisor],
            KeyBinding::default(),
            now,
        )?;
        ensure_key(
            conn,
            "demo-unit",
            "demo counterpart unit (urban planning)",
            UNIT_KEY,
            &[Scope::CounterpartUnit],
            KeyBinding { agency_id: None, unit_id: Some(DEMO_UNIT) },
            now,
        )?;
        ensure_key(
            conn,
            "demo-committee",
            "demo compliance committee",
            COMMITTEE_KEY,
            &[Scope::ComplianceCommittee],
            KeyBinding::default(),
            now,
        )?;
        ensure_key(
            conn,
            "demo-open311",
            "demo Open311 app",
            OPEN311_KEY,
            &[Scope::Open311],
            KeyBinding::default(),
            now,
        )?;
        for id in &agencies {
            ensure_key(
                conn,
                &format!("demo-{id}"),
                id,
                &agency_key(id),
                &[Scope::Agency],
                KeyBinding::agency(Some(id)),
                now,
            )?;
        }
        Ok(())
    })
    .await
}

pub fn receiver_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/demo/webhooks/{agency_id}", web::post().to(receive));
}

async fn receive(req: HttpRequest, path: web::Path<String>, body: web::Bytes) -> HttpResponse {
    let header = req.headers().get(signature::HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let event_type = req.headers().get("X-Nazer-Event-Type").and_then(|v| v.to_str().ok()).unwrap_or("?");
    let event_id = req.headers().get("X-Nazer-Event-Id").and_then(|v| v.to_str().ok()).unwrap_or("?");
    if !signature::verify(WEBHOOK_SECRET, header, &body, Utc::now().timestamp(), 300) {
        tracing::warn!(agency_id = %path, event_id, "demo receiver: bad signature");
        return HttpResponse::Unauthorized().finish();
    }
    tracing::info!(agency_id = %path, event_type, event_id, "demo receiver: signed webhook received");
    HttpResponse::NoContent().finish()
}

/// Everything a newcomer needs from the first screen: where to look, and every demo key.
pub fn print_banner(addr: SocketAddr) {
    println!("{}", banner(addr));
}

/// The agencies the banner names: the municipality and the demo walk-through's district.
const SHOWN_AGENCIES: [(&str, &str); 2] =
    [("tehran-municipality", "شهرداری تهران"), ("district-06-municipality", "شهرداری منطقه ۶")];

fn banner(addr: SocketAddr) -> String {
    let base = format!("http://{addr}");
    let mut named = vec![
        ("call centre (and admin)".to_string(), CALL_CENTRE_KEY.to_string()),
        ("supervisor".to_string(), SUPERVISOR_KEY.to_string()),
        ("Open311 app".to_string(), OPEN311_KEY.to_string()),
        (format!("counterpart unit {DEMO_UNIT}"), UNIT_KEY.to_string()),
        ("compliance committee".to_string(), COMMITTEE_KEY.to_string()),
    ];
    // Two agencies by name; every other one's key follows the same pattern.
    for (agency, name) in SHOWN_AGENCIES {
        named.push((format!("agency {agency}"), format!("{} ({name})", agency_key(agency))));
    }
    named.push(("any other agency".to_string(), agency_key("<its id>")));
    let width = named.iter().map(|(label, _)| label.len()).max().unwrap_or_default();
    let keys: String = named.iter().map(|(label, key)| format!("  {label:<width$} : {key}\n")).collect();
    format!(
        "\nNazer is up at {base} with demo data.\n\
         \n  API page and reference : {base}/api/v1/docs\
         \n  OpenAPI document       : {base}/api/v1/openapi.json\
         \n  Open311 (GeoReport v2) : {base}/open311/v2/services.json\
         \n  health                 : {base}/healthz\
         \n  respond budget         : 30 seconds, so a warning follows an unanswered message\
         \n  violation case stages  : 60 seconds each, from an inspector's classification\n\
         \nDemo API keys (send as 'Authorization: Bearer KEY'):\n{keys}\
         \nPost a message:\n  curl -s -X POST {base}/api/v1/messages -H 'Authorization: Bearer {CALL_CENTRE_KEY}' \\\n    \
         -H 'Content-Type: application/json' \\\n    \
         -d '{{\"kind\":\"violation_report\",\"channel\":\"call_center\",\"category\":\"municipal.building\",\"body\":\"ساخت و ساز غیرمجاز\",\"location\":{{\"lat\":35.722,\"long\":51.398}}}}'\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_banner_names_every_demo_key_and_the_pages() {
        let text = banner("127.0.0.1:8080".parse().expect("a literal address"));
        for key in [
            CALL_CENTRE_KEY,
            SUPERVISOR_KEY,
            OPEN311_KEY,
            UNIT_KEY,
            COMMITTEE_KEY,
            "demo-agency-key-tehran-municipality",
        ] {
            assert!(text.contains(key), "{key} missing from\n{text}");
        }
        let data = reference::demo().expect("the demo's reference data reads");
        let agencies = data.agencies.map(|a| a.records).unwrap_or_default();
        for (agency, name) in SHOWN_AGENCIES {
            assert!(text.contains(&agency_key(agency)), "{agency} missing");
            assert!(
                agencies.iter().any(|a| a.item.id == agency && a.item.name == name),
                "{agency} is a demo agency, {name}"
            );
        }
        for url in ["http://127.0.0.1:8080/api/v1/docs", "http://127.0.0.1:8080/healthz"] {
            assert!(text.contains(url), "{url} missing from\n{text}");
        }
    }

    #[test]
    fn the_demo_allows_its_own_receiver_besides_the_operators_networks() {
        let allowed = |operator: &str, addr: &str| {
            let mut webhooks = WebhookSettings { allowed_networks: operator.into(), ..Default::default() };
            allow_receiver(&mut webhooks, addr);
            webhooks.allowed_networks
        };
        assert_eq!(allowed("", "127.0.0.1:8080"), "127.0.0.1/32");
        assert_eq!(allowed("", "0.0.0.0:8080"), "127.0.0.1/32");
        assert_eq!(allowed("", "[::]:8080"), "::1/128");
        assert_eq!(allowed("", "[::1]:8080"), "::1/128");
        assert_eq!(allowed("10.20.0.0/16", "127.0.0.1:0"), "10.20.0.0/16,127.0.0.1/32");
        let parsed = nazer_shared::config::parse_networks(&allowed("10.20.0.0/16,", "192.168.4.2:8080")).unwrap();
        assert_eq!(parsed.iter().map(|n| n.to_string()).collect::<Vec<_>>(), ["10.20.0.0/16", "192.168.4.2/32"]);
    }
}
