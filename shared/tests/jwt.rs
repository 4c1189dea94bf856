//! Sign-in by JWT: every refusal the issue lists, each tested on its own, and the roles and
//! agency a valid token carries.

use jsonwebtoken::{Algorithm, Header};
use nazer_shared::config::JwtSettings;
use nazer_shared::http::jwt::{JwtError, JwtRefusal, JwtVerifier, caller_from_claims};
use nazer_shared::http::{ApiError, Scope};
use nazer_shared::testing::tokens::{self, JwksServer};
use serde_json::json;

fn verifier(settings: &JwtSettings) -> JwtVerifier {
    JwtVerifier::from_settings(settings).expect("JWT configured")
}

async fn refusal(verifier: &JwtVerifier, token: &str) -> JwtRefusal {
    match verifier.verify(token).await {
        Err(JwtError::Refused(refusal)) => refusal,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_of_the_providers_key_signs_a_person_in_with_roles_and_agency() {
    let jwks = JwksServer::start().await;
    let verifier = verifier(&jwks.settings());
    let token = tokens::person("0012345678", &["agency_officer"], Some("tehran-municipality"));
    let caller = verifier.caller(&token).await.expect("accepted");
    assert_eq!(caller.scopes, vec![Scope::Agency]);
    assert_eq!(caller.agency_id.as_deref(), Some("tehran-municipality"));
    assert!(caller.key_id.starts_with("user:") && !caller.key_id.contains("0012345678"), "{}", caller.key_id);
    // The key set is fetched once and reused.
    verifier.caller(&tokens::person("x", &["supervisor"], None)).await.expect("accepted");
    assert_eq!(jwks.fetches(), 1);
    jwks.stop().await;
}

#[tokio::test]
async fn unsigned_tokens_are_refused() {
    let jwks = JwksServer::start().await;
    let verifier = verifier(&jwks.settings());
    let token = tokens::unsigned(&tokens::claims("a", &["admin"], None));
    assert!(matches!(refusal(&verifier, &token).await, JwtRefusal::Header(_)));
    jwks.stop().await;
}

#[tokio::test]
async fn an_hs256_token_keyed_with_the_public_key_is_refused_when_only_rs256_is_configured() {
    let jwks = JwksServer::start().await;
    let verifier = verifier(&jwks.settings());
    // The classic confusion: the public key, which anyone has, used as an HMAC secret.
    let forged = tokens::hs256(&tokens::claims("a", &["admin"], None), tokens::trusted_modulus().as_bytes());
    assert_eq!(refusal(&verifier, &forged).await, JwtRefusal::Algorithm("HS256".into()));
    assert_eq!(jwks.fetches(), 0, "a refused algorithm never reaches the key set");
    jwks.stop().await;
}

#[tokio::test]
async fn other_algorithms_are_refused() {
    let jwks = JwksServer::start().await;
    let verifier = verifier(&jwks.settings());
    let mut header = Header::new(Algorithm::RS512);
    header.kid = Some(tokens::TRUSTED_KID.into());
    let token = tokens::rs256_with_header(&tokens::claims("a", &["admin"], None), tokens::TRUSTED_PEM, header);
    assert_eq!(refusal(&verifier, &token).await, JwtRefusal::Algorithm("RS512".into()));
    jwks.stop().await;
}

#[tokio::test]
async fn hs256_works_only_with_its_configured_development_secret() {
    let settings = JwtSettings {
        hs256_secret: Some(tokens::HS256_SECRET.into()),
        issuer: Some(tokens::ISSUER.into()),
        audience: Some(tokens::AUDIENCE.into()),
        ..JwtSettings::default()
    };
    let verifier = verifier(&settings);
    let claims = tokens::claims("dev", &["admin"], None);
    let caller = verifier.caller(&tokens::hs256(&claims, tokens::HS256_SECRET.as_bytes())).await.expect("accepted");
    assert_eq!(caller.scopes, vec![Scope::Admin]);
    let wrong = tokens::hs256(&claims, b"another-secret-of-enough-length-0123456789");
    assert_eq!(refusal(&verifier, &wrong).await, JwtRefusal::Signature);
    // No JWKS configured: RS256 is not accepted at all.
    let rs = tokens::person("a", &["admin"], None);
    assert_eq!(refusal(&verifier, &rs).await, JwtRefusal::Algorithm("RS256".into()));
}

#[tokio::test]
async fn a_strangers_signature_under_the_trusted_kid_is_refused() {
    let jwks = JwksServer::start().await;
    let verifier = verifier(&jwks.settings());
    let token = tokens::rs256(&tokens::claims("a", &["admin"], None), tokens::STRANGER_PEM, Some(tokens::TRUSTED_KID));
    assert_eq!(refusal(&verifier, &token).await, JwtRefusal::Signature);
    jwks.stop().await;
}

#[tokio::test]
async fn unknown_or_missing_kids_are_refused_and_refetching_is_throttled() {
    let jwks = JwksServer::start().await;
    let verifier = verifier(&jwks.settings());
    let claims = tokens::claims("a", &["admin"], None);
    let missing = tokens::rs256(&claims, tokens::TRUSTED_PEM, None);
    assert_eq!(refusal(&verifier, &missing).await, JwtRefusal::UnknownKey);
    for kid in ["made-up-1", "made-up-2", "made-up-3"] {
        let token = tokens::rs256(&claims, tokens::STRANGER_PEM, Some(kid));
        assert_eq!(refusal(&verifier, &token).await, JwtRefusal::UnknownKey);
    }
    assert_eq!(jwks.fetches(), 1, "unknown kids within ten seconds cause no further fetches");
    jwks.stop().await;
}

#[tokio::test]
async fn jku_and_x5u_headers_are_ignored() {
    let jwks = JwksServer::start().await;
    let verifier = verifier(&jwks.settings());
    let attacker = JwksServer::start().await;
    let claims = tokens::claims("a", &["admin"], None);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("attacker-key".into());
    header.jku = Some(attacker.url.clone());
    header.x5u = Some(attacker.url.clone());
    let token = tokens::rs256_with_header(&claims, tokens::STRANGER_PEM, header);
    assert_eq!(refusal(&verifier, &token).await, JwtRefusal::UnknownKey);
    assert_eq!(attacker.fetches(), 0, "the jku/x5u address is never fetched");
    attacker.stop().await;
    jwks.stop().await;
}

#[tokio::test]
async fn expiry_and_not_before_are_checked_with_a_small_leeway() {
    let jwks = JwksServer::start().await;
    let verifier = verifier(&jwks.settings());
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: serde_json::Value| tokens::rs256(&claims, tokens::TRUSTED_PEM, Some(tokens::TRUSTED_KID));
    let mut expired = tokens::claims("a", &["admin"], None);
    expired["exp"] = json!(now - 120);
    assert_eq!(refusal(&verifier, &sign(expired)).await, JwtRefusal::Expired);
    let mut just_expired = tokens::claims("a", &["admin"], None);
    just_expired["exp"] = json!(now - 10);
    verifier.verify(&sign(just_expired)).await.expect("within the 30 s leeway");
    let mut early = tokens::claims("a", &["admin"], None);
    early["nbf"] = json!(now + 120);
    assert_eq!(refusal(&verifier, &sign(early)).await, JwtRefusal::NotYetValid);
    let mut no_exp = tokens::claims("a", &["admin"], None);
    no_exp.as_object_mut().map(|c| c.remove("exp"));
    assert_eq!(refusal(&verifier, &sign(no_exp)).await, JwtRefusal::MissingClaim("exp".into()));
    jwks.stop().await;
}

#[tokio::test]
async fn issuer_audience_and_subject_are_required_and_checked() {
    let jwks = JwksServer::start().await;
    let verifier = verifier(&jwks.settings());
    let sign = |claims: serde_json::Value| tokens::rs256(&claims, tokens::TRUSTED_PEM, Some(tokens::TRUSTED_KID));
    let mut other_issuer = tokens::claims("a", &["admin"], None);
    other_issuer["iss"] = json!("https://sso.elsewhere.test");
    assert_eq!(refusal(&verifier, &sign(other_issuer)).await, JwtRefusal::Issuer);
    let mut other_audience = tokens::claims("a", &["admin"], None);
    other_audience["aud"] = json!(["another-api"]);
    assert_eq!(refusal(&verifier, &sign(other_audience)).await, JwtRefusal::Audience);
    for claim in ["iss", "aud", "sub"] {
        let mut claims = tokens::claims("a", &["admin"], None);
        claims.as_object_mut().map(|c| c.remove(claim));
        assert_eq!(refusal(&verifier, &sign(claims)).await, JwtRefusal::MissingClaim(claim.into()), "{claim}");
    }
    jwks.stop().await;
}

#[tokio::test]
async fn an_unreachable_provider_answers_503_until_keys_were_fetched_once() {
    let jwks = JwksServer::start().await;
    let settings = jwks.settings();
    // Keys go stale at once, so the second token asks the provider again.
    let verifier = verifier(&JwtSettings { jwks_refresh_secs: 0, ..settings.clone() });
    let token = tokens::person("a", &["admin"], None);
    verifier.caller(&token).await.expect("keys fetched");
    jwks.stop().await;
    // Keys fetched before keep verifying while the provider is down.
    verifier.caller(&token).await.expect("cached key");
    let cold = self::verifier(&settings);
    match cold.caller(&token).await {
        Err(ApiError::Unavailable(_)) => {}
        other => panic!("expected 503, got {other:?}"),
    }
}

#[test]
fn roles_and_agency_come_from_configurable_claims() {
    let settings =
        JwtSettings { roles_claim: "realm_access.roles".into(), agency_claim: "org".into(), ..JwtSettings::default() };
    let claims = json!({ "iss": "i", "sub": "s", "realm_access": { "roles": ["agency_head", "offline_access"] },
                         "org": "qom-governorate" });
    let caller = caller_from_claims(&settings, &claims).expect("caller");
    assert_eq!(caller.scopes, vec![Scope::Agency]);
    assert_eq!(caller.agency_id.as_deref(), Some("qom-governorate"));

    let no_roles = json!({ "iss": "i", "sub": "s", "realm_access": { "roles": ["offline_access"] } });
    assert!(matches!(caller_from_claims(&settings, &no_roles), Err(ApiError::Forbidden(_))));
    let agency_without_id = json!({ "iss": "i", "sub": "s", "realm_access": { "roles": ["agency_officer"] } });
    assert!(matches!(caller_from_claims(&settings, &agency_without_id), Err(ApiError::Forbidden(_))));
    // A supervisor's agency claim grants nothing agency-bound.
    let supervisor = json!({ "iss": "i", "sub": "s", "realm_access": { "roles": "supervisor" }, "org": "x" });
    let caller = caller_from_claims(&settings, &supervisor).expect("caller");
    assert_eq!((caller.scopes, caller.agency_id), (vec![Scope::Supervisor], None));
}

#[test]
fn a_counterpart_units_person_is_bound_to_the_unit_in_the_unit_claim() {
    let settings = JwtSettings { unit_claim: "unit".into(), ..JwtSettings::default() };
    let claims = json!({ "iss": "i", "sub": "s", "roles": ["counterpart_unit"], "unit": "inspection-urban-planning" });
    let caller = caller_from_claims(&settings, &claims).expect("caller");
    assert_eq!(caller.scopes, vec![Scope::CounterpartUnit]);
    assert_eq!(caller.unit_id.as_deref(), Some("inspection-urban-planning"));
    assert_eq!(caller.own_unit().ok().as_deref(), Some("inspection-urban-planning"));
    for unbound in [json!(null), json!("Not An Id!")] {
        let claims = json!({ "iss": "i", "sub": "s", "roles": ["counterpart_unit"], "unit": unbound });
        let refused = caller_from_claims(&settings, &claims).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(refused.contains("`unit` claim"), "{refused}");
    }
    // An agency's people never hold a culpability role beside.
    let mixed =
        json!({ "iss": "i", "sub": "s", "roles": ["agency_officer", "compliance_committee"], "agency_id": "a" });
    assert!(matches!(caller_from_claims(&settings, &mixed), Err(ApiError::Forbidden(_))));
    // The committee is no unit; a unit claim beside another role binds nothing.
    let committee = json!({ "iss": "i", "sub": "s", "roles": ["compliance_committee"], "unit": "x" });
    let caller = caller_from_claims(&settings, &committee).expect("caller");
    assert_eq!((caller.scopes, caller.unit_id), (vec![Scope::ComplianceCommittee], None));
}

#[tokio::test]
async fn a_hanging_provider_holds_up_neither_known_keys_nor_made_up_ones() {
    let jwks = JwksServer::start().await;
    let settings = JwtSettings { jwks_min_refetch_secs: 1, ..jwks.settings() };
    let verifier = std::sync::Arc::new(verifier(&settings));
    let valid = tokens::person("a", &["admin"], None);
    verifier.verify(&valid).await.expect("the trusted key is fetched");
    jwks.stop_answering();
    // Past the refetch throttle: a made-up kid may ask the provider again, which never answers.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let claims = tokens::claims("a", &["admin"], None);
    let started = std::time::Instant::now();
    let forged = (0..20).map(|i| {
        let (verifier, token) =
            (verifier.clone(), tokens::rs256(&claims, tokens::STRANGER_PEM, Some(&format!("made-up-{i}"))));
        tokio::spawn(async move { (verifier.verify(&token).await, started.elapsed()) })
    });
    let forged: Vec<_> = forged.collect();
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let valid_started = std::time::Instant::now();
    verifier.verify(&valid).await.expect("a known key keeps serving while the provider hangs");
    let valid_took = valid_started.elapsed();
    assert!(valid_took < std::time::Duration::from_secs(1), "the valid token waited {valid_took:?}");
    for task in forged {
        let (answer, took) = task.await.expect("task");
        assert!(matches!(answer, Err(JwtError::Refused(JwtRefusal::UnknownKey))), "{answer:?}");
        assert!(took < std::time::Duration::from_millis(2_500), "a made-up kid waited {took:?}");
    }
    assert_eq!(jwks.fetches(), 2, "one refresh for twenty made-up kids");
    // Behind a refresh already slower than a second, and then within the throttle, a made-up kid is
    // answered at once.
    let token = tokens::rs256(&claims, tokens::STRANGER_PEM, Some("made-up-late"));
    let late = std::time::Instant::now();
    assert!(matches!(verifier.verify(&token).await, Err(JwtError::Refused(JwtRefusal::UnknownKey))));
    assert!(late.elapsed() < std::time::Duration::from_millis(200), "waited {:?}", late.elapsed());
    assert_eq!(jwks.fetches(), 2);
}

#[tokio::test]
async fn tokens_living_longer_than_the_maximum_are_refused() {
    let jwks = JwksServer::start().await;
    let verifier = verifier(&JwtSettings { max_lifetime_secs: 3_600, ..jwks.settings() });
    let mut claims = tokens::claims("a", &["admin"], None);
    claims["exp"] = serde_json::json!(claims["iat"].as_i64().unwrap_or_default() + 3_601);
    let token = tokens::rs256(&claims, tokens::TRUSTED_PEM, Some(tokens::TRUSTED_KID));
    assert_eq!(refusal(&verifier, &token).await, JwtRefusal::Lifetime(3_600));
    claims["exp"] = serde_json::json!(claims["iat"].as_i64().unwrap_or_default() + 3_600);
    let token = tokens::rs256(&claims, tokens::TRUSTED_PEM, Some(tokens::TRUSTED_KID));
    verifier.verify(&token).await.expect("exactly the maximum is accepted");
    let mut no_iat = tokens::claims("a", &["admin"], None);
    no_iat.as_object_mut().map(|c| c.remove("iat"));
    let token = tokens::rs256(&no_iat, tokens::TRUSTED_PEM, Some(tokens::TRUSTED_KID));
    assert_eq!(refusal(&verifier, &token).await, JwtRefusal::MissingClaim("iat".into()));
    jwks.stop().await;
}

#[test]
fn the_name_claim_names_the_caller_and_the_subject_stays_a_digest() {
    let settings = JwtSettings::default();
    let roles = settings.roles_claim.clone();
    let mut claims = json!({ "iss": "i", "sub": "0012345678", "name": " مریم احمدی " });
    claims[roles.as_str()] = json!(["supervisor"]);
    let caller = caller_from_claims(&settings, &claims).expect("caller");
    assert_eq!(caller.name.as_deref(), Some("مریم احمدی"));
    assert!(caller.key_id.starts_with("user:") && !caller.key_id.contains("0012345678"), "{}", caller.key_id);
    claims.as_object_mut().map(|c| c.remove("name"));
    assert_eq!(caller_from_claims(&settings, &claims).expect("caller").name, None);
}

#[test]
fn a_callers_debug_form_never_shows_its_name() {
    let settings = JwtSettings::default();
    let mut claims = json!({ "iss": "i", "sub": "s", "name": "مریم احمدی" });
    claims[settings.roles_claim.as_str()] = json!(["supervisor"]);
    let caller = caller_from_claims(&settings, &claims).expect("caller");
    let shown = format!("{caller:?}");
    assert!(!shown.contains("مریم") && shown.contains("<redacted>"), "{shown}");
}
