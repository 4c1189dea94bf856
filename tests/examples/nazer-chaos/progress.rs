//! Whether the flow has caught up, read from the database: the oldest piece of work not done
//! yet (a message not assigned, an event not published, or not consumed by one of its
//! consumers). A fault has recovered once everything from before its end is done.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::stack::Stack;

/// A literal of a stored instant (UTC, without offset, as the services store them).
pub fn sql_time(at: NaiveDateTime) -> String {
    format!("'{}'::timestamp", at.format("%Y-%m-%d %H:%M:%S%.6f"))
}

/// Every (consumer, binding) of the messaging contract, as a SQL `VALUES` list.
fn contract() -> String {
    crate::support::SERVICES
        .iter()
        .flat_map(|service| (service.consumes)().into_iter().map(move |b| format!("('{}', '{b}')", service.name)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The outbox events `o` each consumer `c` is bound to: a binding is an event type, the type
/// and one subject kind (the routing key of a clock event about another subject), or the type
/// and `#` (every routing key of the type).
fn bound_events() -> String {
    format!(
        "JOIN (VALUES {}) AS c (consumer, binding) \
           ON (c.binding = o.event_type OR starts_with(c.binding, o.event_type || '.')) \
          AND (c.binding = o.event_type || '.#' OR c.binding = o.event_type \
               || COALESCE('.' || (o.envelope::jsonb #>> '{{payload,subject,kind}}'), ''))",
        contract()
    )
}

/// The instant (epoch milliseconds) of the oldest unfinished work, `i64::MAX` when none.
pub fn oldest_unfinished_query() -> String {
    format!(
        "SELECT COALESCE((EXTRACT(EPOCH FROM min(at)) * 1000)::bigint, 9223372036854775807) AS n FROM (\
           SELECT m.received_at AS at FROM messages m \
             WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.message_id = m.id) \
           UNION ALL SELECT created_at FROM outbox WHERE published_at IS NULL \
           UNION ALL SELECT o.created_at FROM outbox o {} \
             WHERE NOT EXISTS (SELECT 1 FROM inbox i WHERE i.consumer = c.consumer AND i.event_id = o.event_id)\
         ) AS unfinished",
        bound_events()
    )
}

/// What is still to do, for a report of a hang.
pub fn backlog_queries() -> Vec<(&'static str, String)> {
    vec![
        (
            "messages not assigned",
            "SELECT count(*) AS n FROM messages m WHERE NOT EXISTS \
             (SELECT 1 FROM assignments a WHERE a.message_id = m.id)"
                .into(),
        ),
        ("events not published", "SELECT count(*) AS n FROM outbox WHERE published_at IS NULL".into()),
        (
            "events not consumed",
            format!(
                "SELECT count(*) AS n FROM outbox o {} WHERE NOT EXISTS \
                 (SELECT 1 FROM inbox i WHERE i.consumer = c.consumer AND i.event_id = o.event_id)",
                bound_events()
            ),
        ),
        ("deadlines with a step to come", "SELECT count(*) AS n FROM deadlines WHERE next_fire_at IS NOT NULL".into()),
        ("webhook deliveries pending", "SELECT count(*) AS n FROM deliveries WHERE state = 'pending'".into()),
    ]
}

/// One fault of a scenario, from its start to its end, and when the flow caught up with it.
#[derive(Debug, Clone)]
pub struct Fault {
    pub label: String,
    /// The service a kill -9 stopped (an instance of it), for the work it held.
    pub killed: Option<&'static str>,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    /// Seconds from the end of the fault until every message accepted before it was
    /// assigned and every event written before it was published and consumed.
    pub recovery: Option<f64>,
}

impl Fault {
    /// How long the fault lasted (so far).
    pub fn lasted_secs(&self) -> f64 {
        (self.ended.unwrap_or_else(Utc::now) - self.started).num_milliseconds() as f64 / 1000.0
    }
}

/// The faults of a scenario, and a task that watches them recover.
#[derive(Clone)]
pub struct Faults {
    list: Arc<Mutex<Vec<Fault>>>,
    origin: std::time::Instant,
}

impl Default for Faults {
    fn default() -> Self {
        Self { list: Arc::default(), origin: std::time::Instant::now() }
    }
}

impl Faults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fault begins now; its index.
    pub fn begin(&self, label: &str) -> usize {
        self.begin_fault(label, None)
    }

    /// An instance of `service` is killed now; the fault's index.
    pub fn begin_kill(&self, label: &str, service: &'static str) -> usize {
        self.begin_fault(label, Some(service))
    }

    fn begin_fault(&self, label: &str, killed: Option<&'static str>) -> usize {
        println!("{:>7.1} s  {label}", self.origin.elapsed().as_secs_f64());
        let mut list = self.lock();
        list.push(Fault { label: label.to_string(), killed, started: Utc::now(), ended: None, recovery: None });
        list.len() - 1
    }

    pub fn end(&self, index: usize) {
        if let Some(fault) = self.lock().get_mut(index) {
            fault.ended = Some(Utc::now());
            println!("{:>7.1} s  {}: over", self.origin.elapsed().as_secs_f64(), fault.label);
        }
    }

    pub fn all(&self) -> Vec<Fault> {
        self.lock().clone()
    }

    /// True when every ended fault has recovered.
    pub fn all_recovered(&self) -> bool {
        self.lock().iter().all(|f| f.ended.is_none() || f.recovery.is_some())
    }

    /// Polls the database until `stop`, marking each ended fault recovered at the first poll,
    /// begun after its end, that finds nothing unfinished from before it.
    pub fn watch(&self, stack: &Stack, stop: tokio_util::sync::CancellationToken) -> tokio::task::JoinHandle<()> {
        let (faults, db, query) = (self.clone(), stack.db.clone(), oldest_unfinished_query());
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let asked = Utc::now();
                let (db, query) = (db.clone(), query.clone());
                let oldest = tokio::task::spawn_blocking(move || {
                    let mut conn = db.get()?;
                    nazer_shared::db::count_rows(&mut conn, &query)
                })
                .await;
                if let Ok(Ok(oldest)) = oldest {
                    let answered = Utc::now();
                    for fault in faults.lock().iter_mut() {
                        if let Some(ended) = fault.ended
                            && fault.recovery.is_none()
                            && ended < asked
                            && ended.timestamp_millis() < oldest
                        {
                            fault.recovery = Some((answered - ended).num_milliseconds() as f64 / 1000.0);
                        }
                    }
                }
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        })
    }
}
