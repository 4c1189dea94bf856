//! API keys for machine clients (the call centre, agency systems, Open311 apps): only a
//! SHA-256 of the secret is stored (keys are long random strings, so a slow hash adds nothing),
//! they carry scopes and optionally an agency (or a counterpart unit), and they can be revoked.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rand::Rng;
use sha2::{Digest, Sha256};

use super::problem::ApiError;
use crate::db::{Db, DbConnection, DbError, to_db_time, write_transaction};
use crate::schema::api_keys;

/// What a caller may do: the scopes of an API key, or the roles of a signed-in person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Post and look up messages, read categories (the 1888 call centre, web forms).
    CallCenter,
    /// Read and act on the messages of the caller's agency and its sub-agencies.
    Agency,
    /// 1888's supervisors (the municipality's inspection organization): read everything, triage,
    /// review quality.
    Supervisor,
    /// The special follow-up unit, where level-3 warnings go: reads like a supervisor.
    SpecialFollowUp,
    /// Manage agencies, rules, budgets, subscriptions and keys; read everything.
    Admin,
    /// Open311 GeoReport v2 clients: post and read service requests under `/open311/v2`.
    Open311,
    /// A counterpart unit (معاونت نظیر) of the inspection organization: examines the culpability
    /// of those responsible in the violation cases referred to it; bound to one unit.
    CounterpartUnit,
    /// The compliance committee (کمیته تطبیق): decides on the culpability referrals.
    ComplianceCommittee,
}

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::CallCenter,
        Scope::Agency,
        Scope::Supervisor,
        Scope::SpecialFollowUp,
        Scope::Admin,
        Scope::Open311,
        Scope::CounterpartUnit,
        Scope::ComplianceCommittee,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CallCenter => "call_center",
            Scope::Agency => "agency",
            Scope::Supervisor => "supervisor",
            Scope::SpecialFollowUp => "special_follow_up",
            Scope::Admin => "admin",
            Scope::Open311 => "open311",
            Scope::CounterpartUnit => "counterpart_unit",
            Scope::ComplianceCommittee => "compliance_committee",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn names() -> String {
        Scope::ALL.map(|s| s.as_str()).join(", ")
    }
}

/// The authenticated client of a request: an API key or a person signed in by JWT.
#[derive(Clone)]
pub struct Caller {
    /// The key's id, or `user:` and a digest of the token's issuer and subject (never the
    /// subject itself, which may be a national ID).
    pub key_id: String,
    pub scopes: Vec<Scope>,
    pub agency_id: Option<String>,
    /// The counterpart unit a `counterpart_unit` caller is bound to.
    pub unit_id: Option<String>,
    /// Who the caller is, for the record of what it did: the key's name, or the token's `name`
    /// claim. Personal data for a person: stored and shown to staff, never logged.
    pub name: Option<String>,
}

/// Without the name: a person's name must never reach a log, and `?caller` would put it there.
impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("key_id", &self.key_id)
            .field("scopes", &self.scopes)
            .field("agency_id", &self.agency_id)
            .field("unit_id", &self.unit_id)
            .field("name", &self.name.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Caller {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Passes when the caller holds any of `scopes`.
    pub fn require_any(&self, scopes: &[Scope]) -> Result<(), ApiError> {
        if scopes.iter().any(|s| self.has(*s)) {
            return Ok(());
        }
        let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        Err(ApiError::Forbidden(format!(
            "this caller lacks the scope or role for this action; it needs one of: {}",
            names.join(", ")
        )))
    }

    /// Roles that read every agency's messages and warnings.
    pub fn oversees_all(&self) -> bool {
        [Scope::CallCenter, Scope::Supervisor, Scope::SpecialFollowUp, Scope::Admin].iter().any(|s| self.has(*s))
    }

    /// Whose objects the caller sees.
    pub fn viewer(&self) -> crate::agency::Viewer {
        use crate::agency::Viewer;
        if self.oversees_all() {
            return Viewer::All;
        }
        match &self.agency_id {
            Some(agency) if self.has(Scope::Agency) => Viewer::Agency(agency.clone()),
            _ => Viewer::Nobody,
        }
    }

    /// The caller's agency, required of agency callers.
    pub fn own_agency(&self) -> Result<String, ApiError> {
        self.require_any(&[Scope::Agency])?;
        self.agency_id.clone().ok_or_else(|| ApiError::Forbidden("this caller is not bound to an agency".into()))
    }

    /// Whether `scopes` mix an agency with the inspection organization's culpability roles,
    /// which an agency must never hold (it would read the culpability track of its own cases).
    pub fn mixes_agency_with_culpability(scopes: &[Scope]) -> bool {
        scopes.contains(&Scope::Agency)
            && (scopes.contains(&Scope::CounterpartUnit) || scopes.contains(&Scope::ComplianceCommittee))
    }

    /// The caller's counterpart unit, required of counterpart-unit callers.
    pub fn own_unit(&self) -> Result<String, ApiError> {
        self.require_any(&[Scope::CounterpartUnit])?;
        self.unit_id.clone().ok_or_else(|| ApiError::Forbidden("this caller is not bound to a counterpart unit".into()))
    }
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A fresh key: `nzr_` and 40 random alphanumerics.
pub fn generate_secret() -> String {
    let random: String = rand::rng().sample_iter(rand::distr::Alphanumeric).take(40).map(char::from).collect();
    format!("nzr_{random}")
}

pub const BOOTSTRAP_KEY_ID: &str = "bootstrap";

/// What a key is bound to: an agency (agency keys), a counterpart unit (counterpart-unit keys),
/// or nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyBinding<'a> {
    pub agency_id: Option<&'a str>,
    pub unit_id: Option<&'a str>,
}

impl<'a> KeyBinding<'a> {
    /// Bound to `agency_id`, if any.
    pub fn agency(agency_id: Option<&'a str>) -> Self {
        Self { agency_id, unit_id: None }
    }
}

/// Stores (or rotates) the configured bootstrap key: call-centre and admin scopes, so a first
/// installation can create its agencies, rules and other keys.
pub fn ensure_key(
    conn: &mut DbConnection,
    id: &str,
    name: &str,
    secret: &str,
    scopes: &[Scope],
    bound: KeyBinding,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let hash = hash_secret(secret);
    let scope_text = scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
    let result = write_transaction(conn, |conn| {
        let existing: Option<StoredSecret> =
            api_keys::table.find(id).select(StoredSecret::as_select()).first(conn).optional()?;
        match existing {
            // A revoked key stays revoked while its secret is unchanged: revoking it must not be
            // undone by the next restart. A new secret is a rotation and is active.
            Some(StoredSecret { secret_hash, revoked_at: Some(_) }) if secret_hash == hash => {
                tracing::warn!(key_id = id, "the configured key was revoked and stays revoked; configure a new secret");
            }
            Some(_) => {
                diesel::update(api_keys::table.find(id))
                    .set((
                        api_keys::secret_hash.eq(&hash),
                        api_keys::scopes.eq(&scope_text),
                        api_keys::agency_id.eq(bound.agency_id),
                        api_keys::unit_id.eq(bound.unit_id),
                        api_keys::revoked_at.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(conn)?;
            }
            None => {
                diesel::insert_into(api_keys::table)
                    .values((
                        api_keys::id.eq(id),
                        api_keys::name.eq(name),
                        api_keys::secret_hash.eq(&hash),
                        api_keys::scopes.eq(&scope_text),
                        api_keys::agency_id.eq(bound.agency_id),
                        api_keys::unit_id.eq(bound.unit_id),
                        api_keys::created_at.eq(to_db_time(now)),
                    ))
                    .execute(conn)?;
            }
        }
        Ok::<_, DbError>(())
    });
    match result {
        // Another replica stored the same key at the same moment.
        Err(error) if error.is_unique_violation() => Ok(()),
        other => other,
    }
}

/// Looks up an active key by its secret.
pub fn find_caller(conn: &mut DbConnection, secret: &str) -> Result<Option<Caller>, DbError> {
    let row: Option<ActiveKey> = api_keys::table
        .filter(api_keys::secret_hash.eq(hash_secret(secret)))
        .filter(api_keys::revoked_at.is_null())
        .select(ActiveKey::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(|key| Caller {
        key_id: key.id,
        scopes: key.scopes.split_whitespace().filter_map(Scope::parse).collect(),
        agency_id: key.agency_id,
        unit_id: key.unit_id,
        name: Some(key.name),
    }))
}

/// A configured key's stored secret and whether it was revoked.
#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct StoredSecret {
    secret_hash: String,
    revoked_at: Option<chrono::NaiveDateTime>,
}

/// What a request's caller is, read off its active key.
#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct ActiveKey {
    id: String,
    name: String,
    scopes: String,
    agency_id: Option<String>,
    unit_id: Option<String>,
}

/// What the `Caller` extractor needs; registered once per HTTP app.
#[derive(Clone)]
pub struct AuthStore {
    pub db: Db,
    /// Present when JWT sign-in is configured.
    pub jwt: Option<std::sync::Arc<super::jwt::JwtVerifier>>,
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let store = req.app_data::<web::Data<AuthStore>>().cloned();
        let secret = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(|v| v.trim().to_string());
        Box::pin(async move {
            let Some(store) = store else {
                return Err(ApiError::Internal("authentication is not configured for this app".into()));
            };
            let Some(secret) = secret.filter(|s| !s.is_empty()) else {
                return Err(ApiError::Unauthorized(
                    "send an API key or a sign-in token as `Authorization: Bearer <credential>`".into(),
                ));
            };
            if super::jwt::looks_like_jwt(&secret) {
                let Some(verifier) = store.jwt.clone() else {
                    return Err(ApiError::Unauthorized("sign-in tokens are not accepted here; use an API key".into()));
                };
                return verifier.caller(&secret).await;
            }
            let caller = store.db.run(move |conn| find_caller(conn, &secret)).await?;
            caller.ok_or_else(|| ApiError::Unauthorized("the API key is unknown or revoked".into()))
        })
    }
}

/// A key as listed: never its secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub agency_id: Option<String>,
    pub unit_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates a key and returns its id and the secret, which is shown this once only.
pub fn create_key(
    conn: &mut DbConnection,
    name: &str,
    scopes: &[Scope],
    bound: KeyBinding,
    now: DateTime<Utc>,
) -> Result<(String, String), DbError> {
    let id = format!("key_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let secret = generate_secret();
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(&id),
            api_keys::name.eq(name),
            api_keys::secret_hash.eq(hash_secret(&secret)),
            api_keys::scopes.eq(scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")),
            api_keys::agency_id.eq(bound.agency_id),
            api_keys::unit_id.eq(bound.unit_id),
            api_keys::created_at.eq(to_db_time(now)),
        ))
        .execute(conn)?;
    Ok((id, secret))
}

/// An API key as stored, without its secret's hash.
#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys)]
struct KeyRow {
    id: String,
    name: String,
    /// Space-separated scope names.
    scopes: String,
    agency_id: Option<String>,
    unit_id: Option<String>,
    created_at: chrono::NaiveDateTime,
    revoked_at: Option<chrono::NaiveDateTime>,
}

pub fn list_keys(conn: &mut DbConnection) -> Result<Vec<ApiKeyInfo>, DbError> {
    let rows: Vec<KeyRow> = api_keys::table.order(api_keys::created_at).select(KeyRow::as_select()).load(conn)?;
    Ok(rows
        .into_iter()
        .map(|row| ApiKeyInfo {
            id: row.id,
            name: row.name,
            scopes: row.scopes.split_whitespace().map(str::to_string).collect(),
            agency_id: row.agency_id,
            unit_id: row.unit_id,
            created_at: row.created_at.and_utc(),
            revoked_at: row.revoked_at.map(|r| r.and_utc()),
        })
        .collect())
}

/// Revokes a key; false when there is no such active key.
pub fn revoke_key(conn: &mut DbConnection, id: &str, now: DateTime<Utc>) -> Result<bool, DbError> {
    let changed = diesel::update(api_keys::table.find(id).filter(api_keys::revoked_at.is_null()))
        .set(api_keys::revoked_at.eq(Some(to_db_time(now))))
        .execute(conn)?;
    Ok(changed > 0)
}
