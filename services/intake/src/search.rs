//! Finding a message again: by its reporter's mobile or national ID through a blind index
//! (HMAC-SHA256 under `privacy.search_key` of the normalised value, while the identity itself
//! stays sealed), and by the words of its subject and body in a column normalised for search.

use diesel::prelude::*;
use nazer_shared::db::{DbConnection, DbError, escape_like, write_transaction};
use nazer_shared::iran::{ascii_digits, normalize_for_search};
pub use nazer_shared::sealing::{EMBEDDED_SEARCH_KEY_FILE, SearchKey, SearchKeyError};

use crate::schema::{messages, reporters};
use crate::sealing::ReporterKeys;
use crate::submission::{is_valid_national_id, normalize_mobile};

/// The longest `q`, in characters, and how many words it may hold.
pub const MAX_QUERY_CHARS: usize = 200;
pub const MAX_QUERY_WORDS: usize = 10;

/// The fields of a reporter with a blind index.
pub const MOBILE: &str = "mobile";
pub const NATIONAL_ID: &str = "national_id";

/// What a message's `search_text` holds: its subject and body, normalised for search.
pub fn search_text(subject: Option<&str>, body: &str) -> String {
    match subject {
        Some(subject) => format!("{}\n{}", normalize_for_search(subject), normalize_for_search(body)),
        None => normalize_for_search(body),
    }
}

/// A mobile number as its index holds it (`09xxxxxxxxx`), from any written form.
pub fn mobile_key(text: &str) -> Option<String> {
    normalize_mobile(text)
}

/// A national ID as its index holds it: ten ASCII digits with a correct check digit (Persian
/// digits accepted).
pub fn national_id_key(text: &str) -> Option<String> {
    let id = ascii_digits(text.trim());
    is_valid_national_id(&id).then_some(id)
}

/// The words of a search, each normalised; every one must appear. `Err` says what is wrong.
pub fn query_words(q: &str) -> Result<Vec<String>, String> {
    let rule = format!("1 to {MAX_QUERY_WORDS} words, up to {MAX_QUERY_CHARS} characters in all");
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(format!("is too long: {rule}"));
    }
    if q.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(format!("may not hold control characters: {rule}"));
    }
    let words: Vec<String> = normalize_for_search(q).split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect();
    if words.is_empty() || words.len() > MAX_QUERY_WORDS {
        return Err(format!("must hold {rule}"));
    }
    Ok(words)
}

/// The full-text query that finds the messages with a word starting with `word`: PostgreSQL's
/// text-search query (`simple` configuration), or SQLite's FTS5 one. Only for a word of letters
/// and digits, which both tokenizers read as one token, as they read the stored text; other
/// words are matched by LIKE alone.
pub fn word_prefix_query(word: &str, postgres: bool) -> Option<String> {
    let plain = !word.is_empty() && word.chars().all(char::is_alphanumeric);
    plain.then(|| if postgres { format!("'{word}':*") } else { format!("\"{word}\"*") })
}

/// LIKE patterns (escaped with `\`) that find a word of `search_text` beginning with `word`:
/// the first against the text after a space (a word after a space, or the first), the second
/// against the text itself (the first word of the body, after the subject's line).
pub fn word_start_patterns(word: &str) -> [String; 2] {
    let word = escape_like(word);
    [format!("% {word}%"), format!("%\n{word}%")]
}

/// The blind indexes of a reporter's mobile and national ID, as stored (both already
/// normalised by validation).
pub fn identity_indexes(
    key: &SearchKey,
    mobile: Option<&str>,
    national_id: Option<&str>,
) -> (Option<String>, Option<String>) {
    (mobile.map(|m| key.blind_index(MOBILE, m)), national_id.map(|n| key.blind_index(NATIONAL_ID, n)))
}

/// What indexing rows stored before search did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Indexed {
    pub messages: usize,
    pub reporters: usize,
    /// Reporters with a value no configured key opens, by message id: left unindexed.
    pub unreadable: Vec<String>,
}

const INDEX_BATCH: i64 = 500;

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
struct TextRow {
    id: String,
    subject: Option<String>,
    body: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = reporters)]
struct IdentityRow {
    message_id: String,
    national_id: Option<String>,
    mobile: Option<String>,
}

/// Writes the search column of messages stored before it, and the blind index of reporters
/// stored before it (opening their sealed mobile and national ID with the reporter keys).
/// Batches, each its own transaction, in id order; only rows that need it are read; values are
/// never logged. Idempotent.
pub fn index_all(conn: &mut DbConnection, search_key: &SearchKey, keys: &ReporterKeys) -> Result<Indexed, DbError> {
    let mut done = Indexed::default();
    let mut after = String::new();
    loop {
        let (count, last) = write_transaction(conn, |conn| {
            let rows: Vec<TextRow> = messages::table
                .filter(messages::id.gt(&after))
                .filter(messages::search_text.is_null())
                .order(messages::id)
                .limit(INDEX_BATCH)
                .select(TextRow::as_select())
                .load(conn)?;
            let last = rows.last().map(|row| row.id.clone());
            for row in &rows {
                diesel::update(messages::table.find(&row.id))
                    .set(messages::search_text.eq(search_text(row.subject.as_deref(), &row.body)))
                    .execute(conn)?;
            }
            Ok::<_, DbError>((rows.len(), last))
        })?;
        done.messages += count;
        match last {
            Some(last) => after = last,
            None => break,
        }
    }
    let mut after = String::new();
    loop {
        let (count, unreadable, last) = write_transaction(conn, |conn| {
            let rows: Vec<IdentityRow> = reporters::table
                .filter(reporters::message_id.gt(&after))
                .filter(
                    (reporters::mobile.is_not_null().and(reporters::mobile_blind_index.is_null()))
                        .or(reporters::national_id.is_not_null().and(reporters::national_id_blind_index.is_null())),
                )
                .order(reporters::message_id)
                .limit(INDEX_BATCH)
                .select(IdentityRow::as_select())
                .load(conn)?;
            let last = rows.last().map(|row| row.message_id.clone());
            let (mut count, mut unreadable) = (0, Vec::new());
            for row in rows {
                let open = |field: &str, value: &Option<String>| {
                    value.as_deref().map(|v| opened(keys, &row.message_id, field, v)).transpose()
                };
                let (Ok(mobile), Ok(national_id)) = (open(MOBILE, &row.mobile), open(NATIONAL_ID, &row.national_id))
                else {
                    unreadable.push(row.message_id);
                    continue;
                };
                let mobile = mobile.as_deref().and_then(mobile_key);
                let national_id = national_id.as_deref().and_then(national_id_key);
                let (mobile, national_id) = identity_indexes(search_key, mobile.as_deref(), national_id.as_deref());
                diesel::update(reporters::table.find(&row.message_id))
                    .set((reporters::mobile_blind_index.eq(mobile), reporters::national_id_blind_index.eq(national_id)))
                    .execute(conn)?;
                count += 1;
            }
            Ok::<_, DbError>((count, unreadable, last))
        })?;
        done.reporters += count;
        done.unreadable.extend(unreadable);
        match last {
            Some(last) => after = last,
            None => return Ok(done),
        }
    }
}

/// A stored identity value opened: sealed, or still plaintext from before sealing.
fn opened(keys: &ReporterKeys, message_id: &str, field: &str, stored: &str) -> Result<String, DbError> {
    if ReporterKeys::is_sealed(stored) {
        keys.open(message_id, field, stored).map_err(|e| DbError::Refused(e.to_string()))
    } else {
        Ok(stored.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mobile_is_one_index_in_every_written_form() {
        for form in ["09121234567", "+989121234567", "00989121234567", "0912 123 4567", "۰۹۱۲۱۲۳۴۵۶۷", "0912-123-4567"]
        {
            assert_eq!(mobile_key(form).as_deref(), Some("09121234567"), "{form}");
        }
        assert_eq!(mobile_key("02112345678"), None);
        assert_eq!(mobile_key("0912"), None);
        let key = SearchKey::parse(&"07".repeat(32)).unwrap();
        let a = identity_indexes(&key, mobile_key("+98 912 123 4567").as_deref(), None);
        let b = identity_indexes(&key, mobile_key("۰۹۱۲۱۲۳۴۵۶۷").as_deref(), None);
        assert_eq!(a, b);
        assert!(a.0.is_some() && a.1.is_none());
    }

    #[test]
    fn a_national_id_is_ten_digits_with_its_check_digit() {
        assert_eq!(national_id_key("0499370899").as_deref(), Some("0499370899"));
        assert_eq!(national_id_key("۰۴۹۹۳۷۰۸۹۹").as_deref(), Some("0499370899"));
        assert_eq!(national_id_key(" 0499370899 ").as_deref(), Some("0499370899"));
        assert_eq!(national_id_key("0499370898"), None, "wrong check digit");
        assert_eq!(national_id_key("049937089"), None);
        assert_eq!(national_id_key("04993708990"), None);
    }

    #[test]
    fn a_plain_word_is_a_prefix_query_and_nothing_else_is() {
        assert_eq!(word_prefix_query("آسفالت", true).as_deref(), Some("'آسفالت':*"));
        assert_eq!(word_prefix_query("brt12", false).as_deref(), Some("\"brt12\"*"));
        for other in ["", "it's", "a:*", "12/3", "%", "a b", "\"x\""] {
            assert_eq!(word_prefix_query(other, true), None, "{other}");
            assert_eq!(word_prefix_query(other, false), None, "{other}");
        }
    }

    #[test]
    fn a_query_is_its_normalised_words() {
        assert_eq!(query_words("  كوچه   می\u{200C}خواهم ").unwrap(), ["کوچه", "میخواهم"]);
        assert_eq!(query_words("Asphalt ۱۲").unwrap(), ["asphalt", "12"]);
        assert!(query_words("").is_err());
        assert!(query_words(" \u{200C} ").is_err());
        assert!(query_words(&"a ".repeat(11)).is_err());
        assert!(query_words(&"x".repeat(201)).is_err());
        assert!(query_words("a\u{0}b").is_err(), "PostgreSQL text holds no NUL");
        assert_eq!(query_words("a\tb").unwrap(), ["a", "b"]);
        assert_eq!(word_start_patterns("50%_off"), ["% 50\\%\\_off%", "%\n50\\%\\_off%"]);
    }

    #[test]
    fn the_search_text_holds_subject_and_body_normalised() {
        assert_eq!(search_text(Some("چاله‌ي خيابان"), "آسفالت   خراب"), "چالهی خیابان\nآسفالت خراب");
        assert_eq!(search_text(None, "BRT"), "brt");
        let stored = search_text(Some("چاله‌ي خيابان"), "");
        assert!(query_words("چاله ی").unwrap().iter().all(|w| stored.contains(w.as_str())));
        assert!(query_words("چالهی").unwrap().iter().all(|w| stored.contains(w.as_str())));
    }
}
