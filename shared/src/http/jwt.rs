//! People sign in by JWT. Everything is set explicitly: RS256 with keys from the provider's
//! JWKS (by `kid`, never from `jku`/`x5u`/`jwk` headers), or HS256 with a configured secret for
//! local development; issuer, audience, `exp` and `nbf` with a small leeway, and a lifetime
//! (`exp - iat`) no longer than configured.

use std::collections::HashMap;
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header, errors::ErrorKind};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::auth::{Caller, Scope};
use super::problem::ApiError;
use crate::config::JwtSettings;

/// How long one JWKS fetch may take.
/// How a signed-in person's caller id begins (a digest of the subject follows), telling it from
/// an API key's id.
pub const SIGNED_IN_PREFIX: &str = "user:";

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a token naming an unknown key waits for the refresh it started (or found under way)
/// once the provider has answered before: a rotation on a healthy provider lands well within it,
/// and a made-up `kid` is refused no later, however the provider is doing.
const UNKNOWN_KID_WAIT: Duration = Duration::from_secs(1);

/// Role names as they appear in the roles claim, and what each may do here.
pub const ROLES: [(&str, Scope); 9] = [
    ("call_center", Scope::CallCenter),
    ("agency_officer", Scope::Agency),
    ("agency_head", Scope::Agency),
    ("agency", Scope::Agency),
    ("supervisor", Scope::Supervisor),
    ("special_follow_up", Scope::SpecialFollowUp),
    ("admin", Scope::Admin),
    ("counterpart_unit", Scope::CounterpartUnit),
    ("compliance_committee", Scope::ComplianceCommittee),
];

/// Why a token was refused; each is a 401 naming the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtRefusal {
    #[error("the token cannot be read, or its algorithm is not accepted (accepted: {0})")]
    Header(String),
    #[error("the token's algorithm `{0}` is not accepted here")]
    Algorithm(String),
    #[error("the token names no key (`kid`) or one the sign-in provider does not publish")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet (`nbf`)")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    Issuer,
    #[error("the token is meant for another audience")]
    Audience,
    #[error("the token lives longer (`exp` - `iat`) than the {0} seconds accepted here")]
    Lifetime(u64),
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("the token cannot be read: {0}")]
    Malformed(String),
}

/// What went wrong with a token or with the keys to check it.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error(transparent)]
    Refused(#[from] JwtRefusal),
    #[error("the sign-in provider's keys cannot be fetched: {0}")]
    KeysUnavailable(String),
}

/// A JWT has three base64url parts, the first a JSON object (`eyJ`); API keys never look so.
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.starts_with("eyJ") && credential.split('.').count() == 3
}

#[derive(Default)]
struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    /// When the provider last answered.
    fetched_at: Option<Instant>,
    /// When the last fetch started or ended, answered or not: the throttle counts from it.
    attempted_at: Option<Instant>,
    /// A fetch is under way; nobody starts another (single flight).
    refreshing: bool,
}

impl KeyCache {
    /// Why `kid` cannot be had: unknown once the provider has answered, else unavailable.
    fn missing(&self) -> JwtError {
        match self.fetched_at {
            Some(_) => JwtRefusal::UnknownKey.into(),
            None => JwtError::KeysUnavailable("the sign-in provider has not published its keys yet".into()),
        }
    }
}

/// What a refresh needs, apart from the verifier, so it can run on its own: a caller that gives
/// up waiting does not cancel the fetch others wait for.
#[derive(Clone)]
struct KeySource {
    url: String,
    client: reqwest::Client,
    cache: Arc<StdMutex<KeyCache>>,
    /// Ticks when a fetch ends; it carries nothing, the cache holds the outcome.
    refreshed: Arc<watch::Sender<()>>,
}

impl KeySource {
    fn cache(&self) -> MutexGuard<'_, KeyCache> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Starts the one fetch; whoever waits is told through `refreshed` when it ends.
    fn start_refresh(&self, cache: &mut KeyCache) {
        cache.refreshing = true;
        cache.attempted_at = Some(Instant::now());
        let source = self.clone();
        tokio::spawn(async move {
            let fetched = fetch_keys(&source.client, &source.url).await;
            {
                let mut cache = source.cache();
                cache.refreshing = false;
                cache.attempted_at = Some(Instant::now());
                match fetched {
                    Ok(keys) => {
                        cache.keys = keys;
                        cache.fetched_at = Some(Instant::now());
                    }
                    // Keys fetched before keep verifying while the provider is down.
                    Err(error) => tracing::warn!(%error, "JWKS refresh failed; the keys fetched before stay in use"),
                }
            }
            source.refreshed.send_replace(());
        });
    }
}

pub struct JwtVerifier {
    settings: JwtSettings,
    hs256: Option<DecodingKey>,
    keys: KeySource,
}

impl JwtVerifier {
    /// None while JWT sign-in is not configured.
    pub fn from_settings(settings: &JwtSettings) -> Option<Self> {
        if !settings.enabled() {
            return None;
        }
        let client = reqwest::Client::builder().timeout(FETCH_TIMEOUT).build().unwrap_or_default();
        let keys = KeySource {
            url: settings.jwks_url.clone().unwrap_or_default(),
            client,
            cache: Arc::default(),
            refreshed: Arc::new(watch::Sender::new(())),
        };
        Some(Self {
            settings: settings.clone(),
            hs256: settings.hs256_secret.as_ref().map(|s| DecodingKey::from_secret(s.as_bytes())),
            keys,
        })
    }

    fn accepted(&self) -> String {
        let mut names = Vec::new();
        if self.settings.jwks_url.is_some() {
            names.push("RS256");
        }
        if self.hs256.is_some() {
            names.push("HS256");
        }
        names.join(", ")
    }

    /// The caller a token stands for, or a 401 naming why it is refused.
    pub async fn caller(&self, token: &str) -> Result<Caller, ApiError> {
        match self.verify(token).await {
            Ok(claims) => caller_from_claims(&self.settings, &claims),
            Err(JwtError::Refused(refusal)) => Err(ApiError::Unauthorized(refusal.to_string())),
            Err(error @ JwtError::KeysUnavailable(_)) => {
                tracing::warn!(%error, "JWT keys unavailable");
                Err(ApiError::Unavailable("the sign-in provider cannot be reached; try again shortly".into()))
            }
        }
    }

    /// The verified claims of a token.
    pub async fn verify(&self, token: &str) -> Result<Value, JwtError> {
        let header = decode_header(token).map_err(|_| JwtRefusal::Header(self.accepted()))?;
        // The header's `jku`, `x5u`, `jwk` and `x5c` are never used: keys come from configuration.
        let key = match (header.alg, &self.hs256) {
            (Algorithm::RS256, _) if self.settings.jwks_url.is_some() => {
                let kid = header.kid.ok_or(JwtRefusal::UnknownKey)?;
                self.rsa_key(&kid).await?
            }
            (Algorithm::HS256, Some(secret)) => secret.clone(),
            (other, _) => return Err(JwtRefusal::Algorithm(format!("{other:?}")).into()),
        };
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.leeway = self.settings.leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[self.settings.issuer.as_deref().unwrap_or_default()]);
        validation.set_audience(&[self.settings.audience.as_deref().unwrap_or_default()]);
        let data = decode::<Value>(token, &key, &validation).map_err(|e| refusal_of(e.kind()))?;
        check_lifetime(&data.claims, self.settings.max_lifetime_secs)?;
        Ok(data.claims)
    }

    /// The key named `kid`. Known keys answer at once, even while a stale set is refreshed
    /// behind them or the provider is down. An unknown `kid` may start one refresh (at most once
    /// per `jwks_min_refetch_secs`, failures included) and waits for it at most a second from the
    /// refresh's start; inside the throttle, or behind a refresh already that slow, it is refused at once.
    async fn rsa_key(&self, kid: &str) -> Result<DecodingKey, JwtError> {
        let refresh_after = Duration::from_secs(self.settings.jwks_refresh_secs);
        let min_refetch = Duration::from_secs(self.settings.jwks_min_refetch_secs);
        let (mut refreshed, wait) = {
            let mut cache = self.keys.cache();
            let stale = cache.fetched_at.is_none_or(|t| t.elapsed() >= refresh_after);
            let may_fetch = !cache.refreshing && cache.attempted_at.is_none_or(|t| t.elapsed() >= min_refetch);
            if let Some(key) = cache.keys.get(kid).cloned() {
                if stale && may_fetch {
                    self.keys.start_refresh(&mut cache);
                }
                return Ok(key);
            }
            if !cache.refreshing {
                if !may_fetch {
                    return Err(cache.missing());
                }
                self.keys.start_refresh(&mut cache);
            }
            // Until the provider has answered once nothing verifies, so the wait is the fetch's.
            // The wait counts from the refresh's start: a provider already slow answers at once.
            let budget = if cache.fetched_at.is_some() { UNKNOWN_KID_WAIT } else { FETCH_TIMEOUT };
            let wait = budget.saturating_sub(cache.attempted_at.map_or(Duration::ZERO, |t| t.elapsed()));
            (self.keys.refreshed.subscribe(), wait)
        };
        let _ = tokio::time::timeout(wait, refreshed.changed()).await;
        let cache = self.keys.cache();
        cache.keys.get(kid).cloned().ok_or_else(|| cache.missing())
    }
}

async fn fetch_keys(client: &reqwest::Client, url: &str) -> Result<HashMap<String, DecodingKey>, JwtError> {
    let unavailable = |e: reqwest::Error| JwtError::KeysUnavailable(e.without_url().to_string());
    let document: Value = client
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(unavailable)?
        .json()
        .await
        .map_err(unavailable)?;
    Ok(rsa_keys_of(&document))
}

/// The RS256 signing keys of a JWKS document by `kid`; other keys are skipped.
fn rsa_keys_of(document: &Value) -> HashMap<String, DecodingKey> {
    let mut keys = HashMap::new();
    for jwk in document.get("keys").and_then(Value::as_array).into_iter().flatten() {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        let signing = text("use").is_none_or(|u| u == "sig");
        let rs256 = text("alg").is_none_or(|a| a == "RS256");
        if text("kty") != Some("RSA") || !signing || !rs256 {
            continue;
        }
        if let (Some(kid), Some(n), Some(e)) = (text("kid"), text("n"), text("e"))
            && let Ok(key) = DecodingKey::from_rsa_components(n, e)
        {
            keys.insert(kid.to_string(), key);
        }
    }
    keys
}

/// A token must say when it was issued, and may not live longer than `max_secs`: a stolen
/// long-lived token would otherwise outlast any sign-out.
fn check_lifetime(claims: &Value, max_secs: u64) -> Result<(), JwtRefusal> {
    let instant = |name: &str| claims.get(name).and_then(Value::as_f64);
    let issued = instant("iat").ok_or_else(|| JwtRefusal::MissingClaim("iat".into()))?;
    let expires = instant("exp").ok_or_else(|| JwtRefusal::MissingClaim("exp".into()))?;
    if expires - issued > max_secs as f64 {
        return Err(JwtRefusal::Lifetime(max_secs));
    }
    Ok(())
}

fn refusal_of(kind: &ErrorKind) -> JwtRefusal {
    match kind {
        ErrorKind::ExpiredSignature => JwtRefusal::Expired,
        ErrorKind::ImmatureSignature => JwtRefusal::NotYetValid,
        ErrorKind::InvalidIssuer => JwtRefusal::Issuer,
        ErrorKind::InvalidAudience => JwtRefusal::Audience,
        ErrorKind::MissingRequiredClaim(claim) => JwtRefusal::MissingClaim(claim.clone()),
        ErrorKind::InvalidSignature => JwtRefusal::Signature,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::MissingAlgorithm => {
            JwtRefusal::Algorithm("(mismatched)".into())
        }
        other => JwtRefusal::Malformed(format!("{other:?}")),
    }
}

/// A claim by name or dotted path (`realm_access.roles`).
fn claim<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    path.split('.').try_fold(claims, |value, part| value.get(part))
}

/// The caller of verified claims: scopes from the roles claim, the agency from its claim.
pub fn caller_from_claims(settings: &JwtSettings, claims: &Value) -> Result<Caller, ApiError> {
    let roles: Vec<String> = match claim(claims, &settings.roles_claim) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        Some(Value::String(text)) => text.split([' ', ',']).filter(|r| !r.is_empty()).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let mut scopes: Vec<Scope> = Vec::new();
    for (name, scope) in ROLES {
        if roles.iter().any(|r| r == name) && !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        let names: Vec<&str> = ROLES.iter().map(|(n, _)| *n).collect();
        return Err(ApiError::Forbidden(format!(
            "the token carries none of Nazer's roles in `{}`; expected one of: {}",
            settings.roles_claim,
            names.join(", ")
        )));
    }
    if Caller::mixes_agency_with_culpability(&scopes) {
        return Err(ApiError::Forbidden(
            "the token holds an agency role beside a counterpart unit's or the compliance committee's; an \
             agency's people may not hold those"
                .into(),
        ));
    }
    let agency_id = claim(claims, &settings.agency_claim).and_then(Value::as_str).map(str::to_string);
    if scopes.contains(&Scope::Agency) && !agency_id.as_deref().is_some_and(super::is_identifier) {
        return Err(ApiError::Forbidden(format!(
            "an agency role needs the agency's id in the `{}` claim ({})",
            settings.agency_claim,
            super::IDENTIFIER_RULE
        )));
    }
    let unit_id = claim(claims, &settings.unit_claim).and_then(Value::as_str).map(str::to_string);
    if scopes.contains(&Scope::CounterpartUnit) && !unit_id.as_deref().is_some_and(super::is_identifier) {
        return Err(ApiError::Forbidden(format!(
            "a counterpart unit's role needs the unit's id in the `{}` claim ({})",
            settings.unit_claim,
            super::IDENTIFIER_RULE
        )));
    }
    let issuer = claims.get("iss").and_then(Value::as_str).unwrap_or_default();
    let subject = claims.get("sub").and_then(Value::as_str).unwrap_or_default();
    // Pseudonymous and stable: the subject may be a national ID and must not reach logs.
    let digest = hex::encode(Sha256::digest(format!("{issuer}\u{0}{subject}").as_bytes()));
    let agency_id = agency_id.filter(|_| scopes.contains(&Scope::Agency));
    let unit_id = unit_id.filter(|_| scopes.contains(&Scope::CounterpartUnit));
    let name = claims.get("name").and_then(Value::as_str).map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
    Ok(Caller { key_id: format!("{SIGNED_IN_PREFIX}{}", &digest[..20]), scopes, agency_id, unit_id, name })
}
