//! Reconciliation once the flow is quiet: what the database holds (intake's messages,
//! routing's assignments, deadline-timer's deadlines, warnings and reminders, the outboxes and
//! inboxes, parked events) against what the load had accepted and the receiver got.

use std::collections::HashMap;

use anyhow::{Result, bail};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::sql_types::{Text, Timestamp};
use nazer_shared::db::DbConnection;
use nazer_shared::topology;

use crate::faults::Broker;
use crate::load::LoadReport;
use crate::progress::{Fault, sql_time};
use crate::receiver::Receipt;
use crate::report::{Delays, FaultRow, Row};
use crate::stack::Stack;

#[derive(diesel::QueryableByName)]
struct Written {
    #[diesel(sql_type = Text)]
    event_id: String,
    #[diesel(sql_type = Timestamp)]
    created_at: NaiveDateTime,
}

/// Every event notification turns into webhooks (one agency, subscribed to everything).
pub fn webhook_events_query() -> String {
    let types: Vec<String> = nazer_notification::heard().iter().map(|t| format!("'{t}'")).collect();
    format!("SELECT event_id, created_at FROM outbox WHERE event_type IN ({})", types.join(", "))
}

fn webhook_events(conn: &mut DbConnection) -> Result<Vec<Written>> {
    let DbConnection::Pg(pg) = conn else { bail!("the campaign runs on PostgreSQL") };
    Ok(diesel::RunQueryDsl::load(diesel::sql_query(webhook_events_query()), pg)?)
}

/// Receipts per event id, in order of arrival.
fn by_event(receipts: &[Receipt]) -> HashMap<&str, Vec<DateTime<Utc>>> {
    let mut events: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
    for receipt in receipts {
        events.entry(receipt.event_id.as_str()).or_default().push(receipt.at);
    }
    for times in events.values_mut() {
        times.sort();
    }
    events
}

/// What one scenario expects beyond the flow of its messages.
pub struct Expect {
    /// Reminders per clock (the policy's reminder fractions).
    pub reminders: i64,
    /// Events deliberately parked (the poison scenario).
    pub parked: i64,
    /// Whether a skipped reminder is a loss. A reminder overtaken by its warning is skipped by
    /// design; only an outage longer than the reminder's lead can make that happen.
    pub every_reminder: bool,
}

/// The largest of `seconds` (an expression) over `rows` (a FROM clause), in milliseconds.
fn max_ms(seconds: &str, rows: &str) -> String {
    format!("SELECT COALESCE((max({seconds}) * 1000)::bigint, 0) AS n FROM {rows}")
}

/// The longest delays among the work written in `[from, until)`.
async fn delays(
    stack: &Stack,
    written: &[Written],
    receipts: &HashMap<&str, Vec<DateTime<Utc>>>,
    from: NaiveDateTime,
    until: NaiveDateTime,
) -> Result<Delays> {
    let window = |column: &str| format!("{column} >= {} AND {column} < {}", sql_time(from), sql_time(until));
    let lag = "EXTRACT(EPOCH FROM (i.processed_at - o.created_at))";
    // Per service, to name the one that held the work.
    let (mut published, mut publisher, mut consumed, mut consumer) = (0, "", 0, "");
    let (mut by_consumer, mut by_publisher) = (Vec::new(), Vec::new());
    for service in topology::SERVICES {
        let rows = format!("outbox WHERE producer = '{service}' AND {}", window("created_at"));
        let ms = stack.count(max_ms("EXTRACT(EPOCH FROM (published_at - created_at))", &rows)).await?;
        by_publisher.push((service, ms as f64 / 1000.0));
        if ms > published {
            (published, publisher) = (ms, service);
        }
        let rows = format!(
            "outbox o JOIN inbox i ON i.event_id = o.event_id AND i.consumer = '{service}' WHERE {}",
            window("o.created_at")
        );
        let ms = stack.count(max_ms(lag, &rows)).await?;
        by_consumer.push((service, ms as f64 / 1000.0));
        if ms > consumed {
            (consumed, consumer) = (ms, service);
        }
    }
    // The clock starts when deadline-timer consumes the assignment (one database for all).
    let clock = stack
        .count(max_ms(
            lag,
            &format!(
                "outbox o JOIN inbox i ON i.event_id = o.event_id AND i.consumer = '{}' \
                 WHERE o.event_type = 'message.assigned' AND {}",
                topology::DEADLINE_TIMER,
                window("o.created_at")
            ),
        ))
        .await?;
    let fire = stack
        .count(max_ms("EXTRACT(EPOCH FROM (issued_at - due_at))", &format!("warnings WHERE {}", window("due_at"))))
        .await?;
    let mut webhook = 0.0f64;
    for event in written.iter().filter(|e| e.created_at >= from && e.created_at < until) {
        if let Some(first) = receipts.get(event.event_id.as_str()).and_then(|t| t.first()) {
            webhook = webhook.max((first.naive_utc() - event.created_at).num_milliseconds() as f64 / 1000.0);
        }
    }
    let mut resend = 0.0f64;
    for times in receipts.values().filter(|t| t.len() > 1) {
        let first = times[0].naive_utc();
        if first >= from && first < until {
            resend = resend.max((times[1] - times[0]).num_milliseconds() as f64 / 1000.0);
        }
    }
    let seconds = |ms: i64| ms as f64 / 1000.0;
    Ok(Delays {
        published: seconds(published),
        publisher,
        by_publisher,
        consumed: seconds(consumed),
        consumer,
        by_consumer,
        clock: seconds(clock),
        fire: seconds(fire),
        webhook,
        resend,
    })
}

/// Counts `keys` among the stored messages' idempotency keys.
async fn stored_among(stack: &Stack, keys: &[String]) -> Result<i64> {
    let mut stored = 0;
    for chunk in keys.chunks(1000) {
        // The keys are the load's own (`<scenario>-<n>`), so they can be written inline.
        let list: Vec<String> = chunk.iter().map(|k| format!("'{}'", k.replace('\'', ""))).collect();
        stored += stack
            .count(format!("SELECT count(*) AS n FROM messages WHERE idempotency_key IN ({})", list.join(", ")))
            .await?;
    }
    Ok(stored)
}

/// The scenario's row: counts, losses, doubles, and each fault's recovery and delays.
pub async fn reconcile(
    stack: &Stack,
    broker: &Broker,
    load: &LoadReport,
    receipts: &[Receipt],
    faults: &[Fault],
    load_started: DateTime<Utc>,
    expect: &Expect,
) -> Result<Row> {
    let mut row = Row { accepted: load.accepted.len(), ..Row::default() };
    let count = |query: &str| stack.count(query.to_string());
    row.stored = count("SELECT count(*) AS n FROM messages").await?;
    let stored_accepted = stored_among(stack, &load.accepted).await?;
    let doubled_messages =
        count("SELECT count(*) - count(DISTINCT idempotency_key) AS n FROM messages WHERE idempotency_key IS NOT NULL")
            .await?;
    row.assigned = count("SELECT count(*) AS n FROM assignments WHERE state = 'assigned'").await?;
    row.triaged = count("SELECT count(*) AS n FROM assignments WHERE state = 'triage'").await?;
    let unrouted = count(
        "SELECT count(*) AS n FROM messages m WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.message_id = m.id)",
    )
    .await?;
    // Intake's read model must know each assignment too.
    let unprojected = count(
        "SELECT count(*) AS n FROM assignments a JOIN messages m ON m.id = a.message_id \
         WHERE a.state = 'assigned' AND m.assigned_agency_id IS NULL",
    )
    .await?;
    let clocks = count("SELECT count(DISTINCT message_id) AS n FROM deadlines").await?;
    let doubled_clocks = count("SELECT count(*) - count(DISTINCT message_id) AS n FROM deadlines").await?;
    row.warnings_expected = row.assigned;
    row.warnings_registered = count("SELECT count(DISTINCT message_id) AS n FROM warnings").await?;
    row.warnings_doubled = count(
        "SELECT GREATEST((SELECT count(*) FROM warnings), \
           (SELECT count(*) FROM outbox WHERE event_type = 'warning.issued')) \
         - (SELECT count(DISTINCT message_id) FROM warnings) AS n",
    )
    .await?;
    row.reminders_expected = row.assigned * expect.reminders;
    let reminder_key =
        "(envelope::json -> 'payload' ->> 'deadline_id') || '/' || (envelope::json -> 'payload' ->> 'fraction')";
    row.reminders_sent = count(&format!(
        "SELECT count(DISTINCT {reminder_key}) AS n FROM outbox WHERE event_type = 'deadline.reminder'"
    ))
    .await?;
    let doubled_reminders = count(&format!(
        "SELECT count(*) - count(DISTINCT {reminder_key}) AS n FROM outbox WHERE event_type = 'deadline.reminder'"
    ))
    .await?;

    let db = stack.db.clone();
    let written = tokio::task::spawn_blocking(move || -> Result<Vec<Written>> {
        let mut conn = db.get()?;
        webhook_events(&mut conn)
    })
    .await??;
    let received = by_event(receipts);
    row.webhooks_unique = received.len();
    row.webhooks_duplicate = receipts.len() - received.len();
    let webhooks_missing = written.iter().filter(|e| !received.contains_key(e.event_id.as_str())).count() as i64;
    let unsigned = receipts.iter().filter(|r| !r.signed).count();

    let parked_queues: i64 = match broker.queues().await {
        Ok(queues) => queues.iter().filter(|q| q.name.ends_with(".parked")).map(|q| q.ready as i64).sum(),
        Err(error) => {
            row.failures.push(format!("parking queues not read: {error}"));
            0
        }
    };
    row.parked = parked_queues + count("SELECT count(*) AS n FROM parked_events").await?;

    row.failing_5xx = load.failing_5xx();
    row.unavailable_503 = load.unavailable;
    let lost = [
        ("accepted messages not stored", load.accepted.len() as i64 - stored_accepted),
        ("messages never routed", unrouted),
        ("assignments intake never learnt", unprojected),
        ("assigned messages without a clock", row.assigned - clocks),
        ("warnings missing", row.warnings_expected - row.warnings_registered),
        ("webhook events never received", webhooks_missing),
        ("events parked", row.parked - expect.parked),
    ];
    let doubled = [
        ("messages stored twice", doubled_messages),
        ("clocks started twice", doubled_clocks),
        ("warnings registered or announced twice", row.warnings_doubled),
        ("reminders sent twice", doubled_reminders),
    ];
    let skipped = row.reminders_expected - row.reminders_sent;
    let lost: Vec<(&str, i64)> = if expect.every_reminder {
        lost.into_iter().chain([("reminders skipped or missing", skipped)]).collect()
    } else {
        if skipped != 0 {
            row.notes.push(format!(
                "{skipped} reminders skipped: overtaken by their warning after an outage longer than the \
                 reminder's lead (by design)"
            ));
        }
        lost.to_vec()
    };
    row.lost = lost.iter().map(|(_, n)| (*n).max(0)).sum();
    row.doubled = doubled.iter().map(|(_, n)| (*n).max(0)).sum();
    for (what, n) in lost.iter().chain(&doubled).filter(|(_, n)| *n != 0) {
        row.failures.push(format!("{what}: {n}"));
    }
    if unsigned > 0 {
        row.failures.push(format!("{unsigned} webhooks with a bad signature"));
    }
    if row.failing_5xx > 0 {
        row.failures.push(format!(
            "{} answers 5xx ({} other 5xx, {} 503 without Retry-After): {}",
            row.failing_5xx,
            load.server_errors,
            load.unavailable_bare,
            load.examples.join("; ")
        ));
    }
    if load.refused > 0 || load.gave_up > 0 {
        row.failures.push(format!(
            "{} posts refused, {} given up on: {}",
            load.refused,
            load.gave_up,
            load.examples.join("; ")
        ));
    }
    if load.connection_errors > 0 || load.unavailable > 0 {
        row.notes.push(format!(
            "the load retried {} connection failures and {} 503s with Retry-After ({} replays answered 200)",
            load.connection_errors, load.unavailable, load.replayed
        ));
    }

    let instants: Vec<NaiveDateTime> = faults.iter().map(|f| f.started.naive_utc()).collect();
    if let Some(first) = instants.first() {
        let until = *first - chrono::Duration::seconds(3);
        row.baseline = Some(delays(stack, &written, &received, load_started.naive_utc(), until).await?);
    }
    let far = (Utc::now() + chrono::Duration::days(1)).naive_utc();
    for (i, fault) in faults.iter().enumerate() {
        // A fault owns the work written from just before it began (what a killed process had
        // claimed) until a while after it ended, or just before the next fault.
        let margin = chrono::Duration::seconds(3);
        let ended = fault.ended.unwrap_or(fault.started);
        let from = instants[i] - margin;
        let after = ended.naive_utc() + chrono::Duration::seconds(15);
        let until = instants.get(i + 1).map(|next| *next - margin).unwrap_or(far).min(after);
        row.faults.push(FaultRow {
            label: fault.label.clone(),
            killed: fault.killed,
            at: (fault.started - load_started).num_milliseconds() as f64 / 1000.0,
            lasted: (ended - fault.started).num_milliseconds() as f64 / 1000.0,
            recovery: fault.recovery,
            delays: delays(stack, &written, &received, from, until).await?,
        });
    }
    row.recovery = row.faults.iter().map(|f| f.recovery).try_fold(0.0f64, |worst, r| r.map(|r| worst.max(r)));
    Ok(row)
}
