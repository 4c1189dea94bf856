//! `nazer bench search`: finding a message again on PostgreSQL, printed as figures. In a
//! database of its own (created beside the one given, dropped at the end) it stores N messages
//! with sealed reporters, as intake stores them (sealed mobile and national ID, their blind
//! index, the search column), in array-bound batches of 20,000 rows; then times the message list
//! of the call centre searching by mobile and by a word, p50/p99 over the given number of
//! queries each, beside PostgreSQL's plan of the list's query.

use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Timestamp};
use nazer_intake::sealing::ReporterKeys;
use nazer_intake::search::{self, SearchKey};
use nazer_intake::view::{self, MessageFilter};
use nazer_shared::agency::Viewer;
use nazer_shared::config::DatabaseSettings;
use nazer_shared::db::{Db, DbConnection, to_db_time, with_database};
use rand::{Rng, SeedableRng};

pub struct Options {
    pub database_url: String,
    pub messages: u32,
    pub queries: u32,
    pub vocabulary: u32,
    pub seed: u64,
}

const BATCH: u32 = 20_000;
/// Words of each message's body, drawn from the vocabulary.
const WORDS_PER_BODY: usize = 10;

pub fn run(options: Options) -> anyhow::Result<()> {
    if !options.database_url.starts_with("postgres") {
        bail!("the benchmark runs on PostgreSQL: give --database-url postgres://…");
    }
    let name = format!("nazer_bench_search_{}", std::process::id());
    let scratch = crate::bench::Scratch::create(&options.database_url, &[&name])?;
    let outcome = measure(&with_database(&options.database_url, &name), &options);
    scratch.drop()?;
    outcome
}

/// A Persian-looking vocabulary: `n` distinct words of three to five syllables.
fn vocabulary(n: u32, rng: &mut rand::rngs::StdRng) -> Vec<String> {
    const SYLLABLES: [&str; 24] = [
        "با", "در", "کو", "چه", "خیا", "بان", "آس", "فالت", "پل", "نور", "چرا", "غ", "پار", "ک", "زبا", "له", "شهر",
        "داری", "منط", "قه", "نا", "حیه", "می", "دان",
    ];
    let mut words = std::collections::BTreeSet::new();
    while words.len() < n as usize {
        let syllables = rng.random_range(3..=5);
        let word: String = (0..syllables).map(|_| SYLLABLES[rng.random_range(0..SYLLABLES.len())]).collect();
        words.insert(word);
    }
    words.into_iter().collect()
}

/// A national ID with its check digit, from nine digits.
fn national_id(nine: u32) -> String {
    let digits = format!("{:09}", nine % 1_000_000_000);
    let sum: u32 = digits.bytes().enumerate().map(|(i, d)| u32::from(d - b'0') * (10 - i as u32)).sum::<u32>() % 11;
    let check = if sum < 2 { sum } else { 11 - sum };
    format!("{digits}{check}")
}

fn mobile(i: u32) -> String {
    format!("0912{:07}", i)
}

fn measure(url: &str, options: &Options) -> anyhow::Result<()> {
    let db = Db::open(&DatabaseSettings { url: Some(url.into()), pool_size: 2, ..Default::default() })?;
    db.migrate()?;
    let mut conn = db.get()?;
    let DbConnection::Pg(pg) = &mut *conn else { bail!("the benchmark runs on PostgreSQL") };
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        server_version: String,
    }
    let version = diesel::sql_query("SHOW server_version").get_result::<Version>(pg)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("machine: {cores} cores, PostgreSQL {}", version.server_version);

    let mut rng = rand::rngs::StdRng::seed_from_u64(options.seed);
    let words = vocabulary(options.vocabulary, &mut rng);
    let keys = ReporterKeys::parse(&format!("bench:{}", hex::encode(rng.random::<[u8; 32]>())))?;
    let search_key = SearchKey::parse(&hex::encode(rng.random::<[u8; 32]>()))?;
    diesel::sql_query(
        "INSERT INTO categories (code, name_fa, name_en, kinds, active) \
         VALUES ('bench', 'بنچ', 'Bench', 'complaint', true)",
    )
    .execute(pg)?;

    // Bulk load: the word index is built once at the end rather than row by row.
    let started = Instant::now();
    diesel::sql_query("DROP INDEX messages_search_words").execute(pg)?;
    let origin = Utc::now() - Duration::days(400);
    let mut first = 0;
    while first < options.messages {
        let last = (first + BATCH).min(options.messages);
        let mut m = Columns::default();
        let mut r = Reporters::default();
        for i in first..last {
            let id = format!("00000000-0000-7000-8000-{i:012}");
            let body: Vec<&str> =
                (0..WORDS_PER_BODY).map(|_| words[rng.random_range(0..words.len())].as_str()).collect();
            let body = format!("{} در محله", body.join(" "));
            m.search_text.push(search::search_text(Some("گزارش"), &body));
            m.received_at.push(to_db_time(origin + Duration::seconds(i64::from(i) * 30)));
            m.tracking_code.push(format!("{i:010}"));
            m.body.push(body);
            let (mobile, national_id) = (mobile(i), national_id(i));
            let (mobile_index, national_id_index) =
                search::identity_indexes(&search_key, Some(&mobile), Some(&national_id));
            r.mobile.push(keys.seal(&id, "mobile", &mobile)?);
            r.national_id.push(keys.seal(&id, "national_id", &national_id)?);
            r.mobile_index.push(mobile_index.unwrap_or_default());
            r.national_id_index.push(national_id_index.unwrap_or_default());
            m.id.push(id);
        }
        diesel::sql_query(
            "INSERT INTO messages (id, tracking_code, kind, channel, category, subject, body, province, status, \
             submitted_by, received_at, updated_at, search_text) \
             SELECT id, code, 'complaint', 'call_center', 'bench', 'گزارش', body, 'tehran', 'received', 'bench', at, \
             at, search FROM unnest($1, $2, $3, $4, $5) AS t (id, code, body, at, search)",
        )
        .bind::<Array<Text>, _>(&m.id)
        .bind::<Array<Text>, _>(&m.tracking_code)
        .bind::<Array<Text>, _>(&m.body)
        .bind::<Array<Timestamp>, _>(&m.received_at)
        .bind::<Array<Text>, _>(&m.search_text)
        .execute(pg)?;
        diesel::sql_query(
            "INSERT INTO reporters (message_id, mobile, national_id, mobile_blind_index, national_id_blind_index) \
             SELECT * FROM unnest($1, $2, $3, $4, $5)",
        )
        .bind::<Array<Text>, _>(&m.id)
        .bind::<Array<Text>, _>(&r.mobile)
        .bind::<Array<Text>, _>(&r.national_id)
        .bind::<Array<Text>, _>(&r.mobile_index)
        .bind::<Array<Text>, _>(&r.national_id_index)
        .execute(pg)?;
        first = last;
    }
    let loaded = started.elapsed().as_secs_f64();
    let indexing = Instant::now();
    diesel::sql_query("CREATE INDEX messages_search_words ON messages USING gin (to_tsvector('simple', search_text))")
        .execute(pg)?;
    diesel::sql_query("VACUUM ANALYZE messages").execute(pg)?;
    diesel::sql_query("VACUUM ANALYZE reporters").execute(pg)?;
    #[derive(QueryableByName)]
    struct Size {
        #[diesel(sql_type = Text)]
        size: String,
    }
    let size = diesel::sql_query("SELECT pg_size_pretty(pg_database_size(current_database())) AS size")
        .get_result::<Size>(pg)?
        .size;
    println!(
        "stored {} messages with sealed reporters in {loaded:.1} s ({:.0} rows/s), word index and ANALYZE in \
         {:.1} s; the database holds {size}",
        options.messages,
        f64::from(options.messages) / loaded,
        indexing.elapsed().as_secs_f64()
    );

    // The list as the call centre asks for it: the first page (50), newest first.
    let list = |conn: &mut DbConnection, filter: &MessageFilter| -> anyhow::Result<usize> {
        Ok(view::list_messages(conn, &Viewer::All, filter)?.0.len())
    };
    let base = MessageFilter { newest_first: true, limit: 50, ..Default::default() };
    let mut by_mobile = Vec::new();
    let mut found = 0;
    for _ in 0..options.queries {
        let i = rng.random_range(0..options.messages);
        // Typed as the citizen says it: +98, spaces.
        let typed = format!("+98 {}", &mobile(i)[1..]);
        let started = Instant::now();
        let key = search::mobile_key(&typed).context("a bench mobile does not normalise")?;
        let filter = MessageFilter { mobile_index: Some(search_key.blind_index(search::MOBILE, &key)), ..base.clone() };
        found += list(&mut conn, &filter)?;
        by_mobile.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    if found != options.queries as usize {
        bail!("{} searches by mobile found {found} messages, not one each", options.queries);
    }
    let mut by_word = Vec::new();
    let mut listed = 0;
    let asked: Vec<String> = (0..options.queries).map(|_| words[rng.random_range(0..words.len())].clone()).collect();
    for word in &asked {
        let started = Instant::now();
        let filter = MessageFilter { words: search::query_words(word).map_err(anyhow::Error::msg)?, ..base.clone() };
        listed += list(&mut conn, &filter)?;
        by_word.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let sample = mobile(options.messages / 2);
    let mobile_index = search_key.blind_index(search::MOBILE, &sample);
    let word = search::query_words(&words[words.len() / 2]).map_err(anyhow::Error::msg)?.remove(0);
    let DbConnection::Pg(pg) = &mut *conn else { bail!("the benchmark runs on PostgreSQL") };
    report(
        "by mobile",
        &by_mobile,
        &format!("{} message per query", 1),
        &explain(pg, "mobile_blind_index", &mobile_index, false)?,
    );
    let per_query = listed as f64 / f64::from(options.queries);
    let plan = explain(pg, "search_text", &word, true)?;
    report(
        "by a word",
        &by_word,
        &format!("{per_query:.1} messages per page; each word in ~{:.0} messages", expected(options)),
        &plan,
    );
    trigram_baseline(pg, &asked, percentile(&by_word, 0.99))
}

/// The same words through what the word index replaced — a trigram index and a LIKE anywhere
/// in the text — on the same data in the same run, for comparison.
fn trigram_baseline(pg: &mut PgConnection, asked: &[String], word_p99: f64) -> anyhow::Result<()> {
    let indexing = Instant::now();
    diesel::sql_query("CREATE INDEX bench_search_text_trgm ON messages USING gin (search_text gin_trgm_ops)")
        .execute(pg)?;
    diesel::sql_query("ANALYZE messages").execute(pg)?;
    let built = indexing.elapsed().as_secs_f64();
    let mut millis = Vec::new();
    for word in asked {
        let started = Instant::now();
        diesel::sql_query(
            "SELECT messages.id, messages.tracking_code, messages.received_at FROM messages WHERE search_text LIKE \
             $1 ESCAPE '\\' ORDER BY messages.received_at DESC, messages.id DESC LIMIT 51",
        )
        .bind::<Text, _>(format!("%{}%", nazer_shared::db::escape_like(word)))
        .execute(pg)?;
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let p99 = percentile(&millis, 0.99);
    println!(
        "baseline, the trigram index and LIKE anywhere it replaced (built in {built:.1} s), the same {} words: p50 \
         {:.2} ms, p99 {p99:.2} ms, max {:.2} ms; the word index's p99 is {:.1}x lower",
        millis.len(),
        percentile(&millis, 0.5),
        percentile(&millis, 1.0),
        p99 / word_p99
    );
    Ok(())
}

/// The `q` quantile of `millis`.
fn percentile(millis: &[f64], q: f64) -> f64 {
    let mut sorted = millis.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or_default()
}

/// How many messages hold one word of the vocabulary, on average.
fn expected(options: &Options) -> f64 {
    f64::from(options.messages) * WORDS_PER_BODY as f64 / f64::from(options.vocabulary)
}

#[derive(Default)]
struct Columns {
    id: Vec<String>,
    tracking_code: Vec<String>,
    body: Vec<String>,
    received_at: Vec<chrono::NaiveDateTime>,
    search_text: Vec<String>,
}

#[derive(Default)]
struct Reporters {
    mobile: Vec<String>,
    national_id: Vec<String>,
    mobile_index: Vec<String>,
    national_id_index: Vec<String>,
}

fn report(what: &str, millis: &[f64], detail: &str, plan: &str) {
    let at = |q: f64| percentile(millis, q);
    println!(
        "search {what}: {} queries, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({detail}; target p99 < 100 ms)",
        millis.len(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
    println!("  the list's query, as PostgreSQL runs it:");
    for line in plan.lines() {
        println!("    {line}");
    }
}

/// `EXPLAIN ANALYZE` of the list's first page (as `view::list_messages` asks it) filtered on
/// `column`: a reporter's blind index, or a word of the search column (its word index, then
/// LIKE).
fn explain(pg: &mut PgConnection, column: &str, value: &str, word: bool) -> anyhow::Result<String> {
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    let (filter, value) = if word {
        let prefix = search::word_prefix_query(value, true).context("a bench word is letters only")?;
        let [after_space, after_line] = search::word_start_patterns(value);
        let filter = format!(
            "to_tsvector('simple', messages.{column}) @@ to_tsquery('simple', $2) AND ((' ' || messages.{column}) \
             LIKE $1 ESCAPE '\\' OR messages.{column} LIKE $3 ESCAPE '\\')"
        );
        (filter, (after_space, prefix, after_line))
    } else {
        let filter =
            format!("messages.id IN (SELECT reporters.message_id FROM reporters WHERE reporters.{column} = $1)");
        (filter, (value.to_string(), String::new(), String::new()))
    };
    let query = format!(
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON) SELECT messages.id, messages.tracking_code, \
         messages.received_at FROM messages WHERE {filter} ORDER BY messages.received_at DESC, messages.id DESC \
         LIMIT 51"
    );
    let lines: Vec<Line> = if word {
        diesel::sql_query(query).bind::<Text, _>(value.0).bind::<Text, _>(value.1).bind::<Text, _>(value.2).load(pg)?
    } else {
        diesel::sql_query(query).bind::<Text, _>(value.0).load(pg)?
    };
    Ok(lines.into_iter().map(|l| l.line).collect::<Vec<_>>().join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_identities_are_valid() {
        for i in [1, 7, 499_999, 999_999] {
            assert!(nazer_intake::submission::is_valid_national_id(&national_id(i)), "{i}");
            assert_eq!(search::mobile_key(&mobile(i)), Some(mobile(i)));
        }
    }
}
