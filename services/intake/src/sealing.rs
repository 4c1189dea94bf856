//! Reporters' identities sealed at rest. Each field is encrypted on its own with
//! XChaCha20-Poly1305 under the active key, bound to its message and field (so a value copied
//! to another row or column does not open), and stored as `v1:<key id>:<hex nonce+ciphertext>`.
//! Older keys still open what they sealed; resealing moves everything to the active key.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text};
use nazer_shared::config::{Settings, parse_reporter_keys};
use nazer_shared::db::{DbConnection, DbError, write_transaction};
use nazer_shared::select_for_update;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::schema::reporters;

const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("privacy.reporter_keys: {0}")]
    Keys(String),
    #[error("a reporter field was sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("a reporter field does not open: wrong key, or it was altered or moved")]
    Tampered,
    #[error("a reporter field could not be sealed")]
    Seal,
}

const DECOY: &str = "decoy";

/// The configured keys: the first seals, all open.
#[derive(Clone)]
pub struct ReporterKeys {
    keys: Vec<(String, XChaCha20Poly1305)>,
    /// Derived from the active key: names things (a client's address) without revealing them.
    pseudonym_key: [u8; 32],
    /// A value sealed once, opened where there is nothing to open, so the work done does not
    /// tell whether there was.
    decoy: String,
}

impl std::fmt::Debug for ReporterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("ReporterKeys").field("ids", &ids).finish_non_exhaustive()
    }
}

/// Where the embedded default keeps the key it generated: beside its database file.
pub const EMBEDDED_KEY_FILE: &str = "reporter-keys";

impl ReporterKeys {
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let keys = parse_reporter_keys(text).map_err(SealError::Keys)?;
        if keys.is_empty() {
            return Err(SealError::Keys("no key".into()));
        }
        let pseudonym_key: [u8; 32] =
            Sha256::new().chain_update(b"nazer/pseudonym/").chain_update(keys[0].1).finalize().into();
        let keys = keys.into_iter().map(|(id, key)| (id, XChaCha20Poly1305::new(Key::from_slice(&key)))).collect();
        let mut keys = Self { keys, pseudonym_key, decoy: String::new() };
        keys.decoy = keys.seal("", DECOY, "")?;
        Ok(keys)
    }

    /// The configured keys; without any, the embedded default (a SQLite file) generates one and
    /// keeps it beside the database, while a PostgreSQL deployment is refused.
    pub fn from_settings(settings: &Settings) -> Result<Self, SealError> {
        if let Some(text) = &settings.privacy.reporter_keys {
            return Self::parse(text);
        }
        let url = settings.database.url.clone().unwrap_or_else(|| nazer_shared::db::EMBEDDED_DATABASE_PATH.into());
        if url.contains("://") && !url.starts_with("sqlite://") {
            return Err(SealError::Keys(
                "required with PostgreSQL: set NAZER__PRIVACY__REPORTER_KEYS=<id>:<64 hex digits>".into(),
            ));
        }
        let database = Path::new(url.trim_start_matches("sqlite://"));
        let file = database.parent().unwrap_or(Path::new(".")).join(EMBEDDED_KEY_FILE);
        if let Ok(text) = std::fs::read_to_string(&file) {
            return Self::parse(text.trim());
        }
        // A fresh id with every generated key: should the file be lost, values sealed under the
        // old key are reported as unopenable, never mistaken for the new key's.
        let (mut id, mut key) = ([0u8; 4], [0u8; 32]);
        rand::rng().fill_bytes(&mut id);
        rand::rng().fill_bytes(&mut key);
        let text = format!("embedded-{}:{}", hex::encode(id), hex::encode(key));
        match write_private(&file, &text) {
            Ok(()) => Self::parse(&text),
            // Another process of this installation made it first: use theirs.
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let text =
                    std::fs::read_to_string(&file).map_err(|e| SealError::Keys(format!("{}: {e}", file.display())))?;
                Self::parse(text.trim())
            }
            Err(error) => Err(SealError::Keys(format!("cannot keep a key in {}: {error}", file.display()))),
        }
    }

    fn active(&self) -> &(String, XChaCha20Poly1305) {
        &self.keys[0]
    }

    /// A stable, keyed name for `text` (32 hex digits of SHA-256 over a secret key and the
    /// text): the same on every replica, and not reversed by trying every possible `text`
    /// without the key.
    pub fn pseudonym(&self, text: &str) -> String {
        let digest = Sha256::new().chain_update(self.pseudonym_key).chain_update(text.as_bytes()).finalize();
        hex::encode(&digest[..16])
    }

    /// Opens the decoy: the work of opening a field, where there is none.
    pub fn open_decoy(&self) {
        let _ = self.open("", DECOY, &self.decoy);
    }

    /// `plaintext` sealed for `field` of the reporter of `message_id`.
    pub fn seal(&self, message_id: &str, field: &str, plaintext: &str) -> Result<String, SealError> {
        let (id, cipher) = self.active();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = format!("{message_id}/{field}");
        let payload = Payload { msg: plaintext.as_bytes(), aad: aad.as_bytes() };
        let sealed = cipher.encrypt(XNonce::from_slice(&nonce), payload).map_err(|_| SealError::Seal)?;
        Ok(format!("{VERSION}:{id}:{}{}", hex::encode(nonce), hex::encode(sealed)))
    }

    pub fn open(&self, message_id: &str, field: &str, stored: &str) -> Result<String, SealError> {
        let mut parts = stored.splitn(3, ':');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SealError::Tampered);
        };
        let (_, cipher) =
            self.keys.iter().find(|(known, _)| known == id).ok_or_else(|| SealError::UnknownKey(id.into()))?;
        let bytes = hex::decode(body).map_err(|_| SealError::Tampered)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Tampered);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let aad = format!("{message_id}/{field}");
        let opened = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| SealError::Tampered)?;
        String::from_utf8(opened).map_err(|_| SealError::Tampered)
    }

    /// Whether `stored` is sealed under the active key already.
    fn is_current(&self, stored: &str) -> bool {
        stored.strip_prefix(&format!("{VERSION}:{}:", self.active().0)).is_some()
    }

    /// Whether `stored` has the sealed form (a value typed as `v1:…` before sealing existed
    /// does not: it lacks the key id or the hex body of a nonce and a tag).
    fn is_sealed(stored: &str) -> bool {
        let mut parts = stored.splitn(3, ':');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        id_ok && body.len() >= 2 * (NONCE_LEN + 16) && body.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

/// Writes `text` to a new `file` readable by its owner only, all at once: written and synced
/// under a temporary name, then linked into place (`AlreadyExists` if another process won).
#[cfg(unix)]
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = file.with_extension(format!("tmp-{}", std::process::id()));
    let mut out = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temporary)?;
    out.write_all(text.as_bytes())?;
    out.sync_all()?;
    let linked = std::fs::hard_link(&temporary, file);
    let _ = std::fs::remove_file(&temporary);
    linked
}

#[cfg(not(unix))]
fn write_private(file: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::fs::OpenOptions::new().write(true).create_new(true).open(file)?;
    out.write_all(text.as_bytes())
}

/// The reporter columns that hold identity.
const FIELDS: [&str; 5] = ["full_name", "national_id", "mobile", "email", "tracking_pin"];

/// A reporter's identity columns, as stored.
#[derive(Queryable, Selectable)]
#[diesel(table_name = reporters)]
struct ReporterRow {
    message_id: String,
    full_name: Option<String>,
    national_id: Option<String>,
    mobile: Option<String>,
    email: Option<String>,
    tracking_pin: Option<String>,
}

/// What a reseal did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    pub rewritten: usize,
    /// Rows with a value no configured key opens (a key dropped too early, or a lost key
    /// file): left as they are, by message id.
    pub unreadable: Vec<String>,
}

const RESEAL_BATCH: i64 = 500;

diesel::define_sql_function! {
    /// `length` characters of `text` from `start` (1-based); the same on SQLite and PostgreSQL.
    fn substr(text: Nullable<Text>, start: Integer, length: Integer) -> Nullable<Text>;
}

/// Seals what is still plaintext (rows from before sealing) and reseals what an older key
/// sealed, so a retired key can be dropped. Works in batches, each its own transaction, in
/// message-id order (so two reseals at once neither deadlock nor undo each other); only rows
/// that need it are read. Idempotent.
pub fn reseal_all(conn: &mut DbConnection, keys: &ReporterKeys) -> Result<Resealed, DbError> {
    // Compared exactly: LIKE would take `_` in a key id as a wildcard (and, on SQLite, ignore
    // case), so rows under `nazer-2` would pass as `nazer_2`'s and never be resealed.
    let current = format!("{VERSION}:{}:", keys.active().0);
    let n = current.len() as i32;
    let mut done = Resealed::default();
    let mut after = String::new();
    loop {
        let batch = write_transaction(conn, |conn| {
            let rows: Vec<ReporterRow> = select_for_update!(
                conn,
                reporters::table
                    .filter(reporters::message_id.gt(&after))
                    .filter(
                        substr(reporters::full_name, 1, n)
                            .ne(&current)
                            .or(substr(reporters::national_id, 1, n).ne(&current))
                            .or(substr(reporters::mobile, 1, n).ne(&current))
                            .or(substr(reporters::email, 1, n).ne(&current))
                            .or(substr(reporters::tracking_pin, 1, n).ne(&current)),
                    )
                    .order(reporters::message_id)
                    .limit(RESEAL_BATCH)
                    .select(ReporterRow::as_select())
            )?;
            let mut rewritten = 0;
            let mut unreadable = Vec::new();
            let last = rows.last().map(|row| row.message_id.clone());
            for ReporterRow { message_id, full_name, national_id, mobile, email, tracking_pin } in rows {
                match reseal_row(keys, &message_id, [full_name, national_id, mobile, email, tracking_pin]) {
                    Ok(values) => {
                        diesel::update(reporters::table.find(&message_id))
                            .set((
                                reporters::full_name.eq(&values[0]),
                                reporters::national_id.eq(&values[1]),
                                reporters::mobile.eq(&values[2]),
                                reporters::email.eq(&values[3]),
                                reporters::tracking_pin.eq(&values[4]),
                            ))
                            .execute(conn)?;
                        rewritten += 1;
                    }
                    Err(_) => unreadable.push(message_id),
                }
            }
            Ok::<_, DbError>((rewritten, unreadable, last))
        })?;
        let (rewritten, unreadable, last) = batch;
        done.rewritten += rewritten;
        done.unreadable.extend(unreadable);
        match last {
            Some(last) => after = last,
            None => return Ok(done),
        }
    }
}

/// A row's values, each sealed under the active key.
fn reseal_row(
    keys: &ReporterKeys,
    message_id: &str,
    values: [Option<String>; 5],
) -> Result<Vec<Option<String>>, SealError> {
    FIELDS
        .iter()
        .zip(values)
        .map(|(field, value)| match value {
            None => Ok(None),
            Some(v) if keys.is_current(&v) => Ok(Some(v)),
            Some(v) if ReporterKeys::is_sealed(&v) => {
                let plain = keys.open(message_id, field, &v)?;
                keys.seal(message_id, field, &plain).map(Some)
            }
            Some(plain) => keys.seal(message_id, field, &plain).map(Some),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "k2:1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

    #[test]
    fn a_sealed_field_opens_only_where_it_was_sealed() {
        let keys = ReporterKeys::parse(K1).unwrap();
        let sealed = keys.seal("m-1", "mobile", "09121234567").unwrap();
        assert!(sealed.starts_with("v1:k1:"), "{sealed}");
        assert!(!sealed.contains("09121234567"), "{sealed}");
        assert_ne!(sealed, keys.seal("m-1", "mobile", "09121234567").unwrap(), "a fresh nonce each time");
        assert_eq!(keys.open("m-1", "mobile", &sealed).unwrap(), "09121234567");
        assert!(matches!(keys.open("m-2", "mobile", &sealed), Err(SealError::Tampered)), "moved to another message");
        assert!(matches!(keys.open("m-1", "email", &sealed), Err(SealError::Tampered)), "moved to another field");
        // One hex digit of the ciphertext changed (always to a different digit).
        let mut altered = sealed.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == '0' { '1' } else { '0' });
        assert!(keys.open("m-1", "mobile", &altered).is_err());
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_seals_with_the_new_key() {
        let old = ReporterKeys::parse(K1).unwrap();
        let sealed = old.seal("m-1", "full_name", "رضا").unwrap();
        let rotated = ReporterKeys::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(rotated.open("m-1", "full_name", &sealed).unwrap(), "رضا");
        assert!(rotated.seal("m-1", "full_name", "رضا").unwrap().starts_with("v1:k2:"));
        assert!(!rotated.is_current(&sealed));
        let only_new = ReporterKeys::parse(K2).unwrap();
        assert!(matches!(only_new.open("m-1", "full_name", &sealed), Err(SealError::UnknownKey(id)) if id == "k1"));
    }

    #[test]
    fn a_plaintext_that_starts_like_a_sealed_value_is_still_plaintext() {
        let keys = ReporterKeys::parse(K1).unwrap();
        assert!(!ReporterKeys::is_sealed("v1:x@y.ir"));
        assert!(!ReporterKeys::is_sealed("v1:k1:not hex at all, and long enough to pass a length check ......"));
        assert!(ReporterKeys::is_sealed(&keys.seal("m-1", "email", "x@y.ir").unwrap()));
        let values = [None, None, None, Some("v1:x@y.ir".to_string()), None];
        let resealed = reseal_row(&keys, "m-1", values).unwrap();
        assert_eq!(keys.open("m-1", "email", resealed[3].as_deref().unwrap()).unwrap(), "v1:x@y.ir");
    }

    #[test]
    fn bad_key_settings_are_named() {
        assert!(ReporterKeys::parse("k1:abcd").is_err());
        assert!(ReporterKeys::parse(&format!("{K1},{K1}")).is_err());
        let mut settings = Settings::default();
        settings.database.url = Some("postgres://x@h/db".into());
        let error = ReporterKeys::from_settings(&settings).unwrap_err().to_string();
        assert!(error.contains("NAZER__PRIVACY__REPORTER_KEYS"), "{error}");
        // A key written where its id belongs is not echoed back.
        let swapped = format!("{}:k1", "ab".repeat(32));
        let error = ReporterKeys::parse(&swapped).unwrap_err().to_string();
        assert!(!error.contains("abab"), "{error}");
    }

    #[test]
    fn the_embedded_default_keeps_one_generated_key_beside_its_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.database.url = Some(dir.path().join("nazer.db").display().to_string());
        let first = ReporterKeys::from_settings(&settings).unwrap();
        let sealed = first.seal("m-1", "email", "a@b.ir").unwrap();
        let again = ReporterKeys::from_settings(&settings).unwrap();
        assert_eq!(again.open("m-1", "email", &sealed).unwrap(), "a@b.ir", "the same key after a restart");
        assert!(dir.path().join(EMBEDDED_KEY_FILE).exists());
    }
}
