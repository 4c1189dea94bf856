//! `nazer bench deadlines`: the deadline engine's speed on PostgreSQL, printed as figures. It
//! works in two databases of its own (created beside the one given, dropped at the end) and
//! measures, in one run:
//! - a burst: N deadlines due at once turned into warnings by `workers` firing replicas, beside
//!   the raw rate at which PostgreSQL claims the same due rows (`UPDATE … WHERE id IN (SELECT …
//!   FOR UPDATE SKIP LOCKED LIMIT n)`), as a ratio;
//! - fire lag: deadlines scheduled through the real consumer and fired by the real loop, lag =
//!   registration instant − due instant, p50/p99;
//! - intake's write rate with the engine running, with no pending deadline and with a million
//!   (the second database), in alternating rounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use nazer_deadline_timer::deadlines::store;
use nazer_deadline_timer::policy::store as policy_store;
use nazer_deadline_timer::policy::{PolicyDocument, SlaPolicy};
use nazer_deadline_timer::seeding;
use nazer_intake::sealing::ReporterKeys;
use nazer_intake::search::SearchKey;
use nazer_intake::store::IdentityKeys;
use nazer_intake::submission::{Channel, Priority, Reporter, Submission};
use nazer_shared::clock::system_clock;
use nazer_shared::config::{DatabaseSettings, Settings};
use nazer_shared::db::{Db, DbConnection, DbError, count_rows, to_db_time, with_database, write_transaction};
use nazer_shared::events::{Envelope, MessageAssigned, MessageKind};
use nazer_shared::runtime::{self, HostOptions};

use crate::reference;

pub struct Options {
    pub database_url: String,
    pub burst: i64,
    pub pending: i64,
    pub lag_samples: u32,
    pub messages: u32,
    pub workers: usize,
    pub batch: i64,
}

pub async fn deadlines(options: Options) -> anyhow::Result<()> {
    if !options.database_url.starts_with("postgres") {
        bail!("the benchmark runs on PostgreSQL: give --database-url postgres://…");
    }
    let name = format!("nazer_bench_{}", std::process::id());
    // A second database holds the million pending deadlines, so intake is measured on both in
    // alternating rounds and drift (tables growing, checkpoints) falls on both alike.
    let loaded = format!("{name}_loaded");
    let scratch = Scratch::create(&options.database_url, &[&name, &loaded])?;
    let urls = (with_database(&options.database_url, &name), with_database(&options.database_url, &loaded));
    let outcome = run(&urls.0, &urls.1, &options).await;
    scratch.drop()?;
    outcome
}

/// Databases of a benchmark's own, created beside the given one and dropped at the end.
pub(crate) struct Scratch {
    admin: Db,
    names: Vec<String>,
}

impl Scratch {
    pub(crate) fn create(database_url: &str, names: &[&str]) -> anyhow::Result<Self> {
        let admin = Db::open(&DatabaseSettings { url: Some(database_url.into()), pool_size: 1, ..Default::default() })
            .context("cannot reach PostgreSQL")?;
        for database in names {
            sql(&admin, &format!("DROP DATABASE IF EXISTS {database}"))?;
            sql(&admin, &format!("CREATE DATABASE {database}"))?;
        }
        Ok(Self { admin, names: names.iter().map(|n| n.to_string()).collect() })
    }

    pub(crate) fn drop(self) -> anyhow::Result<()> {
        for database in &self.names {
            sql(&self.admin, &format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))?;
        }
        Ok(())
    }
}

fn insert_due(db: &Db, tag: &str, n: i64, due: DateTime<Utc>) -> anyhow::Result<()> {
    seeding::insert_due_deadlines(&mut *db.get()?, tag, n, due)?;
    sql(db, "ANALYZE deadlines")?;
    Ok(())
}

pub(crate) fn sql(db: &Db, statement: &str) -> anyhow::Result<usize> {
    let mut conn = db.get()?;
    Ok(diesel::sql_query(statement).execute(&mut *conn)?)
}

fn count(db: &Db, statement: &str) -> anyhow::Result<i64> {
    Ok(count_rows(&mut *db.get()?, statement)?)
}

/// Hosts of the benchmark: on a migrated database, one process, no broker.
const HOST: HostOptions =
    HostOptions { migrate: false, in_process_bus: true, extra_routes: None, seeding: false, demo: false };

/// A migrated database with a pool wide enough for the benchmark's workers.
fn open_migrated(url: &str, options: &Options) -> anyhow::Result<Db> {
    let pool_size = options.workers as u32 * 2 + 4;
    let db = Db::open(&DatabaseSettings { url: Some(url.into()), pool_size, ..Default::default() })?;
    db.migrate()?;
    Ok(db)
}

async fn run(url: &str, loaded_url: &str, options: &Options) -> anyhow::Result<()> {
    let db = open_migrated(url, options)?;
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = Text)]
        server_version: String,
    }
    let version = db.get()?.transaction(|c| diesel::sql_query("SHOW server_version").get_result::<Version>(c))?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("machine: {cores} cores, PostgreSQL {}", version.server_version);

    // The burst, and the raw claim rate on the same rows.
    let due = Utc::now() - chrono::Duration::seconds(1);
    insert_due(&db, "raw", options.burst, due)?;
    let (claimed, raw_secs) = claim_raw(&db, options.workers, options.batch, due)?;
    sql(&db, "TRUNCATE deadlines, warnings, outbox CASCADE")?;
    insert_due(&db, "burst", options.burst, due)?;
    let (fired, fire_secs) = fire_burst(&db, options.workers, options.batch)?;
    let distinct = count(&db, "SELECT count(DISTINCT deadline_id) AS n FROM warnings")?;
    if fired != options.burst || distinct != options.burst {
        bail!("the burst registered {fired} warnings for {distinct} deadlines, not {}", options.burst);
    }
    let (raw_rate, fire_rate) = (claimed as f64 / raw_secs, fired as f64 / fire_secs);
    println!(
        "burst: {} deadlines due at once -> {fired} warnings, each once, in {fire_secs:.2} s = {fire_rate:.0} warnings/s \
         ({} firing replicas, batches of {})",
        options.burst, options.workers, options.batch
    );
    println!(
        "raw SKIP LOCKED claim of the same rows: {claimed} rows in {raw_secs:.2} s = {raw_rate:.0} rows/s; \
         firing runs at {:.2} x the raw claim rate",
        fire_rate / raw_rate
    );
    sql(&db, "TRUNCATE deadlines, warnings, outbox CASCADE")?;

    fire_lag(url, &db, options.lag_samples).await?;
    sql(&db, "TRUNCATE deadlines, warnings, outbox CASCADE")?;
    intake_with_pending((url, &db), loaded_url, options).await
}

/// Runs `work` on `workers` threads until each reports nothing left; the total and seconds.
fn in_parallel(
    workers: usize,
    work: impl Fn(&mut DbConnection) -> Result<i64, DbError> + Sync,
    db: &Db,
) -> anyhow::Result<(i64, f64)> {
    let total = AtomicU64::new(0);
    let started = Instant::now();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<()> {
                    let mut conn = db.get()?;
                    loop {
                        let done = work(&mut conn)?;
                        if done == 0 {
                            return Ok(());
                        }
                        total.fetch_add(done as u64, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().map_err(|_| anyhow::anyhow!("a worker panicked"))??;
        }
        Ok(())
    })?;
    Ok((total.load(Ordering::Relaxed) as i64, started.elapsed().as_secs_f64()))
}

fn claim_raw(db: &Db, workers: usize, batch: i64, due: DateTime<Utc>) -> anyhow::Result<(i64, f64)> {
    let cutoff = to_db_time(due);
    let claim = |conn: &mut DbConnection| -> Result<i64, DbError> {
        let DbConnection::Pg(c) = conn else { return Err(DbError::Refused("PostgreSQL only".into())) };
        let claimed = diesel::sql_query(
            "UPDATE deadlines SET state = 'breached', next_fire_at = NULL WHERE id IN \
             (SELECT id FROM deadlines WHERE next_fire_at <= $1 ORDER BY next_fire_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind::<Timestamp, _>(cutoff)
        .bind::<BigInt, _>(batch)
        .execute(c)?;
        Ok(claimed as i64)
    };
    in_parallel(workers, claim, db)
}

fn fire_burst(db: &Db, workers: usize, batch: i64) -> anyhow::Result<(i64, f64)> {
    let now = Utc::now();
    let fire = |conn: &mut DbConnection| -> Result<i64, DbError> {
        let fired = write_transaction(conn, |conn| store::fire_due(conn, now, batch))?;
        Ok(fired.warnings.len() as i64)
    };
    in_parallel(workers, fire, db)
}

fn host_settings(url: &str, reporter_keys: &str) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = Some(url.into());
    settings.http.addr = "127.0.0.1:0".into();
    settings.privacy.reporter_keys = Some(reporter_keys.into());
    settings.privacy.search_key = Some(bench_search_key());
    settings
}

/// A fresh blind-index key for this run.
fn bench_search_key() -> String {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    hex::encode(key)
}

/// A fresh reporter-sealing key for this run.
fn bench_keys() -> String {
    let mut key = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut key);
    format!("bench:{}", hex::encode(key))
}

/// Deadlines scheduled through the consumer (a plain 2-second budget), fired by the real loop.
async fn fire_lag(url: &str, db: &Db, samples: u32) -> anyhow::Result<()> {
    let policy: PolicyDocument = serde_json::from_value(serde_json::json!({
        "id": "bench", "stages": [{"stage": "respond", "budget": "PT2S", "reminders": []}]}))?;
    let policy = SlaPolicy::from_document(policy).map_err(|issues| anyhow::anyhow!("{issues:?}"))?;
    write_transaction(&mut *db.get()?, |conn| {
        policy_store::put_policy(conn, &policy, Utc::now()).map_err(|e| DbError::Refused(e.to_string()))
    })?;
    let settings = host_settings(url, &bench_keys());
    let host = runtime::start(settings, &[nazer_deadline_timer::SERVICE], HOST, system_clock()).await?;
    // Spread over about ten seconds, as assignments arrive.
    let spacing = Duration::from_micros(10_000_000 / u64::from(samples.max(1)));
    for n in 0..samples {
        let assigned = MessageAssigned {
            message_id: format!("lag-{n}"),
            tracking_code: format!("{:010}", n),
            kind: "complaint".into(),
            category: "municipal.building".into(),
            province: "tehran".into(),
            city: None,
            area_path: vec!["tehran".into()],
            agency_id: "agency-a".into(),
            agency_name: "agency a".into(),
            parent_agency_id: None,
            agency_ancestors: vec![],
            rule_id: "bench".into(),
            priority: "normal".into(),
            channel: Some("call_center".into()),
            assigned_at: Utc::now(),
            assigned_by: None,
        };
        host.bus.publish(&Envelope::new("routing", &assigned, Utc::now())?).await?;
        tokio::time::sleep(spacing).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(db, "SELECT count(*) AS n FROM warnings")? < i64::from(samples) {
        if Instant::now() > deadline {
            bail!("not every lag sample was fired within a minute");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    host.stop().await;
    let mut conn = db.get()?;
    let rows: Vec<FireTimes> =
        nazer_deadline_timer::schema::warnings::table.select(FireTimes::as_select()).load(&mut *conn)?;
    let mut lags: Vec<i64> =
        rows.iter().map(|row| (row.issued_at - row.due_at).num_microseconds().unwrap_or(i64::MAX)).collect();
    lags.sort_unstable();
    let at = |q: f64| lags[((lags.len() as f64 * q).ceil() as usize).clamp(1, lags.len()) - 1] as f64 / 1000.0;
    println!(
        "fire lag over {} deadlines scheduled through the consumer: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lags.len(),
        at(0.50),
        at(0.99),
        at(1.0)
    );
    Ok(())
}

/// Intake's write rate with the engine running, on a database without pending deadlines and
/// on one holding `pending` of them, measured in alternating rounds.
async fn intake_with_pending(empty: (&str, &Db), loaded_url: &str, options: &Options) -> anyhow::Result<()> {
    let loaded_db = open_migrated(loaded_url, options)?;
    let far = Utc::now() + chrono::Duration::days(30);
    insert_due(&loaded_db, "pending", options.pending, far)?;
    let entries = [nazer_intake::SERVICE, nazer_deadline_timer::SERVICE];
    let keys_text = bench_keys();
    let keys = ReporterKeys::parse(&keys_text)?;
    let mut hosts = Vec::new();
    for (url, db) in [(empty.0, empty.1), (loaded_url, &loaded_db)] {
        let now = Utc::now();
        let data = crate::import::from_texts(&[
            ("categories.json", reference::CATEGORIES),
            ("areas.geojson", reference::AREAS),
        ])
        .map_err(anyhow::Error::msg)?;
        write_transaction(&mut *db.get()?, |conn| crate::import::apply_or_refuse(conn, &data, now))?;
        let host = runtime::start(host_settings(url, &keys_text), &entries, HOST, system_clock()).await?;
        post_messages(&host.db, &keys, options.messages / 5, options.workers * 2).await?; // warm-up
        hosts.push((host, db.clone()));
    }
    let mut rates = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (which, (host, db)) in hosts.iter().enumerate() {
            settle(db)?;
            rates[which].push(post_messages(&host.db, &keys, options.messages, options.workers * 2).await?);
        }
    }
    for (host, _) in hosts {
        host.stop().await;
    }
    let (empty_median, loaded_median) = (median(&rates[0]), median(&rates[1]));
    println!(
        "intake with the engine running (median of {ROUNDS} alternating rounds of {} messages): {empty_median:.0} \
         messages/s with no pending deadline {}, {loaded_median:.0} messages/s with {} pending {}; {:.2} x ({:+.1} %)",
        options.messages,
        spread(&rates[0]),
        options.pending,
        spread(&rates[1]),
        loaded_median / empty_median,
        (loaded_median / empty_median - 1.0) * 100.0
    );
    Ok(())
}

/// Intake measurements per database: a median evens out the noise of one round.
const ROUNDS: usize = 5;

fn median(rates: &[f64]) -> f64 {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn spread(rates: &[f64]) -> String {
    let low = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let high = rates.iter().copied().fold(0.0, f64::max);
    format!("(runs {low:.0}–{high:.0})")
}

/// Leaves nothing pending in the background (vacuum, dirty pages) to blur the next figure.
fn settle(db: &Db) -> anyhow::Result<()> {
    sql(db, "VACUUM ANALYZE")?;
    sql(db, "CHECKPOINT")?;
    Ok(())
}

/// Posts `messages` as the call centre would, each with a reporter whose identity is sealed.
async fn post_messages(db: &Db, keys: &ReporterKeys, messages: u32, concurrency: usize) -> anyhow::Result<f64> {
    let submission = Arc::new(Submission {
        kind: MessageKind::Complaint,
        channel: Channel::CallCenter,
        category: "municipal.building".into(),
        subject: None,
        body: "ساخت و ساز غیرمجاز".into(),
        province: "tehran".into(),
        area_path: vec!["tehran".into(), "tehran-city".into(), "tehran-district-06".into()],
        location: None,
        city: None,
        priority: Priority::Normal,
        reporter: Some(Reporter {
            full_name: Some("شهروند نمونه".into()),
            national_id: Some("0013542419".into()),
            mobile: Some("09121234567".into()),
            email: None,
            confidential: false,
            tracking_pin: None,
        }),
    });
    let search_key = SearchKey::parse(&bench_search_key())?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (db, submission, keys, search_key) = (db.clone(), submission.clone(), keys.clone(), search_key.clone());
        let share = messages / concurrency as u32 + u32::from((worker as u32) < messages % concurrency as u32);
        tasks.spawn(async move {
            for _ in 0..share {
                let (submission, keys, search_key) = (submission.clone(), keys.clone(), search_key.clone());
                db.write(move |conn| {
                    let actor = nazer_intake::timeline::Actor::service("bench");
                    let now = Utc::now();
                    let keys = IdentityKeys { sealing: &keys, search: &search_key };
                    nazer_intake::store::post_message(conn, keys, &submission, "bench", &actor, None, now)
                })
                .await?;
            }
            Ok::<_, DbError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(f64::from(messages) / started.elapsed().as_secs_f64())
}

/// When a warning was due and when it was registered.
#[derive(diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = nazer_deadline_timer::schema::warnings)]
struct FireTimes {
    due_at: NaiveDateTime,
    issued_at: NaiveDateTime,
}
