//! `nazer calendar due`: the deadline engine's arithmetic from the command line.

use std::path::Path;

use anyhow::{Context, bail};
use nazer_deadline_timer::areas::AreaPaths;
use nazer_deadline_timer::areas::store as area_store;
use nazer_deadline_timer::calendar::{Calendar, CalendarDocument};
use nazer_deadline_timer::deadlines::due_question::DueQuestion;
use nazer_shared::config::Settings;
use nazer_shared::db::{Db, DbConnection};
use nazer_shared::iran;

/// The configured database, migrated to this version; None when there is none.
fn database(settings: &Settings) -> anyhow::Result<Option<Db>> {
    if settings.database.url.is_none() && !Path::new(nazer_shared::db::EMBEDDED_DATABASE_PATH).exists() {
        return Ok(None);
    }
    let db = Db::open(&settings.database)?;
    if db.has_pending_migrations()? {
        bail!("the database schema is behind this version: run `nazer migrate` first");
    }
    Ok(Some(db))
}

/// A calendar file, or else the id of a calendar stored in the database.
fn load(source: &str, conn: Option<&mut DbConnection>) -> anyhow::Result<Calendar> {
    let file = Path::new(source);
    if file.is_file() {
        return from_file(file);
    }
    let Some(conn) = conn else {
        bail!("`{source}` is not a calendar file, and there is no database to look it up in (NAZER__DATABASE__URL)");
    };
    nazer_deadline_timer::calendar::store::find_calendar(conn, source)?
        .with_context(|| format!("`{source}` is neither a calendar file nor the id of a stored calendar"))
}

/// Where `area` lies, from the database's known areas; a province is known without one.
fn known_areas(area: Option<&str>, conn: Option<&mut DbConnection>) -> anyhow::Result<AreaPaths> {
    match (area, conn) {
        (None, _) => Ok(AreaPaths::new()),
        (Some(area), Some(conn)) => Ok(area_store::paths_of(conn, [area])?),
        (Some(area), None) if iran::is_province(area) => Ok(AreaPaths::from([(area.to_string(), vec![area.into()])])),
        (Some(area), None) => {
            bail!("--area `{area}` is looked up in the database's areas, and there is none (NAZER__DATABASE__URL)")
        }
    }
}

/// The due instant for a message of `province` or, more precisely, located in `area` (any
/// level: the closures of that area and of every area above it apply).
pub fn due_in(
    source: &str,
    settings: &Settings,
    start: &str,
    budget: &str,
    province: Option<&str>,
    area: Option<&str>,
) -> anyhow::Result<String> {
    let needs_database = !Path::new(source).is_file() || area.is_some_and(|a| !iran::is_province(a));
    let db = if needs_database { database(settings)? } else { None };
    let mut conn = db.as_ref().map(Db::get).transpose()?;
    let known = known_areas(area, conn.as_deref_mut())?;
    let question = DueQuestion::parse(Some(start), Some(budget), province, area, &known).map_err(|issues| {
        let lines: Vec<String> = issues.iter().map(|i| format!("  --{}: {}", i.field, i.problem)).collect();
        anyhow::anyhow!("cannot answer:\n{}", lines.join("\n"))
    })?;
    let calendar = load(source, conn.as_deref_mut())?;
    let due = calendar.due(question.start, question.budget, &question.area_path)?;
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
