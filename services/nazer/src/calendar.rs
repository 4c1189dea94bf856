//! `nazer calendar due`: the deadline engine's arithmetic from the command line.

use std::path::Path;

use anyhow::{Context, bail};
use nazer_deadline_timer::calendar::{Calendar, CalendarDocument};
use nazer_deadline_timer::deadlines::due_question::DueQuestion;
use nazer_shared::config::Settings;
use nazer_shared::db::Db;

/// A calendar file, or else the id of a calendar stored in the configured database.
fn load(source: &str, settings: &Settings) -> anyhow::Result<Calendar> {
    let file = Path::new(source);
    if file.is_file() {
        return from_file(file);
    }
    if settings.database.url.is_none() && !Path::new(nazer_shared::db::EMBEDDED_DATABASE_PATH).exists() {
        bail!("`{source}` is not a calendar file, and there is no database to look it up in (NAZER__DATABASE__URL)");
    }
    let db = Db::open(&settings.database)?;
    if db.has_pending_migrations()? {
        bail!("the database schema is behind this version: run `nazer migrate` first");
    }
    let mut conn = db.get()?;
    nazer_deadline_timer::calendar::store::find_calendar(&mut conn, source)?
        .with_context(|| format!("`{source}` is neither a calendar file nor the id of a stored calendar"))
}

pub fn due(
    source: &str,
    settings: &Settings,
    start: &str,
    budget: &str,
    province: Option<&str>,
) -> anyhow::Result<String> {
    let question = DueQuestion::parse(Some(start), Some(budget), province).map_err(|issues| {
        let lines: Vec<String> = issues.iter().map(|i| format!("  --{}: {}", i.field, i.problem)).collect();
        anyhow::anyhow!("cannot answer:\n{}", lines.join("\n"))
    })?;
    let calendar = load(source, settings)?;
    let due = calendar.due(question.start, question.budget, question.province.as_deref())?;
    Ok(calendar.local_rfc3339(due))
}

fn from_file(file: &Path) -> anyhow::Result<Calendar> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let document: CalendarDocument =
        serde_json::from_str(&text).with_context(|| format!("{} is not a calendar document", file.display()))?;
    Calendar::from_document(document).or_else(|issues| {
        let lines: Vec<String> = issues.iter().map(|i| format!("  {}: {}", i.field, i.problem)).collect();
        bail!("{} is not a valid calendar:\n{}", file.display(), lines.join("\n"))
    })
}
