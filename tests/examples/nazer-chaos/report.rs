//! The campaign's tables: one row per scenario, and per fault its recovery and the longest
//! delays it caused.

use std::fmt::Write;

/// The longest delays (seconds) among the work a fault touched.
#[derive(Debug, Clone, Default)]
pub struct Delays {
    /// An event written to an outbox → published (the relay's lease held it).
    pub published: f64,
    /// The service whose event waited longest to be published.
    pub publisher: &'static str,
    /// The longest each service's events waited to be published.
    pub by_publisher: Vec<(&'static str, f64)>,
    /// An event written → consumed, by whichever consumer took longest.
    pub consumed: f64,
    /// The consumer that took longest.
    pub consumer: &'static str,
    /// The longest each consumer took.
    pub by_consumer: Vec<(&'static str, f64)>,
    /// message.assigned written → deadline-timer consumed it (the clock started).
    pub clock: f64,
    /// A warning's due instant → its registration.
    pub fire: f64,
    /// An event written → its webhook first received.
    pub webhook: f64,
    /// A webhook's first receipt → the same event received again.
    pub resend: f64,
}

impl Delays {
    /// The longest of them, and which.
    /// The longest `consumer` took.
    pub fn consumed_by(&self, consumer: &str) -> f64 {
        self.by_consumer.iter().find(|(c, _)| *c == consumer).map(|(_, s)| *s).unwrap_or(0.0)
    }

    /// The longest delay of work a killed instance of `service` held, and which: its outbox
    /// rows not published, and as deadline-timer a clock not started or a warning not fired, as
    /// notification a webhook sent again. What other services do meanwhile waits on the load,
    /// not on the killed process; consuming and first deliveries also wait for the backlog the
    /// outage left, which recovery measures.
    pub fn held(&self, service: &str) -> (f64, String) {
        let published = self.by_publisher.iter().find(|(s, _)| *s == service).map_or(0.0, |(_, secs)| *secs);
        let mut held = vec![(published, format!("{service} publish"))];
        if service == nazer_shared::topology::DEADLINE_TIMER {
            held.push((self.clock, "clock start".into()));
            held.push((self.fire, "warning fire".into()));
        }
        if service == nazer_shared::topology::NOTIFICATION {
            held.push((self.resend, "webhook re-send".into()));
        }
        held.into_iter().fold((0.0, "none".into()), |best, item| if item.0 > best.0 { item } else { best })
    }

    pub fn longest(&self) -> (f64, String) {
        [
            (self.published, format!("{} publish", self.publisher)),
            (self.consumed, format!("{} consume", self.consumer)),
            (self.clock, "clock start".into()),
            (self.fire, "warning fire".into()),
            (self.webhook, "webhook".into()),
            (self.resend, "webhook re-send".into()),
        ]
        .into_iter()
        .fold((0.0, "none".into()), |best, item| if item.0 > best.0 { item } else { best })
    }
}

#[derive(Debug, Clone)]
pub struct FaultRow {
    pub label: String,
    /// The service a kill -9 stopped, if the fault was one.
    pub killed: Option<&'static str>,
    /// Seconds from the start of the load.
    pub at: f64,
    pub lasted: f64,
    pub recovery: Option<f64>,
    pub delays: Delays,
}

#[derive(Debug, Clone, Default)]
pub struct Row {
    pub scenario: String,
    pub accepted: usize,
    pub stored: i64,
    pub assigned: i64,
    pub triaged: i64,
    pub warnings_expected: i64,
    pub warnings_registered: i64,
    pub warnings_doubled: i64,
    pub reminders_expected: i64,
    pub reminders_sent: i64,
    pub webhooks_unique: usize,
    pub webhooks_duplicate: usize,
    pub parked: i64,
    pub failing_5xx: u64,
    pub unavailable_503: u64,
    pub recovery: Option<f64>,
    pub lost: i64,
    pub doubled: i64,
    pub faults: Vec<FaultRow>,
    /// The same delays for the work written before the first fault, for comparison.
    pub baseline: Option<Delays>,
    pub notes: Vec<String>,
    pub failures: Vec<String>,
    /// Why the scenario did not run on this machine.
    pub skipped: Option<String>,
    pub seconds: f64,
}

impl Row {
    pub fn skipped(scenario: &str, why: String) -> Self {
        Self { scenario: scenario.into(), skipped: Some(why), ..Self::default() }
    }

    pub fn aborted(scenario: &str, why: String, seconds: f64) -> Self {
        Self { scenario: scenario.into(), failures: vec![format!("aborted: {why}")], seconds, ..Self::default() }
    }

    pub fn verdict(&self) -> &'static str {
        if self.skipped.is_some() {
            "SKIPPED"
        } else if self.failures.is_empty() {
            "ok"
        } else {
            "FAILED"
        }
    }
}

fn seconds(value: Option<f64>) -> String {
    value.map(|s| format!("{s:.1}")).unwrap_or_else(|| "never".into())
}

const HEADER: [&str; 15] = [
    "scenario",
    "accepted",
    "stored",
    "assigned/triaged",
    "warnings exp/reg/dbl",
    "reminders exp/sent",
    "webhooks uniq/dup",
    "parked",
    "5xx",
    "503+RA",
    "recovery s",
    "lost",
    "doubled",
    "time s",
    "result",
];

fn cells(row: &Row) -> Vec<String> {
    if let Some(why) = &row.skipped {
        let mut cells = vec![row.scenario.clone()];
        cells.extend(std::iter::repeat_n("-".to_string(), HEADER.len() - 2));
        cells.push(format!("SKIPPED ({why})"));
        return cells;
    }
    vec![
        row.scenario.clone(),
        row.accepted.to_string(),
        row.stored.to_string(),
        format!("{}/{}", row.assigned, row.triaged),
        format!("{}/{}/{}", row.warnings_expected, row.warnings_registered, row.warnings_doubled),
        format!("{}/{}", row.reminders_expected, row.reminders_sent),
        format!("{}/{}", row.webhooks_unique, row.webhooks_duplicate),
        row.parked.to_string(),
        row.failing_5xx.to_string(),
        row.unavailable_503.to_string(),
        if row.faults.is_empty() { "-".into() } else { seconds(row.recovery) },
        row.lost.to_string(),
        row.doubled.to_string(),
        format!("{:.0}", row.seconds),
        row.verdict().into(),
    ]
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out.push('\n');
    out.push_str(&widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>().join("-|-"));
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.clone()));
    }
    out
}

/// The summary table of every scenario run.
pub fn summary(rows: &[Row]) -> String {
    table(&HEADER, &rows.iter().map(cells).collect::<Vec<_>>())
}

/// One scenario in detail: its row, each fault, its notes and failures.
pub fn detail(row: &Row) -> String {
    let mut out = summary(std::slice::from_ref(row));
    if !row.faults.is_empty() {
        let header = [
            "fault",
            "at s",
            "lasted s",
            "recovery s",
            "publish",
            "consume",
            "clock",
            "fire",
            "webhook",
            "re-send",
            "longest",
        ];
        let baseline = row.baseline.iter().map(|delays| FaultRow {
            label: "(before the first fault)".into(),
            killed: None,
            at: 0.0,
            lasted: 0.0,
            recovery: None,
            delays: delays.clone(),
        });
        let rows: Vec<Vec<String>> = baseline
            .chain(row.faults.iter().cloned())
            .map(|f| {
                let d = &f.delays;
                let (longest, what) = d.longest();
                vec![
                    f.label.clone(),
                    format!("{:.1}", f.at),
                    format!("{:.1}", f.lasted),
                    if f.label.starts_with('(') { "-".into() } else { seconds(f.recovery) },
                    format!("{:.1}", d.published),
                    if d.consumed > 0.0 { format!("{:.1} {}", d.consumed, d.consumer) } else { "0.0".into() },
                    format!("{:.1}", d.clock),
                    format!("{:.1}", d.fire),
                    format!("{:.1}", d.webhook),
                    format!("{:.1}", d.resend),
                    format!("{longest:.1} ({what})"),
                ]
            })
            .collect();
        let _ = write!(out, "\n\nlongest delay each fault caused, in seconds:\n{}", table(&header, &rows));
    }
    for note in &row.notes {
        let _ = write!(out, "\nnote: {note}");
    }
    for failure in &row.failures {
        let _ = write!(out, "\nFAIL: {failure}");
    }
    out
}
