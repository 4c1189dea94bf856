//! Configuration: built-in defaults < optional `nazer.toml` < environment `NAZER__SECTION__KEY`.
//!
//! Every section refuses unknown keys, so a typo such as `NAZER__HTTP__ADRR` stops the start-up
//! with an error that names it instead of being silently ignored.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A configuration problem, always naming the key and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration key `{key}` is invalid: {problem}")]
    Invalid { key: String, problem: String },
    #[error("configuration could not be read: {0}")]
    Source(String),
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub broker: BrokerSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub outbox: OutboxSettings,
    pub deadlines: DeadlineSettings,
    pub webhooks: WebhookSettings,
    pub privacy: PrivacySettings,
    pub quality: QualitySettings,
    pub tracking: TrackingSettings,
    pub open311: Open311Settings,
    pub telemetry: TelemetrySettings,
}

/// Traces over OTLP: off while no endpoint is set (trace ids still travel and reach the logs).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Base URL of an OTLP/HTTP receiver (a collector), e.g. `http://otel-collector:4318`;
    /// spans are posted to `<base>/v1/traces`.
    pub otlp_endpoint: Option<String>,
    /// Share of new traces kept (0.0–1.0); a trace begun elsewhere keeps its caller's decision.
    pub sampling_ratio: f64,
    /// Longest wait of one export, in milliseconds.
    pub export_timeout_ms: u64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self { otlp_endpoint: None, sampling_ratio: 1.0, export_timeout_ms: 10_000 }
    }
}

/// The quality of handling: reopening answered messages and supervisors' reviews.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualitySettings {
    /// How many working days after an answer the citizen may reopen the message.
    pub reopen_working_days: u32,
    /// A reviewed answer scoring below this (the rubric's mean, 1–5) registers a quality warning.
    pub warning_below_score: f64,
}

impl Default for QualitySettings {
    fn default() -> Self {
        Self { reopen_working_days: 10, warning_below_score: 3.0 }
    }
}

/// Citizens' tracking API: its limits, counted in the database so every replica agrees.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingSettings {
    /// Requests one client may make per minute.
    pub client_requests_per_minute: u32,
    /// Wrong second factors one client may send for one tracking code per hour; beyond, that
    /// client waits out the hour for that code while the citizen's own client is not held up.
    pub code_failures_per_hour: u32,
    /// Wrong second factors one tracking code takes per day from all clients together, the
    /// ceiling on guessing: 50 of the 10 000 four-digit verifiers (0.5%) a day by default.
    pub code_failures_per_day: u32,
    /// Wrong second factors one client may send per hour, across codes.
    pub client_failures_per_hour: u32,
    /// The header naming the client's address when behind a proxy that sets it (e.g.
    /// `X-Real-IP`); unset, the connection's peer address is the client.
    pub client_ip_header: Option<String>,
}

impl Default for TrackingSettings {
    fn default() -> Self {
        Self {
            client_requests_per_minute: 30,
            code_failures_per_hour: 5,
            code_failures_per_day: 50,
            client_failures_per_hour: 20,
            client_ip_header: None,
        }
    }
}

/// What Open311 GeoReport v2 reads answer a client that sends no `api_key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PublicReads {
    /// The public subset of each request (its id, status, service, agency and times), limited
    /// per client; the full view still needs a key.
    #[default]
    Subset,
    /// None: every read needs a key.
    Off,
}

/// Open311 GeoReport v2 on intake.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Open311Settings {
    /// What reads without `api_key` answer (the spec makes reads keyless).
    pub public_reads: PublicReads,
    /// Reads without `api_key` one client may make per minute (an IPv6 client counted by its /64,
    /// the client named as `tracking.client_ip_header` says).
    pub keyless_reads_per_minute: u32,
}

impl Default for Open311Settings {
    fn default() -> Self {
        Self { public_reads: PublicReads::Subset, keyless_reads_per_minute: 60 }
    }
}

#[derive(Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacySettings {
    /// Keys that seal reporters' identities at rest: `id:hex` pairs (32 bytes as 64 hex digits),
    /// comma-separated; the first seals, every one opens, so a key is rotated by putting a new
    /// one first (then `nazer migrate` reseals). Unset: the embedded default keeps a generated
    /// key beside its database file; a PostgreSQL deployment must set it.
    pub reporter_keys: Option<String>,
    /// The key of the blind index that finds messages by a reporter's mobile or national ID
    /// without opening every sealed identity: 32 bytes as 64 hex digits, apart from the sealing
    /// keys (whoever holds it can test a guessed number against the index, not open anything).
    /// Unset: the embedded default keeps a generated key beside its database file; a PostgreSQL
    /// deployment must set it.
    pub search_key: Option<String>,
}

/// Key material never reaches a log, even through a debug print of the settings.
impl std::fmt::Debug for PrivacySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys = self.reporter_keys.as_ref().map(|_| "<redacted>");
        let search_key = self.search_key.as_ref().map(|_| "<redacted>");
        f.debug_struct("PrivacySettings").field("reporter_keys", &keys).field("search_key", &search_key).finish()
    }
}

/// The 32-byte key of a `privacy.search_key` value, or what is wrong with it (never the value).
pub fn parse_search_key(text: &str) -> Result<[u8; 32], String> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| "must be 32 bytes as 64 hex digits (e.g. `openssl rand -hex 32`)".to_string())?;
    Ok(key)
}

/// `(id, 32-byte key)` pairs of a `privacy.reporter_keys` value, or what is wrong with it.
pub fn parse_reporter_keys(text: &str) -> Result<Vec<(String, [u8; 32])>, String> {
    let mut keys: Vec<(String, [u8; 32])> = Vec::new();
    for (i, entry) in text.split(',').map(str::trim).enumerate() {
        let Some((id, hex_key)) = entry.split_once(':') else {
            return Err(format!("entry {} is not `id:hex`", i + 1));
        };
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            // Not echoed: a key written where its id belongs would land in a log.
            return Err(format!("entry {}: the key id must be 1–32 letters, digits, '-' or '_' (id:hex)", i + 1));
        }
        let mut key = [0u8; 32];
        hex::decode_to_slice(hex_key, &mut key)
            .map_err(|_| format!("key `{id}` must be 32 bytes as 64 hex digits (e.g. `openssl rand -hex 32`)"))?;
        if keys.iter().any(|(known, _)| known == id) {
            return Err(format!("key id `{id}` is listed twice"));
        }
        keys.push((id.to_string(), key));
    }
    Ok(keys)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `postgres://…` or a SQLite file path; absent = the embedded default file.
    pub url: Option<String>,
    pub pool_size: u32,
    /// Seconds to wait for a pooled connection before failing the request.
    pub connect_timeout_secs: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self { url: None, pool_size: 8, connect_timeout_secs: 10 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerSettings {
    /// `amqp://…` or `amqps://…`; absent = the in-process bus (one process only).
    pub url: Option<String>,
    /// Prefix of the exchange and queue names, so several installations (or tests) share a vhost.
    pub namespace: String,
    /// Deliveries of one event to one consumer before it is parked. Fixed on each queue when
    /// it is first declared: change it later with a RabbitMQ policy, not here.
    pub delivery_limit: u32,
    pub prefetch: u16,
    /// Let idle queues expire (milliseconds); meant for tests, never for production.
    pub queue_expires_ms: Option<u64>,
    /// The AMQP heartbeat proposed to the broker, in seconds, unless the URL sets `heartbeat`:
    /// a connection silent for two of them (a partition, a half-open socket) is given up and
    /// opened again.
    pub heartbeat_secs: u16,
}

impl Default for BrokerSettings {
    fn default() -> Self {
        Self {
            url: None,
            namespace: "nazer".into(),
            delivery_limit: 5,
            prefetch: 32,
            queue_expires_ms: None,
            heartbeat_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    pub addr: String,
    pub workers: usize,
    /// After SIGTERM or SIGINT: how long the process may take to finish requests and deliveries
    /// in flight and flush its outbox before it exits (keep it below Kubernetes'
    /// `terminationGracePeriodSeconds`, 30 by default).
    pub shutdown_grace_secs: u64,
    /// After SIGTERM, how long (within the grace period) the process reports itself not ready
    /// but still serves, so that Kubernetes has taken it out of its endpoints before it stops
    /// listening.
    /// Unset: 3 seconds, or half the grace period when that is shorter.
    pub shutdown_delay_secs: Option<u64>,
    /// How long a client may take to send a request's body once its head has arrived; a body
    /// announced and then trickled (or never sent) is answered 408 when this runs out.
    pub body_read_timeout_secs: u64,
}

impl HttpSettings {
    /// The pre-stop delay in effect (see `shutdown_delay_secs`).
    pub fn shutdown_delay(&self) -> u64 {
        self.shutdown_delay_secs.unwrap_or((self.shutdown_grace_secs / 2).min(3))
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".into(),
            workers: 2,
            shutdown_grace_secs: 25,
            shutdown_delay_secs: None,
            body_read_timeout_secs: 10,
        }
    }
}

#[derive(Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// A call-centre key accepted from start-up; stored hashed like any other key.
    pub bootstrap_api_key: Option<String>,
    /// Sign-in of people (officers, heads, supervisors, admins) by JWT.
    pub jwt: JwtSettings,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = self.bootstrap_api_key.as_ref().map(|_| "<redacted>");
        f.debug_struct("AuthSettings").field("bootstrap_api_key", &key).field("jwt", &self.jwt).finish()
    }
}

/// JWTs from an OpenID Connect provider (RS256, keys from its JWKS), or, for local development
/// only, HS256 with a shared secret. Off while neither `jwks_url` nor `hs256_secret` is set.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtSettings {
    /// The provider's JWKS document, e.g. `https://sso.example.ir/realms/nazer/protocol/openid-connect/certs`.
    pub jwks_url: Option<String>,
    /// The `iss` every token must carry.
    pub issuer: Option<String>,
    /// An `aud` every token must carry (this API's client id).
    pub audience: Option<String>,
    /// Local development only: accept HS256 tokens signed with this secret (32+ bytes). Needs
    /// `allow_hs256_development`, and is refused on PostgreSQL outside `nazer up --demo`.
    pub hs256_secret: Option<String>,
    /// The explicit switch HS256 needs: a shared secret suits one developer's machine only.
    pub allow_hs256_development: bool,
    /// Where the roles are: a claim name or a dotted path such as `realm_access.roles`.
    pub roles_claim: String,
    /// The claim holding the agency id of an agency officer or head.
    pub agency_claim: String,
    /// The claim holding the counterpart unit's id of a `counterpart_unit` person.
    pub unit_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// How long fetched keys are trusted before the JWKS is read again.
    pub jwks_refresh_secs: u64,
    /// After a JWKS fetch (answered or failed), the least time before the next one, so tokens
    /// naming made-up keys cannot hammer the provider.
    pub jwks_min_refetch_secs: u64,
    /// The longest lifetime (`exp - iat`) a token may claim; longer ones are refused.
    pub max_lifetime_secs: u64,
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            jwks_url: None,
            issuer: None,
            audience: None,
            hs256_secret: None,
            allow_hs256_development: false,
            roles_claim: "roles".into(),
            agency_claim: "agency_id".into(),
            unit_claim: "unit_id".into(),
            leeway_secs: 30,
            jwks_refresh_secs: 300,
            jwks_min_refetch_secs: 10,
            max_lifetime_secs: 24 * 60 * 60,
        }
    }
}

impl JwtSettings {
    pub fn enabled(&self) -> bool {
        self.jwks_url.is_some() || self.hs256_secret.is_some()
    }

    /// What serde cannot check: required companions, sane numbers.
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, problem: &str| ConfigError::Invalid { key: key.into(), problem: problem.into() };
        if !self.enabled() {
            return Ok(());
        }
        if let Some(url) = &self.jwks_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid("auth.jwt.jwks_url", "must be an http(s):// URL of the provider's JWKS"));
        }
        if self.issuer.as_deref().is_none_or(|i| i.trim().is_empty()) {
            return Err(invalid("auth.jwt.issuer", "is required with JWT sign-in: the `iss` tokens must carry"));
        }
        if self.audience.as_deref().is_none_or(|a| a.trim().is_empty()) {
            return Err(invalid("auth.jwt.audience", "is required with JWT sign-in: the `aud` tokens must carry"));
        }
        if self.hs256_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(invalid("auth.jwt.hs256_secret", "is too short; use at least 32 random bytes"));
        }
        if self.hs256_secret.is_some() && !self.allow_hs256_development {
            return Err(invalid(
                "auth.jwt.hs256_secret",
                "is for local development only: set auth.jwt.allow_hs256_development = true beside it, or sign \
                 people in through the provider's JWKS (auth.jwt.jwks_url)",
            ));
        }
        for (field, claim) in [
            ("auth.jwt.roles_claim", &self.roles_claim),
            ("auth.jwt.agency_claim", &self.agency_claim),
            ("auth.jwt.unit_claim", &self.unit_claim),
        ] {
            if claim.trim().is_empty() {
                return Err(invalid(field, "must name a claim"));
            }
        }
        if self.leeway_secs > 300 {
            return Err(invalid("auth.jwt.leeway_secs", "must be at most 300 seconds"));
        }
        if self.jwks_refresh_secs < 10 {
            return Err(invalid("auth.jwt.jwks_refresh_secs", "must be at least 10 seconds"));
        }
        if !(1..=self.jwks_refresh_secs).contains(&self.jwks_min_refetch_secs) {
            return Err(invalid(
                "auth.jwt.jwks_min_refetch_secs",
                "must be at least 1 second and at most jwks_refresh_secs",
            ));
        }
        if !(60..=7 * 24 * 60 * 60).contains(&self.max_lifetime_secs) {
            return Err(invalid("auth.jwt.max_lifetime_secs", "must be between 60 seconds and 7 days (604800)"));
        }
        Ok(())
    }
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("hs256_secret", &self.hs256_secret.as_ref().map(|_| "<redacted>"))
            .field("roles_claim", &self.roles_claim)
            .field("agency_claim", &self.agency_claim)
            .field("unit_claim", &self.unit_claim)
            .field("leeway_secs", &self.leeway_secs)
            .field("allow_hs256_development", &self.allow_hs256_development)
            .field("jwks_refresh_secs", &self.jwks_refresh_secs)
            .field("jwks_min_refetch_secs", &self.jwks_min_refetch_secs)
            .field("max_lifetime_secs", &self.max_lifetime_secs)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter, e.g. `info` or `info,nazer_routing=debug`.
    pub level: String,
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self { level: "info".into(), format: LogFormat::Json }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxSettings {
    /// Fallback poll when no commit signalled new rows (other replicas, restarts).
    pub poll_interval_ms: u64,
    pub batch_size: i64,
    /// How long a relay may hold a claimed batch. One process alone (SQLite, or the in-process
    /// bus): the lease written with the claim, after which the rows may be claimed again
    /// (a restarted process frees its leases at once). PostgreSQL with a broker: the rows are
    /// held by the row locks of a transaction open for the publish, freed at once if the relay
    /// dies, and the server ends that transaction if it sits idle this long.
    pub lease_secs: i64,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self { poll_interval_ms: 500, batch_size: 200, lease_secs: 30 }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeadlineSettings {
    /// Longest sleep of the firing loop when nothing is due sooner.
    pub max_idle_ms: u64,
    pub batch_size: i64,
    /// The respond budget of a category that has none of its own (ISO 8601 duration).
    pub default_budget: String,
}

impl Default for DeadlineSettings {
    fn default() -> Self {
        Self { max_idle_ms: 1_000, batch_size: 500, default_budget: "P7D".into() }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    pub max_attempts: i32,
    pub initial_backoff_ms: i64,
    pub max_backoff_ms: i64,
    pub timeout_ms: u64,
    pub poll_interval_ms: u64,
    /// Networks webhooks may reach although they are not public (an agency's system on a
    /// government intranet): CIDRs such as `10.20.0.0/16`, comma-separated; empty (the default),
    /// webhooks reach public addresses only. A bare address stands for itself alone.
    pub allowed_networks: String,
}

impl WebhookSettings {
    /// The networks of `allowed_networks`, parsed.
    pub fn allowed_networks(&self) -> Result<Vec<ipnet::IpNet>, String> {
        parse_networks(&self.allowed_networks)
    }
}

/// Comma-separated CIDRs (a bare address is its own /32 or /128), or what is wrong with them.
pub fn parse_networks(text: &str) -> Result<Vec<ipnet::IpNet>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map(|network| network.trunc())
                .map_err(|_| {
                    format!(
                        "`{entry}` is not a network; give CIDRs such as 10.20.0.0/16 or fd00:1::/64, comma-separated"
                    )
                })
        })
        .collect()
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            timeout_ms: 10_000,
            poll_interval_ms: 500,
            allowed_networks: String::new(),
        }
    }
}

impl Settings {
    /// Loads from `nazer.toml` (or `file`, when given) and the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, None)
    }

    /// Same as [`Settings::load`], with the environment given explicitly (tests).
    pub fn load_from(file: Option<&Path>, env: Option<HashMap<String, String>>) -> Result<Self, ConfigError> {
        let default_file = PathBuf::from("nazer.toml");
        let (path, required) = match file {
            Some(p) => (p.to_path_buf(), true),
            None => (default_file, false),
        };
        let environment = config::Environment::with_prefix("NAZER")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .source(env);
        let built = config::Config::builder()
            .add_source(config::File::from(path).required(required))
            .add_source(environment)
            .build()
            .map_err(|e| ConfigError::Source(e.to_string()))?;
        let settings: Settings = built.try_deserialize().map_err(|e| ConfigError::Invalid {
            key: key_of(&e).unwrap_or_else(|| "(top level)".into()),
            problem: e.to_string(),
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what serde cannot: addresses, URL schemes, sane numbers.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, problem: String| ConfigError::Invalid { key: key.into(), problem };
        self.http.addr.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "http.addr",
                format!("`{}` is not a socket address; use host:port such as 127.0.0.1:8080", self.http.addr),
            )
        })?;
        if !(1..=60).contains(&self.http.body_read_timeout_secs) {
            return Err(invalid("http.body_read_timeout_secs", "must be between 1 and 60 seconds".into()));
        }
        if let Some(url) = &self.database.url {
            if url.trim().is_empty() {
                return Err(invalid("database.url", "is empty; give postgres://… or a SQLite file path".into()));
            }
            if url.contains("://") && !is_postgres_url(url) && !url.starts_with("sqlite://") {
                return Err(invalid(
                    "database.url",
                    "unsupported scheme; use postgres://user@host/db or a SQLite file path".into(),
                ));
            }
        }
        if let Some(url) = &self.broker.url
            && !(url.starts_with("amqp://") || url.starts_with("amqps://"))
        {
            return Err(invalid(
                "broker.url",
                "must start with amqp:// or amqps://; leave it unset for the in-process bus".into(),
            ));
        }
        if self.broker.namespace.is_empty()
            || !self.broker.namespace.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(invalid("broker.namespace", "use letters, digits, '-', '_' or '.' only".into()));
        }
        if self.broker.delivery_limit == 0 {
            return Err(invalid("broker.delivery_limit", "must be at least 1".into()));
        }
        if self.broker.prefetch == 0 {
            return Err(invalid("broker.prefetch", "must be at least 1".into()));
        }
        if !(1..=300).contains(&self.broker.heartbeat_secs) {
            return Err(invalid(
                "broker.heartbeat_secs",
                "must be between 1 and 300: without heartbeats a silent connection is never noticed".into(),
            ));
        }
        if let Some(url) = &self.telemetry.otlp_endpoint
            && (!(url.starts_with("http://") || url.starts_with("https://"))
                || url.trim_end_matches('/').ends_with("/v1/traces"))
        {
            return Err(invalid(
                "telemetry.otlp_endpoint",
                "must be the http(s):// base URL of an OTLP/HTTP receiver, such as http://otel-collector:4318 \
                 (without /v1/traces, which is added)"
                    .into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.telemetry.sampling_ratio) {
            return Err(invalid("telemetry.sampling_ratio", "must be between 0.0 and 1.0".into()));
        }
        if !(100..=120_000).contains(&self.telemetry.export_timeout_ms) {
            return Err(invalid("telemetry.export_timeout_ms", "must be between 100 and 120000 milliseconds".into()));
        }
        if self.database.pool_size == 0 {
            return Err(invalid("database.pool_size", "must be at least 1".into()));
        }
        if self.http.workers == 0 {
            return Err(invalid("http.workers", "must be at least 1".into()));
        }
        if !(1..=3_600).contains(&self.http.shutdown_grace_secs) {
            return Err(invalid("http.shutdown_grace_secs", "must be between 1 and 3600".into()));
        }
        if self.http.shutdown_delay() >= self.http.shutdown_grace_secs {
            return Err(invalid(
                "http.shutdown_delay_secs",
                format!(
                    "must be below http.shutdown_grace_secs ({}), which counts it and must leave time to finish",
                    self.http.shutdown_grace_secs
                ),
            ));
        }
        if self.outbox.batch_size <= 0 || self.outbox.lease_secs <= 0 {
            return Err(invalid(
                "outbox.batch_size",
                "outbox.batch_size and outbox.lease_secs must be positive".into(),
            ));
        }
        if self.deadlines.batch_size <= 0 {
            return Err(invalid("deadlines.batch_size", "must be positive".into()));
        }
        if let Err(error) = crate::duration::parse_iso8601(&self.deadlines.default_budget) {
            return Err(invalid("deadlines.default_budget", error.to_string()));
        }
        if self.webhooks.timeout_ms == 0 || self.webhooks.timeout_ms >= WEBHOOK_LEASE_SECS * 1_000 {
            return Err(invalid(
                "webhooks.timeout_ms",
                format!("must be between 1 and {} (a delivery's lease)", WEBHOOK_LEASE_SECS * 1_000 - 1),
            ));
        }
        if self.webhooks.initial_backoff_ms <= 0 || self.webhooks.max_backoff_ms < self.webhooks.initial_backoff_ms {
            return Err(invalid(
                "webhooks.initial_backoff_ms",
                "must be positive and not above webhooks.max_backoff_ms".into(),
            ));
        }
        if self.webhooks.max_attempts <= 0 {
            return Err(invalid("webhooks.max_attempts", "must be at least 1".into()));
        }
        self.webhooks.allowed_networks().map_err(|problem| invalid("webhooks.allowed_networks", problem))?;
        if let Some(key) = &self.auth.bootstrap_api_key
            && key.len() < 16
        {
            return Err(invalid("auth.bootstrap_api_key", "is too short; use at least 16 random characters".into()));
        }
        self.auth.jwt.validate()?;
        if !(1..=60).contains(&self.quality.reopen_working_days) {
            return Err(invalid("quality.reopen_working_days", "must be between 1 and 60".into()));
        }
        if !(1.0..=5.0).contains(&self.quality.warning_below_score) {
            return Err(invalid("quality.warning_below_score", "must be between 1 and 5 (the rubric's scale)".into()));
        }
        for (key, value) in [
            ("tracking.client_requests_per_minute", self.tracking.client_requests_per_minute),
            ("tracking.code_failures_per_hour", self.tracking.code_failures_per_hour),
            ("tracking.code_failures_per_day", self.tracking.code_failures_per_day),
            ("tracking.client_failures_per_hour", self.tracking.client_failures_per_hour),
            ("open311.keyless_reads_per_minute", self.open311.keyless_reads_per_minute),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1".into()));
            }
        }
        if self
            .tracking
            .client_ip_header
            .as_deref()
            .is_some_and(|h| h.is_empty() || !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        {
            return Err(invalid("tracking.client_ip_header", "must be a header name such as X-Real-IP".into()));
        }
        if let Some(keys) = &self.privacy.reporter_keys {
            parse_reporter_keys(keys).map_err(|problem| invalid("privacy.reporter_keys", problem))?;
        }
        if let Some(key) = &self.privacy.search_key {
            parse_search_key(key).map_err(|problem| invalid("privacy.search_key", problem))?;
        }
        Ok(())
    }
}

/// How long a webhook sender may hold the deliveries it is attempting: on SQLite the lease
/// written with the claim (a restarted process frees its leases at once); on PostgreSQL the
/// deliveries are held by the row locks of a transaction open until their attempts are
/// recorded, freed at once if the sender dies, and the server ends that transaction if it sits
/// idle this long. The request timeout stays below it.
pub const WEBHOOK_LEASE_SECS: u64 = 120;

pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Pulls the offending key out of a `config` error message, which names it as "for key `x.y`".
fn key_of(error: &config::ConfigError) -> Option<String> {
    let text = error.to_string();
    if let Some(start) = text.find("for key `") {
        let rest = &text[start + 9..];
        return rest.find('`').map(|end| rest[..end].to_string());
    }
    if let Some(start) = text.find("unknown field `") {
        let rest = &text[start + 15..];
        return rest.find('`').map(|end| rest[..end].to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_stay_out_of_debug_prints() {
        let mut settings = Settings::default();
        settings.auth.bootstrap_api_key = Some("bootstrap-secret-123456".into());
        settings.privacy.reporter_keys = Some(format!("k1:{}", "ab".repeat(32)));
        settings.privacy.search_key = Some("cd".repeat(32));
        settings.auth.jwt.hs256_secret = Some("hs256-development-secret-0123456789".into());
        let printed = format!("{settings:?}");
        assert!(!printed.contains("bootstrap-secret") && !printed.contains("abab"), "{printed}");
        assert!(!printed.contains("cdcd"), "{printed}");
        assert!(!printed.contains("hs256-development"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_hold_without_any_source() {
        let s = Settings::load_from(None, Some(env(&[]))).unwrap();
        assert_eq!(s.http.addr, "127.0.0.1:8080");
        assert!(s.database.url.is_none());
        assert!(s.broker.url.is_none());
        assert_eq!(s.http.shutdown_delay(), 3);
        assert_eq!(s.open311.public_reads, PublicReads::Subset);
    }

    #[test]
    fn open311_public_reads_are_read_from_the_environment() {
        let s = Settings::load_from(None, Some(env(&[("NAZER__OPEN311__PUBLIC_READS", "off")]))).unwrap();
        assert_eq!(s.open311.public_reads, PublicReads::Off);
        let s = Settings::load_from(None, Some(env(&[("NAZER__OPEN311__PUBLIC_READS", "subset")]))).unwrap();
        assert_eq!(s.open311.public_reads, PublicReads::Subset);
    }

    #[test]
    fn a_short_grace_period_shortens_the_default_delay() {
        let s = Settings::load_from(None, Some(env(&[("NAZER__HTTP__SHUTDOWN_GRACE_SECS", "2")]))).unwrap();
        assert_eq!(s.http.shutdown_delay(), 1);
        let s = Settings::load_from(None, Some(env(&[("NAZER__HTTP__SHUTDOWN_GRACE_SECS", "1")]))).unwrap();
        assert_eq!(s.http.shutdown_delay(), 0);
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = Settings::load_from(
            None,
            Some(env(&[
                ("NAZER__HTTP__ADDR", "0.0.0.0:9000"),
                ("NAZER__DATABASE__URL", "postgres://u@h/db"),
                ("NAZER__BROKER__URL", "amqp://g:g@h:5672/%2f"),
                ("NAZER__BROKER__PREFETCH", "7"),
            ])),
        )
        .unwrap();
        assert_eq!(s.http.addr, "0.0.0.0:9000");
        assert_eq!(s.database.url.as_deref(), Some("postgres://u@h/db"));
        assert_eq!(s.broker.prefetch, 7);
    }

    #[test]
    fn file_sits_between_defaults_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nazer.toml");
        std::fs::write(&path, "[http]\naddr = \"127.0.0.1:7000\"\nworkers = 3\n").unwrap();
        let s = Settings::load_from(Some(&path), Some(env(&[("NAZER__HTTP__WORKERS", "5")]))).unwrap();
        assert_eq!(s.http.addr, "127.0.0.1:7000");
        assert_eq!(s.http.workers, 5);
    }

    #[test]
    fn webhook_networks_are_read_from_a_comma_separated_list() {
        let s = Settings::load_from(
            None,
            Some(env(&[("NAZER__WEBHOOKS__ALLOWED_NETWORKS", " 10.20.0.0/16, fd00:1::/64,192.168.7.9 ,10.1.2.3/8")])),
        )
        .unwrap();
        let listed: Vec<String> = s.webhooks.allowed_networks().unwrap().iter().map(|n| n.to_string()).collect();
        assert_eq!(listed, ["10.20.0.0/16", "fd00:1::/64", "192.168.7.9/32", "10.0.0.0/8"]);
        assert!(Settings::default().webhooks.allowed_networks().unwrap().is_empty());
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            ("NAZER__HTTP__ADDR", "not-an-address", "http.addr"),
            ("NAZER__BROKER__URL", "http://x", "broker.url"),
            ("NAZER__DATABASE__URL", "mysql://x", "database.url"),
            ("NAZER__BROKER__PREFETCH", "many", "prefetch"),
            ("NAZER__HTTP__ADRR", "127.0.0.1:1", "adrr"),
            ("NAZER__AUTH__BOOTSTRAP_API_KEY", "short", "auth.bootstrap_api_key"),
            ("NAZER__DEADLINES__DEFAULT_BUDGET", "P1M", "deadlines.default_budget"),
            ("NAZER__PRIVACY__REPORTER_KEYS", "k1:abcd", "privacy.reporter_keys"),
            ("NAZER__PRIVACY__SEARCH_KEY", "abcd", "privacy.search_key"),
            (
                "NAZER__PRIVACY__SEARCH_KEY",
                "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "privacy.search_key",
            ),
            ("NAZER__WEBHOOKS__TIMEOUT_MS", "600000", "webhooks.timeout_ms"),
            ("NAZER__BROKER__QUEUE_TYPE", "classic", "queue_type"),
            ("NAZER__TELEMETRY__OTLP_ENDPOINT", "otel-collector:4318", "telemetry.otlp_endpoint"),
            ("NAZER__TELEMETRY__OTLP_ENDPOINT", "http://otel-collector:4318/v1/traces", "telemetry.otlp_endpoint"),
            ("NAZER__TELEMETRY__SAMPLING_RATIO", "1.5", "telemetry.sampling_ratio"),
            ("NAZER__TELEMETRY__EXPORT_TIMEOUT_MS", "0", "telemetry.export_timeout_ms"),
            ("NAZER__HTTP__SHUTDOWN_DELAY_SECS", "25", "http.shutdown_delay_secs"),
            ("NAZER__BROKER__HEARTBEAT_SECS", "0", "broker.heartbeat_secs"),
            ("NAZER__HTTP__BODY_READ_TIMEOUT_SECS", "0", "http.body_read_timeout_secs"),
            ("NAZER__OPEN311__PUBLIC_READS", "all", "open311.public_reads"),
            ("NAZER__OPEN311__KEYLESS_READS_PER_MINUTE", "0", "open311.keyless_reads_per_minute"),
            ("NAZER__TRACKING__CODE_FAILURES_PER_DAY", "0", "tracking.code_failures_per_day"),
            ("NAZER__WEBHOOKS__ALLOWED_NETWORKS", "10.0.0.0/8,intranet", "webhooks.allowed_networks"),
            ("NAZER__WEBHOOKS__ALLOWED_NETWORKS", "10.0.0.0/33", "webhooks.allowed_networks"),
        ];
        for (var, value, key) in cases {
            let err = Settings::load_from(None, Some(env(&[(var, value)]))).unwrap_err();
            assert!(err.to_string().contains(key), "{var}={value}: {err}");
        }
    }

    fn jwt_env(extra: &[(&'static str, &'static str)]) -> HashMap<String, String> {
        let mut pairs =
            vec![("NAZER__AUTH__JWT__ISSUER", "https://sso.example"), ("NAZER__AUTH__JWT__AUDIENCE", "nazer")];
        pairs.extend_from_slice(extra);
        env(&pairs)
    }

    #[test]
    fn hs256_needs_its_explicit_development_switch() {
        const SECRET: (&str, &str) = ("NAZER__AUTH__JWT__HS256_SECRET", "local-development-secret-0123456789abcdef");
        let err = Settings::load_from(None, Some(jwt_env(&[SECRET]))).unwrap_err().to_string();
        assert!(err.contains("auth.jwt.hs256_secret") && err.contains("allow_hs256_development"), "{err}");
        let on = ("NAZER__AUTH__JWT__ALLOW_HS256_DEVELOPMENT", "true");
        let settings = Settings::load_from(None, Some(jwt_env(&[SECRET, on]))).unwrap();
        assert!(settings.auth.jwt.allow_hs256_development);
    }

    #[test]
    fn token_lifetimes_and_the_refetch_throttle_are_bounded() {
        let cases = [
            (("NAZER__AUTH__JWT__MAX_LIFETIME_SECS", "0"), "auth.jwt.max_lifetime_secs"),
            (("NAZER__AUTH__JWT__MAX_LIFETIME_SECS", "31536000"), "auth.jwt.max_lifetime_secs"),
            (("NAZER__AUTH__JWT__JWKS_MIN_REFETCH_SECS", "0"), "auth.jwt.jwks_min_refetch_secs"),
        ];
        let url = ("NAZER__AUTH__JWT__JWKS_URL", "https://sso.example/certs");
        for (pair, key) in cases {
            let err = Settings::load_from(None, Some(jwt_env(&[url, pair]))).unwrap_err().to_string();
            assert!(err.contains(key), "{pair:?}: {err}");
        }
        let settings = Settings::load_from(None, Some(jwt_env(&[url]))).unwrap();
        assert_eq!((settings.auth.jwt.max_lifetime_secs, settings.auth.jwt.jwks_min_refetch_secs), (86_400, 10));
    }
}
