//! `nazer`: runs any or all of the five services in one process (`nazer up`), migrates the
//! database and the broker topology, and seeds demo data.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use nazer_intake::search::{Indexed, SearchKey};
use nazer_shared::bus::{ConsumerSpec, RabbitBus};
use nazer_shared::clock::system_clock;
use nazer_shared::config::Settings;
use nazer_shared::db::Db;
use nazer_shared::runtime::{self, HostOptions, ServiceEntry};
use nazer_shared::sealing::{Resealed, SealingKeys};

mod bench;
mod bench_areas;
mod bench_search;
mod calendar;
mod demo;
mod import;
mod reference;

#[derive(Parser)]
#[command(name = "nazer", version, about = "Nazer — follow-up of citizens' messages for the 1888 hotline")]
struct Cli {
    /// A configuration file (default: ./nazer.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run services in this process; with nothing configured, on ./nazer-data/nazer.db and the
    /// in-process bus.
    Up {
        /// Comma-separated subset: intake, routing, deadline-timer, violation-referral, notification.
        #[arg(long, value_delimiter = ',')]
        services: Option<Vec<String>>,
        /// Seed demo agencies, rules, keys and budgets of seconds, and receive their webhooks.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and declare the broker topology (when a broker is configured).
    Migrate {
        /// Also unbind the broker keys earlier releases bound and this one no longer needs: run
        /// it once every replica runs this release.
        #[arg(long)]
        drop_superseded_bindings: bool,
    },
    /// Load reference data into the configured database, all or nothing: every file of a
    /// directory (`nazer import DIR`; categories, areas, agencies, routing rules, calendars,
    /// SLA policies, counterpart units, violation types), or the areas of one GeoJSON file
    /// (`nazer import areas FILE`).
    #[command(args_conflicts_with_subcommands = true)]
    Import {
        #[command(subcommand)]
        command: Option<ImportCommand>,
        /// A directory of reference-data files (reference-data/README.md describes them).
        dir: Option<PathBuf>,
        /// Check everything against the stored data and print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Seed data.
    Seed {
        /// Demo agencies, rules, categories, keys, budgets and webhooks.
        #[arg(long)]
        demo: bool,
    },
    /// Business-calendar arithmetic, to check a deadline by hand.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// Benchmarks that print figures.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The deadline engine on PostgreSQL: burst warnings/s beside the raw SKIP LOCKED claim
    /// rate, fire lag p50/p99, intake with a million pending deadlines. Works in a database of
    /// its own, created beside the given one and dropped at the end.
    Deadlines {
        /// A PostgreSQL URL whose user may create databases (default: NAZER__DATABASE__URL).
        #[arg(long)]
        database_url: Option<String>,
        /// Deadlines due at once.
        #[arg(long, default_value_t = 100_000)]
        burst: i64,
        /// Pending deadlines held while intake is measured.
        #[arg(long, default_value_t = 1_000_000)]
        pending: i64,
        /// Deadlines whose fire lag is measured.
        #[arg(long, default_value_t = 2_000)]
        lag_samples: u32,
        /// Messages posted for each intake measurement.
        #[arg(long, default_value_t = 5_000)]
        messages: u32,
        /// Firing replicas (threads, each with its own connection).
        #[arg(long, default_value_t = 2)]
        workers: usize,
        /// Deadlines claimed per firing transaction.
        #[arg(long, default_value_t = 500)]
        batch: i64,
    },
    /// Finding a message again on PostgreSQL: stores N messages with sealed reporters (array-bound
    /// batches), then times the call centre's list searching by mobile and by a word, p50/p99,
    /// beside each query's EXPLAIN ANALYZE plan, and the same words through the trigram index the
    /// word index replaced, as a baseline. Works in a database of its own, created beside the
    /// given one and dropped at the end.
    Search {
        /// A PostgreSQL URL whose user may create databases (default: NAZER__DATABASE__URL).
        #[arg(long)]
        database_url: Option<String>,
        /// Messages stored, each with a sealed reporter.
        #[arg(long, default_value_t = 1_000_000)]
        messages: u32,
        /// Searches timed of each kind.
        #[arg(long, default_value_t = 500)]
        queries: u32,
        /// Distinct words message bodies are drawn from (ten words a body).
        #[arg(long, default_value_t = 5_000)]
        vocabulary: u32,
        /// Seed of the generated data and queries.
        #[arg(long, default_value_t = 1888)]
        seed: u64,
    },
    /// Locating a point among areas: builds a province, a city, its districts and a grid of
    /// irregular neighbourhood polygons (30–60 vertices each), then times `locate` at random
    /// points over the city on one thread — lookups/s and ns per lookup — beside a naive scan
    /// of every polygon on the same points. Pure computation: no database or broker.
    Areas {
        /// Neighbourhoods per side of the square grid (grid × grid neighbourhoods).
        #[arg(long, default_value_t = 20)]
        grid: usize,
        /// Neighbourhoods per side of a district; divides --grid.
        #[arg(long, default_value_t = 4)]
        district_cells: usize,
        /// Timed lookups through the index.
        #[arg(long, default_value_t = 1_000_000)]
        lookups: usize,
        /// Of the same points, how many the naive scan times (it is much slower).
        #[arg(long, default_value_t = 20_000)]
        baseline_lookups: usize,
        /// Seed of the generated polygons and points.
        #[arg(long, default_value_t = 1888)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Areas from a GeoJSON FeatureCollection (as `PUT /api/v1/areas` takes), upserted by code.
    Areas {
        /// The GeoJSON file.
        file: PathBuf,
        /// Check the file against the stored tree and say what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum CalendarCommand {
    /// Prints the due instant of a budget started at an instant (RFC 3339, calendar's offset).
    Due {
        /// A calendar JSON file, or the id of a calendar stored in the configured database.
        #[arg(long)]
        calendar: String,
        /// The start, RFC 3339 (e.g. 2026-11-29T10:00:00+03:30).
        #[arg(long)]
        start: String,
        /// `8h` business hours, `3d` business days, or an ISO 8601 duration such as PT30S.
        #[arg(long)]
        budget: String,
        /// The message's province code, for provincial closures.
        #[arg(long)]
        province: Option<String>,
        /// The message's area code (such as tehran-district-06), for closures of it or of an
        /// area above it; looked up in the configured database.
        #[arg(long)]
        area: Option<String>,
    },
}

/// Every service's queue and the routing keys bound to it, from their handler registrations.
fn bindings() -> Vec<ConsumerSpec> {
    ALL.iter().map(|entry| ConsumerSpec { consumer: entry.name, bindings: (entry.consumes)() }).collect()
}

const ALL: [ServiceEntry; 5] = [
    nazer_intake::SERVICE,
    nazer_routing::SERVICE,
    nazer_deadline_timer::SERVICE,
    nazer_violation_referral::SERVICE,
    nazer_notification::SERVICE,
];

fn select(names: Option<Vec<String>>) -> anyhow::Result<Vec<ServiceEntry>> {
    let Some(names) = names else { return Ok(ALL.to_vec()) };
    let mut chosen = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let Some(entry) = ALL.iter().find(|e| e.name == name) else {
            let known: Vec<&str> = ALL.iter().map(|e| e.name).collect();
            bail!("unknown service `{name}`; the services are: {}", known.join(", "));
        };
        if !chosen.iter().any(|e: &ServiceEntry| e.name == name) {
            chosen.push(*entry);
        }
    }
    if chosen.is_empty() {
        bail!("--services lists no service");
    }
    Ok(chosen)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut settings = Settings::load(cli.config.as_deref()).context("configuration")?;
    if matches!(cli.command, Command::Bench { .. }) {
        // Figures, not a log of every warning the benchmark registers.
        settings.log.level = "warn".into();
    }
    let telemetry = nazer_shared::telemetry::init(&settings, "nazer");
    let done = run(cli.command, settings).await;
    telemetry.shutdown(runtime::TELEMETRY_FLUSH).await;
    done
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Up { services, demo } => up(settings, select(services)?, demo).await,
        Command::Migrate { drop_superseded_bindings } => migrate(&settings, drop_superseded_bindings).await,
        Command::Seed { demo: true } => {
            let db = Db::open(&settings.database)?;
            db.migrate()?;
            let receiver = demo::receiver_base(&settings.http.addr);
            demo::seed(&db, SealingKeys::from_settings(&settings)?, &receiver, chrono::Utc::now()).await?;
            println!("demo data seeded");
            Ok(())
        }
        Command::Seed { demo: false } => bail!("say what to seed: `nazer seed --demo`"),
        Command::Import { command, dir, dry_run } => {
            let db = Db::open(&settings.database)?;
            let dry_run = dry_run || matches!(command, Some(ImportCommand::Areas { dry_run: true, .. }));
            if !dry_run {
                db.migrate()?;
            } else if db.has_pending_migrations()? {
                bail!("the database is not migrated; run `nazer migrate` first (a dry run writes nothing)");
            }
            let now = chrono::Utc::now();
            let done = match (command, dir) {
                (Some(ImportCommand::Areas { file, dry_run }), _) => import::areas(&db, &file, dry_run, now).await?,
                (None, Some(dir)) => import::directory(&db, &dir, dry_run, now).await?,
                (None, None) => bail!("say what to import: `nazer import DIR` or `nazer import areas FILE`"),
            };
            println!("{done}");
            Ok(())
        }
        Command::Calendar { command: CalendarCommand::Due { calendar, start, budget, province, area } } => {
            let (province, area) = (province.as_deref(), area.as_deref());
            println!("{}", calendar::due_in(&calendar, &settings, &start, &budget, province, area)?);
            Ok(())
        }
        Command::Bench {
            command: BenchCommand::Deadlines { database_url, burst, pending, lag_samples, messages, workers, batch },
        } => {
            let Some(database_url) = database_url.or(settings.database.url) else {
                bail!("give --database-url postgres://… (or NAZER__DATABASE__URL)");
            };
            let options = bench::Options { database_url, burst, pending, lag_samples, messages, workers, batch };
            bench::deadlines(options).await
        }
        Command::Bench { command: BenchCommand::Search { database_url, messages, queries, vocabulary, seed } } => {
            let Some(database_url) = database_url.or(settings.database.url) else {
                bail!("give --database-url postgres://… (or NAZER__DATABASE__URL)");
            };
            let options = bench_search::Options { database_url, messages, queries, vocabulary, seed };
            tokio::task::spawn_blocking(move || bench_search::run(options)).await?
        }
        Command::Bench { command: BenchCommand::Areas { grid, district_cells, lookups, baseline_lookups, seed } } => {
            bench_areas::run(&bench_areas::Options { grid, district_cells, lookups, baseline_lookups, seed })
        }
    }
}

async fn up(mut settings: Settings, entries: Vec<ServiceEntry>, demo: bool) -> anyhow::Result<()> {
    let all = entries.len() == ALL.len();
    if !all && settings.broker.url.is_none() {
        let names: Vec<&str> = entries.iter().map(|e| e.name).collect();
        bail!(
            "running only {} needs a broker: set NAZER__BROKER__URL=amqp://…; the in-process bus links \
             services inside one process only, and the others would never hear these events",
            names.join(", ")
        );
    }
    if demo {
        // Its webhooks go to its own receiver, on this host's address.
        demo::allow_receiver(&mut settings.webhooks, &settings.http.addr);
    }
    let options = HostOptions {
        migrate: true,
        in_process_bus: all,
        extra_routes: demo.then_some(demo::receiver_routes),
        seeding: true,
        demo,
    };
    let settings_for_keys = settings.clone();
    let host = runtime::start(settings, &entries, options, system_clock()).await?;
    // Not ready until this is done (the demo's keys, the default calendar, resealed reporters);
    // if it fails, the host is stopped properly before the error is reported.
    if let Err(error) = seed_after_start(&host, &entries, &settings_for_keys, demo).await {
        host.stop().await;
        return Err(error);
    }
    host.seeded();
    host.wait().await?;
    Ok(())
}

async fn seed_after_start(
    host: &runtime::RunningHost,
    entries: &[ServiceEntry],
    settings: &Settings,
    demo: bool,
) -> anyhow::Result<()> {
    let hosts = |service: &ServiceEntry| entries.iter().any(|e| e.name == service.name);
    if hosts(&nazer_deadline_timer::SERVICE) {
        seed_reference(&host.db).await?;
    }
    if hosts(&nazer_violation_referral::SERVICE) {
        seed_violation_types(&host.db).await?;
    }
    let mut resealing = Vec::new();
    if hosts(&nazer_intake::SERVICE) {
        resealing.push(Sealed::ReporterIdentities);
    }
    if hosts(&nazer_notification::SERVICE) {
        resealing.push(Sealed::WebhookSecrets);
    }
    if resealing.is_empty() && !demo {
        return Ok(());
    }
    // Read once: on the embedded default it is a key file beside the database.
    let keys = SealingKeys::from_settings(settings)?;
    for what in resealing {
        let done = what.reseal(&host.db, keys.clone()).await?;
        if done.rewritten > 0 {
            tracing::info!(rewritten = done.rewritten, "{} sealed under the active key", what.noun());
        }
        if !done.unreadable.is_empty() {
            tracing::error!(rows = done.unreadable.len(), first = %done.unreadable[0],
                "{} no configured key opens; restore the key that sealed them", what.noun());
        }
    }
    if hosts(&nazer_intake::SERVICE) {
        let search_key = SearchKey::from_settings(settings)?;
        let done = index_for_search(&host.db, search_key, keys.clone()).await?;
        if done.messages + done.reporters > 0 {
            tracing::info!(messages = done.messages, reporters = done.reporters, "stored messages indexed for search");
        }
        if !done.unreadable.is_empty() {
            tracing::error!(rows = done.unreadable.len(), first = %done.unreadable[0],
                "reporters no configured key opens are not indexed for search; restore the key that sealed them");
        }
    }
    if demo {
        let receiver = demo::receiver_base(&host.addr.to_string());
        demo::seed(&host.db, keys, &receiver, chrono::Utc::now()).await?;
        demo::print_banner(host.addr);
    }
    Ok(())
}

/// What is kept sealed at rest, and resealed when a key retires (or sealed if stored before).
#[derive(Clone, Copy)]
enum Sealed {
    ReporterIdentities,
    WebhookSecrets,
    Officials,
}

impl Sealed {
    const ALL: [Sealed; 3] = [Sealed::ReporterIdentities, Sealed::WebhookSecrets, Sealed::Officials];

    fn noun(self) -> &'static str {
        match self {
            Self::ReporterIdentities => "reporter identities",
            Self::WebhookSecrets => "webhook signing secrets",
            Self::Officials => "officials named in culpability findings",
        }
    }

    /// How `nazer migrate` counts them, and what their unreadable rows are named by.
    fn rows_and_owners(self) -> (&'static str, &'static str) {
        match self {
            Self::ReporterIdentities => ("reporter row(s)", "messages"),
            Self::WebhookSecrets => ("webhook secret(s)", "subscriptions"),
            Self::Officials => ("finding(s)", "violation cases"),
        }
    }

    async fn reseal(self, db: &Db, keys: SealingKeys) -> anyhow::Result<Resealed> {
        Ok(match self {
            Self::ReporterIdentities => db.run(move |conn| nazer_intake::sealing::reseal_all(conn, &keys)).await?,
            Self::WebhookSecrets => db.run(move |conn| nazer_notification::store::reseal_secrets(conn, &keys)).await?,
            Self::Officials => {
                db.run(move |conn| nazer_violation_referral::tracks::culpability_store::reseal_officials(conn, &keys))
                    .await?
            }
        })
    }
}

/// Indexes for search what was stored before search (the words of messages, the blind index
/// of reporters' mobiles and national IDs).
async fn index_for_search(db: &Db, search_key: SearchKey, keys: SealingKeys) -> anyhow::Result<Indexed> {
    Ok(db.run(move |conn| nazer_intake::search::index_all(conn, &search_key, &keys)).await?)
}

/// The reference data every installation starts with (the default business calendar).
async fn seed_reference(db: &Db) -> anyhow::Result<bool> {
    let now = chrono::Utc::now();
    Ok(db.write(move |conn| nazer_deadline_timer::seed_reference(conn, now)).await?)
}

/// The shipped counterpart units and violation types that are absent (an admin's edits are kept).
async fn seed_violation_types(db: &Db) -> anyhow::Result<nazer_violation_referral::types::store::Seeded> {
    let now = chrono::Utc::now();
    Ok(db.write(move |conn| nazer_violation_referral::types::store::seed_catalogue(conn, now)).await?)
}

async fn migrate(settings: &Settings, drop_superseded_bindings: bool) -> anyhow::Result<()> {
    let db = Db::open(&settings.database)?;
    let applied = db.migrate()?;
    println!("database: {applied} migration(s) applied");
    if seed_reference(&db).await? {
        println!("database: the default business calendar stored");
    }
    let seeded = seed_violation_types(&db).await?;
    if seeded.units + seeded.types > 0 {
        println!("database: {} shipped counterpart unit(s), {} violation type(s) stored", seeded.units, seeded.types);
    }
    match SealingKeys::from_settings(settings) {
        Ok(keys) => {
            for what in Sealed::ALL {
                let done = what.reseal(&db, keys.clone()).await?;
                let (rows, owners) = what.rows_and_owners();
                println!("database: {} {rows} sealed under the active key", done.rewritten);
                if !done.unreadable.is_empty() {
                    println!(
                        "database: {} {rows} open with no configured key ({owners} {}); keep the key that \
                         sealed them until they are resealed",
                        done.unreadable.len(),
                        done.unreadable.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                    );
                }
            }
        }
        Err(error) => println!("database: reporter identities, webhook secrets and officials not resealed ({error})"),
    }
    match (SearchKey::from_settings(settings), SealingKeys::from_settings(settings)) {
        (Ok(search_key), Ok(keys)) => {
            let done = index_for_search(&db, search_key, keys).await?;
            println!(
                "database: {} message(s) and {} reporter row(s) indexed for search",
                done.messages, done.reporters
            );
            if !done.unreadable.is_empty() {
                println!(
                    "database: {} reporter row(s) open with no configured key (messages {}); not indexed for search",
                    done.unreadable.len(),
                    done.unreadable.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
                );
            }
        }
        (Err(error), _) => println!("database: stored messages not indexed for search ({error})"),
        (_, Err(error)) => println!("database: stored messages not indexed for search ({error})"),
    }
    if let Some(url) = &settings.broker.url {
        let bus = RabbitBus::new(url, &settings.broker);
        bus.declare_topology(&bindings()).await?;
        println!("broker: exchanges and queues declared under `{}`", settings.broker.namespace);
        if drop_superseded_bindings {
            let dropped = bus.drop_superseded_bindings(&bindings()).await?;
            println!("broker: {dropped} superseded binding(s) dropped");
        }
    }
    Ok(())
}
