//! Sign-in tokens for tests: a trusted RSA key published by a local JWKS server, a stranger's
//! key that is not, and claims of each role.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

use crate::config::JwtSettings;

pub const ISSUER: &str = "https://sso.nazer.test/realms/nazer";
pub const AUDIENCE: &str = "nazer-api";
pub const TRUSTED_KID: &str = "nazer-test-2026";
pub const HS256_SECRET: &str = "local-development-secret-0123456789abcdef";
pub const TRUSTED_PEM: &str = include_str!("../../testdata/jwt-trusted.pem");
pub const STRANGER_PEM: &str = include_str!("../../testdata/jwt-stranger.pem");
const TRUSTED_MODULUS: &str = include_str!("../../testdata/jwt-trusted.n");

/// The JWKS document publishing the trusted key.
pub fn jwks() -> Value {
    json!({ "keys": [{ "kty": "RSA", "use": "sig", "alg": "RS256", "kid": TRUSTED_KID,
                       "n": TRUSTED_MODULUS.trim(), "e": "AQAB" }] })
}

/// The trusted key's public half as raw bytes, for forging an HS256 token with it.
pub fn trusted_modulus() -> &'static str {
    TRUSTED_MODULUS.trim()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Valid claims of a person with `roles`, optionally of an agency, for five minutes.
pub fn claims(subject: &str, roles: &[&str], agency: Option<&str>) -> Value {
    let mut claims = json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now(),
                             "nbf": now() - 5, "exp": now() + 300, "roles": roles });
    if let Some(agency) = agency {
        claims["agency_id"] = json!(agency);
    }
    claims
}

/// Signs with an RSA key given as PEM, naming `kid` in the header when given.
pub fn rs256(claims: &Value, pem: &str, kid: Option<&str>) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    rs256_with_header(claims, pem, header)
}

pub fn rs256_with_header(claims: &Value, pem: &str, header: Header) -> String {
    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap_or_else(|e| panic!("test key: {e}"));
    encode(&header, claims, &key).unwrap_or_else(|e| panic!("signing: {e}"))
}

/// A token of the trusted key: what a real provider would issue.
pub fn person(subject: &str, roles: &[&str], agency: Option<&str>) -> String {
    rs256(&claims(subject, roles, agency), TRUSTED_PEM, Some(TRUSTED_KID))
}

pub fn hs256(claims: &Value, secret: &[u8]) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(secret))
        .unwrap_or_else(|e| panic!("signing: {e}"))
}

/// A token with `alg: none` and no signature.
pub fn unsigned(claims: &Value) -> String {
    use base64_url::encode as b64;
    let header = b64(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.", b64(claims.to_string().as_bytes()))
}

mod base64_url {
    /// Unpadded base64url, enough to hand-craft a token.
    pub fn encode(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..=chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            }
        }
        out
    }
}

/// A local JWKS endpoint, counting how often it is read; it can be told to stop answering
/// (it then accepts each request and never replies, as a provider that hangs).
pub struct JwksServer {
    pub url: String,
    fetches: Arc<AtomicUsize>,
    hanging: Arc<AtomicBool>,
    server: super::LocalServer,
}

impl JwksServer {
    pub async fn start() -> Self {
        use actix_web::{HttpResponse, web};
        let fetches = Arc::new(AtomicUsize::new(0));
        let hanging = Arc::new(AtomicBool::new(false));
        let (counter, hangs) = (fetches.clone(), hanging.clone());
        let server = super::LocalServer::start(move |cfg| {
            let (counter, hangs) = (counter.clone(), hangs.clone());
            cfg.route(
                "/certs",
                web::get().to(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let hang = hangs.load(Ordering::SeqCst);
                    async move {
                        if hang {
                            std::future::pending::<()>().await;
                        }
                        HttpResponse::Ok().json(jwks())
                    }
                }),
            );
        });
        Self { url: format!("{}/certs", server.url), fetches, hanging, server }
    }

    /// From now on every request is accepted and never answered.
    pub fn stop_answering(&self) {
        self.hanging.store(true, Ordering::SeqCst);
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Settings trusting this server's keys, as an OIDC deployment would set them.
    pub fn settings(&self) -> JwtSettings {
        JwtSettings {
            jwks_url: Some(self.url.clone()),
            issuer: Some(ISSUER.into()),
            audience: Some(AUDIENCE.into()),
            ..JwtSettings::default()
        }
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}
