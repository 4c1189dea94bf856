//! `nazer calendar due`: the deadline engine's arithmetic from the command line.

use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use nazer_deadline_timer::calendar::{Budget, Calendar, CalendarDocument};

pub fn due(file: &Path, start: &str, budget: &str, province: Option<&str>) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let document: CalendarDocument =
        serde_json::from_str(&text).with_context(|| format!("{} is not a calendar document", file.display()))?;
    let calendar = match Calendar::from_document(document) {
        Ok(calendar) => calendar,
        Err(issues) => {
            let lines: Vec<String> = issues.iter().map(|i| format!("  {}: {}", i.field, i.problem)).collect();
            bail!("{} is not a valid calendar:\n{}", file.display(), lines.join("\n"));
        }
    };
    let start: DateTime<Utc> = DateTime::parse_from_rfc3339(start)
        .with_context(|| format!("--start `{start}` is not RFC 3339, e.g. 2026-11-29T10:00:00+03:30"))?
        .with_timezone(&Utc);
    let budget = Budget::parse(budget).context("--budget")?;
    if let Some(code) = province
        && !nazer_shared::iran::is_province(code)
    {
        bail!("--province `{code}` is not a province code; use one of: {}", nazer_shared::iran::province_codes());
    }
    let due = calendar.due(start, budget, province)?;
    Ok(calendar.local_rfc3339(due))
}
