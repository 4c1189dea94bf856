//! `nazer import DIR` and `nazer import areas FILE`: reference data loaded into the configured
//! database in one transaction, all or nothing, each record upserted by its code through its
//! service's store as the admin endpoints do it. Routing and the calendars are told of the
//! areas in the same transaction (they also hear `areas.imported` once intake publishes it), so
//! rules and closures naming them can follow at once. Every refusal names the file, the line
//! and the field; `--dry-run` checks everything against the stored data, says what would
//! change, and writes nothing.

mod apply;
mod lines;
pub mod source;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use nazer_shared::db::{Db, DbConnection, DbError};
use nazer_shared::events::AreaSummary;

use apply::Failure;
pub use apply::{FileReport, apply};
use source::{Issue, ReferenceData};

/// Imports every reference-data file of `dir`.
pub async fn directory(db: &Db, dir: &Path, dry_run: bool, now: DateTime<Utc>) -> anyhow::Result<String> {
    let data = source::read_dir(dir).map_err(|issues| anyhow::anyhow!(described(&issues)))?;
    run(db, data, dry_run, now).await
}

/// Imports the areas of one GeoJSON file.
pub async fn areas(db: &Db, file: &Path, dry_run: bool, now: DateTime<Utc>) -> anyhow::Result<String> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("{shown}: cannot be read"))?;
    let areas = source::areas(&shown, &text).map_err(|issues| anyhow::anyhow!(described(&issues)))?;
    run(db, ReferenceData { areas: Some(areas), ..ReferenceData::default() }, dry_run, now).await
}

/// What an import did not write: refused, or a dry run.
enum Unwritten {
    Db(DbError),
    Refused(Vec<Issue>),
    DryRun(Vec<FileReport>),
}

impl From<Failure> for Unwritten {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Db(error) => Self::Db(error),
            Failure::Refused(issues) => Self::Refused(issues),
        }
    }
}

impl From<DbError> for Unwritten {
    fn from(error: DbError) -> Self {
        Self::Db(error)
    }
}

async fn run(db: &Db, data: ReferenceData, dry_run: bool, now: DateTime<Utc>) -> anyhow::Result<String> {
    let written = db
        .write(move |conn| {
            // What every installation starts with, which the data may name: the default
            // calendar, the shipped counterpart units and violation types (when absent).
            nazer_deadline_timer::seed_reference(conn, now)?;
            nazer_violation_referral::types::store::seed_catalogue(conn, now)?;
            let reports = apply(conn, &data, now)?;
            if dry_run { Err(Unwritten::DryRun(reports)) } else { Ok(reports) }
        })
        .await;
    match written {
        Ok(reports) => Ok(summarised(&reports, false)),
        Err(Unwritten::DryRun(reports)) => Ok(summarised(&reports, true)),
        Err(Unwritten::Refused(issues)) => bail!(described(&issues)),
        Err(Unwritten::Db(error)) => Err(error.into()),
    }
}

/// Tells routing and the calendars of `areas` imported at `at`, as `areas.imported` will: rules
/// and closures loaded in the same run may name them at once.
pub fn record_elsewhere(conn: &mut DbConnection, areas: &[AreaSummary], at: DateTime<Utc>) -> Result<(), DbError> {
    nazer_routing::store::record_areas(conn, areas, at)?;
    nazer_deadline_timer::areas::store::record_areas(conn, areas, at)?;
    Ok(())
}

/// Applies `data` in the caller's transaction (the demo's seeding): a refusal, described, is
/// an error like the database's.
pub fn apply_or_refuse(
    conn: &mut DbConnection,
    data: &ReferenceData,
    now: DateTime<Utc>,
) -> Result<Vec<FileReport>, DbError> {
    apply(conn, data, now).map_err(|failure| match failure {
        Failure::Db(error) => error,
        Failure::Refused(issues) => DbError::Refused(described(&issues)),
    })
}

/// Reference data given as texts (the demo's, built in), checked as a directory's would be.
pub fn from_texts(files: &[(&str, &str)]) -> Result<ReferenceData, String> {
    let files: BTreeMap<String, String> = files.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    source::from_texts(&files).map_err(|issues| described(&issues))
}

/// Each file's counts, then its changes one to a line.
fn summarised(reports: &[FileReport], dry_run: bool) -> String {
    let mut text = String::new();
    if dry_run {
        text.push_str("dry run: checked against the stored data, nothing was written\n");
    }
    let (created, updated) = if dry_run { ("to create", "to update") } else { ("created", "updated") };
    for report in reports {
        text.push_str(&format!(
            "{}: {} {}: {} {created}, {} {updated}, {} unchanged\n",
            report.file,
            report.count(),
            report.noun,
            report.created,
            report.updated,
            report.unchanged
        ));
        for change in &report.changes {
            text.push_str(&format!("  {change}\n"));
        }
    }
    text.trim_end().to_string()
}

/// Each issue on a line of its own, `FILE line N: field: problem`, by file and line: the first
/// is the first bad line.
fn described(issues: &[Issue]) -> String {
    let mut sorted: Vec<&Issue> = issues.iter().collect();
    sorted.sort_by_key(|i| (i.file.clone(), i.line.unwrap_or(0)));
    let mut text = String::from("refused, nothing was written:");
    for issue in sorted {
        let place = match issue.line {
            Some(line) => format!("{} line {line}", issue.file),
            None => issue.file.clone(),
        };
        let field = if issue.field.is_empty() { String::new() } else { format!("{}: ", issue.field) };
        text.push_str(&format!("\n  {place}: {field}{}", issue.problem));
    }
    text
}

#[cfg(test)]
mod tests;
