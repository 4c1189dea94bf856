//! Values sealed at rest (reporters' identities, webhook signing secrets) under the keys of
//! `privacy.reporter_keys`. Each value is encrypted on its own with XChaCha20-Poly1305 under the
//! active key, bound to its owner (a message, a subscription) and field (so a value copied to
//! another row or column does not open), and stored as `v1:<key id>:<hex nonce+ciphertext>`.
//! Older keys still open what they sealed; each owner's reseal job moves what it holds to the
//! active key, with [`SealingKeys::reseal`] for each value. Apart from them, [`SearchKey`]
//! (`privacy.search_key`) keys the blind index that finds a reporter's messages.

use std::path::Path;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use diesel::sql_types::{Integer, Nullable, Text};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::config::{Settings, parse_reporter_keys};

const VERSION: &str = "v1";
const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("privacy.reporter_keys: {0}")]
    Keys(String),
    #[error("a value was sealed with key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("a sealed value does not open: wrong key, or it was altered or moved")]
    Tampered,
    #[error("a value could not be sealed")]
    Seal,
}

const DECOY: &str = "decoy";

/// The configured keys: the first seals, all open.
#[derive(Clone)]
pub struct SealingKeys {
    keys: Vec<(String, XChaCha20Poly1305)>,
    /// Derived from the active key: names things (a client's address) without revealing them.
    pseudonym_key: [u8; 32],
    /// A value sealed once, opened where there is nothing to open, so the work done does not
    /// tell whether there was.
    decoy: String,
}

impl std::fmt::Debug for SealingKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|(id, _)| id.as_str()).collect();
        f.debug_struct("SealingKeys").field("ids", &ids).finish_non_exhaustive()
    }
}

/// Where the embedded default keeps the key it generated: beside its database file.
pub const EMBEDDED_KEY_FILE: &str = "reporter-keys";

impl SealingKeys {
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
        // A fresh id with every generated key: should the file be lost, values sealed under the
        // old key are reported as unopenable, never mistaken for the new key's.
        let generate = || {
            let (mut id, mut key) = ([0u8; 4], [0u8; 32]);
            rand::rng().fill_bytes(&mut id);
            rand::rng().fill_bytes(&mut key);
            format!("embedded-{}:{}", hex::encode(id), hex::encode(key))
        };
        let text =
            embedded_key(settings, EMBEDDED_KEY_FILE, "NAZER__PRIVACY__REPORTER_KEYS=<id>:<64 hex digits>", generate)
                .map_err(SealError::Keys)?;
        Self::parse(&text)
    }

    fn active(&self) -> &(String, XChaCha20Poly1305) {
        &self.keys[0]
    }

    /// How every value sealed under the active key begins: a reseal job compares it exactly
    /// (see [`substr`]) to read only what needs resealing.
    pub fn current_prefix(&self) -> String {
        format!("{VERSION}:{}:", self.active().0)
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

    /// `plaintext` sealed for `field` of `owner` (a reporter's message id, a subscription id).
    pub fn seal(&self, owner: &str, field: &str, plaintext: &str) -> Result<String, SealError> {
        let (id, cipher) = self.active();
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = format!("{owner}/{field}");
        let payload = Payload { msg: plaintext.as_bytes(), aad: aad.as_bytes() };
        let sealed = cipher.encrypt(XNonce::from_slice(&nonce), payload).map_err(|_| SealError::Seal)?;
        Ok(format!("{VERSION}:{id}:{}{}", hex::encode(nonce), hex::encode(sealed)))
    }

    pub fn open(&self, owner: &str, field: &str, stored: &str) -> Result<String, SealError> {
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
        let aad = format!("{owner}/{field}");
        let opened = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| SealError::Tampered)?;
        String::from_utf8(opened).map_err(|_| SealError::Tampered)
    }

    /// Whether `stored` is sealed under the active key already.
    pub fn is_current(&self, stored: &str) -> bool {
        stored.starts_with(&self.current_prefix())
    }

    /// `stored` sealed under the active key: as it is when it already is, opened and sealed
    /// again when an older key sealed it, sealed when it is still plaintext (a row from before
    /// sealing). Fails when no configured key opens it.
    pub fn reseal(&self, owner: &str, field: &str, stored: &str) -> Result<String, SealError> {
        if self.is_current(stored) {
            Ok(stored.to_string())
        } else if Self::is_sealed(stored) {
            self.seal(owner, field, &self.open(owner, field, stored)?)
        } else {
            self.seal(owner, field, stored)
        }
    }

    /// Whether `stored` has the sealed form (a value typed as `v1:…` before sealing existed
    /// does not: it lacks the key id or the hex body of a nonce and a tag).
    pub fn is_sealed(stored: &str) -> bool {
        let mut parts = stored.splitn(3, ':');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return false;
        };
        let id_ok = !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        id_ok && body.len() >= 2 * (NONCE_LEN + 16) && body.bytes().all(|b| b.is_ascii_hexdigit())
    }
}

/// The text of a key the embedded default (a SQLite file) keeps in `file_name` beside its
/// database, generated (by `generate`) the first time; a PostgreSQL deployment is refused with
/// `setting`, the variable that configures it.
fn embedded_key(
    settings: &Settings,
    file_name: &str,
    setting: &str,
    generate: impl FnOnce() -> String,
) -> Result<String, String> {
    let url = settings.database.url.clone().unwrap_or_else(|| crate::db::EMBEDDED_DATABASE_PATH.into());
    if url.contains("://") && !url.starts_with("sqlite://") {
        return Err(format!("required with PostgreSQL: set {setting}"));
    }
    let database = Path::new(url.trim_start_matches("sqlite://"));
    let file = database.parent().unwrap_or(Path::new(".")).join(file_name);
    if let Ok(text) = std::fs::read_to_string(&file) {
        return Ok(text.trim().to_string());
    }
    let text = generate();
    match write_private(&file, &text) {
        Ok(()) => Ok(text),
        // Another process of this installation made it first: use theirs.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::read_to_string(&file).map(|t| t.trim().to_string()).map_err(|e| format!("{}: {e}", file.display()))
        }
        Err(error) => Err(format!("cannot keep a key in {}: {error}", file.display())),
    }
}

/// Where the embedded default keeps the search key it generated: beside its database file.
pub const EMBEDDED_SEARCH_KEY_FILE: &str = "search-key";

#[derive(Debug, thiserror::Error)]
#[error("privacy.search_key: {0}")]
pub struct SearchKeyError(String);

/// The key of `privacy.search_key`: a blind index of identities (HMAC-SHA256 of a normalised
/// value), so a message is found by its reporter's mobile or national ID while the identity
/// itself stays sealed. Apart from the sealing keys: it opens nothing.
#[derive(Clone)]
pub struct SearchKey {
    key: [u8; 32],
}

impl std::fmt::Debug for SearchKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchKey").finish_non_exhaustive()
    }
}

impl SearchKey {
    pub fn parse(text: &str) -> Result<Self, SearchKeyError> {
        crate::config::parse_search_key(text).map(|key| Self { key }).map_err(SearchKeyError)
    }

    /// The configured key; without one, the embedded default (a SQLite file) generates one and
    /// keeps it beside the database (in its own file), while a PostgreSQL deployment is refused.
    pub fn from_settings(settings: &Settings) -> Result<Self, SearchKeyError> {
        if let Some(text) = &settings.privacy.search_key {
            return Self::parse(text);
        }
        let generate = || {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            hex::encode(key)
        };
        let text =
            embedded_key(settings, EMBEDDED_SEARCH_KEY_FILE, "NAZER__PRIVACY__SEARCH_KEY=<64 hex digits>", generate)
                .map_err(SearchKeyError)?;
        Self::parse(&text)
    }

    /// The blind index of `value` (already normalised) in `field`: 64 hex digits of
    /// HMAC-SHA256, keyed, with the field name bound in so equal values of two fields differ.
    pub fn blind_index(&self, field: &str, value: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!());
        mac.update(b"nazer/blind-index/");
        mac.update(field.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
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

/// What a reseal did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    pub rewritten: usize,
    /// Rows with a value no configured key opens (a key dropped too early, or a lost key
    /// file): left as they are, by their owner's id.
    pub unreadable: Vec<String>,
}

diesel::define_sql_function! {
    /// `length` characters of `text` from `start` (1-based); the same on SQLite and PostgreSQL.
    fn substr(text: Nullable<Text>, start: Integer, length: Integer) -> Nullable<Text>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const K2: &str = "k2:1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";
    #[test]
    fn a_sealed_field_opens_only_where_it_was_sealed() {
        let keys = SealingKeys::parse(K1).unwrap();
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
        let old = SealingKeys::parse(K1).unwrap();
        let sealed = old.seal("m-1", "full_name", "رضا").unwrap();
        let rotated = SealingKeys::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(rotated.open("m-1", "full_name", &sealed).unwrap(), "رضا");
        assert!(rotated.seal("m-1", "full_name", "رضا").unwrap().starts_with("v1:k2:"));
        assert!(!rotated.is_current(&sealed));
        let only_new = SealingKeys::parse(K2).unwrap();
        assert!(matches!(only_new.open("m-1", "full_name", &sealed), Err(SealError::UnknownKey(id)) if id == "k1"));
    }

    #[test]
    fn bad_key_settings_are_named() {
        assert!(SealingKeys::parse("k1:abcd").is_err());
        assert!(SealingKeys::parse(&format!("{K1},{K1}")).is_err());
        let mut settings = Settings::default();
        settings.database.url = Some("postgres://x@h/db".into());
        let error = SealingKeys::from_settings(&settings).unwrap_err().to_string();
        assert!(error.contains("NAZER__PRIVACY__REPORTER_KEYS"), "{error}");
        // A key written where its id belongs is not echoed back.
        let swapped = format!("{}:k1", "ab".repeat(32));
        let error = SealingKeys::parse(&swapped).unwrap_err().to_string();
        assert!(!error.contains("abab"), "{error}");
    }

    #[test]
    fn the_embedded_default_keeps_one_generated_key_beside_its_database() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.database.url = Some(dir.path().join("nazer.db").display().to_string());
        let first = SealingKeys::from_settings(&settings).unwrap();
        let sealed = first.seal("m-1", "email", "a@b.ir").unwrap();
        let again = SealingKeys::from_settings(&settings).unwrap();
        assert_eq!(again.open("m-1", "email", &sealed).unwrap(), "a@b.ir", "the same key after a restart");
        assert!(dir.path().join(EMBEDDED_KEY_FILE).exists());
    }

    #[test]
    fn resealing_moves_a_value_to_the_active_key_and_seals_plaintext() {
        let old = SealingKeys::parse(K1).unwrap();
        let rotated = SealingKeys::parse(&format!("{K2},{K1}")).unwrap();
        let sealed = old.seal("s-1", "secret", "hush").unwrap();
        let moved = rotated.reseal("s-1", "secret", &sealed).unwrap();
        assert!(moved.starts_with("v1:k2:") && rotated.is_current(&moved), "{moved}");
        assert_eq!(rotated.open("s-1", "secret", &moved).unwrap(), "hush");
        assert_eq!(rotated.reseal("s-1", "secret", &moved).unwrap(), moved, "already current: unchanged");
        let plain = rotated.reseal("s-1", "secret", "v1:looks-sealed").unwrap();
        assert_eq!(rotated.open("s-1", "secret", &plain).unwrap(), "v1:looks-sealed");
        let only_new = SealingKeys::parse(K2).unwrap();
        assert!(only_new.reseal("s-1", "secret", &sealed).is_err(), "no configured key opens it");
    }

    #[test]
    fn the_blind_index_is_keyed_and_bound_to_its_field() {
        let key = SearchKey::parse(&"01".repeat(32)).unwrap();
        let other = SearchKey::parse(&"02".repeat(32)).unwrap();
        let index = key.blind_index("mobile", "09121234567");
        assert_eq!(index.len(), 64);
        assert_eq!(index, key.blind_index("mobile", "09121234567"), "stable");
        assert_ne!(index, other.blind_index("mobile", "09121234567"), "keyed");
        assert_ne!(index, key.blind_index("national_id", "09121234567"), "bound to its field");
        assert!(!format!("{key:?}").contains("0101"));
        assert!(SearchKey::parse("abcd").is_err());
        let mut settings = Settings::default();
        settings.database.url = Some("postgres://x@h/db".into());
        let error = SearchKey::from_settings(&settings).unwrap_err().to_string();
        assert!(error.contains("NAZER__PRIVACY__SEARCH_KEY"), "{error}");
    }

    #[test]
    fn the_embedded_default_keeps_its_search_key_in_its_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.database.url = Some(dir.path().join("nazer.db").display().to_string());
        let first = SearchKey::from_settings(&settings).unwrap().blind_index("mobile", "09121234567");
        let again = SearchKey::from_settings(&settings).unwrap().blind_index("mobile", "09121234567");
        assert_eq!(first, again, "the same key after a restart");
        assert!(dir.path().join(EMBEDDED_SEARCH_KEY_FILE).exists());
        assert!(!dir.path().join(EMBEDDED_KEY_FILE).exists(), "apart from the reporter keys");
    }
}
