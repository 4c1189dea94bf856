//! `nazer import areas FILE`: loads a GeoJSON FeatureCollection of areas into the configured
//! database, all or nothing, as `PUT /api/v1/areas` does, and tells routing and the calendars
//! of them in the same transaction (they also hear `areas.imported` once intake publishes it),
//! so rules and closures naming them can follow at once. Every refusal names the file, the line
//! of the feature and the field.

use std::path::Path;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use nazer_intake::areas::{Area, store as area_store, tree};
use nazer_shared::db::{Db, DbConnection, DbError, write_transaction};
use nazer_shared::events::AreaSummary;
use nazer_shared::http::FieldIssue;

/// What an import refused or would have done: the transaction is rolled back for both.
enum Outcome {
    Db(DbError),
    Refused(Vec<FieldIssue>),
    DryRun(area_store::ImportSummary),
}

impl From<DbError> for Outcome {
    fn from(error: DbError) -> Self {
        Self::Db(error)
    }
}

/// Imports the areas of `file`; with `dry_run`, checks them and says what would change.
pub async fn areas(db: &Db, file: &Path, dry_run: bool, now: DateTime<Utc>) -> anyhow::Result<String> {
    let shown = file.display().to_string();
    let text = std::fs::read_to_string(file).with_context(|| format!("{shown}: cannot be read"))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{shown} line {}: not JSON: {e}", e.line()))?;
    let lines = element_lines(&text, "features");
    let refusal = |issues: Vec<FieldIssue>| anyhow::anyhow!(described(&shown, &lines, &issues));
    let incoming = tree::parse_feature_collection(&value).map_err(refusal)?;
    let count = incoming.len();
    let outcome = db
        .run(move |conn| {
            let written = write_transaction(conn, |conn| {
                let summary = import_in(conn, &incoming, now)?;
                if dry_run { Err(Outcome::DryRun(summary)) } else { Ok(summary) }
            });
            match written {
                Ok(summary) => Ok(Ok(summary)),
                Err(Outcome::Db(error)) => Err(error),
                Err(other) => Ok(Err(other)),
            }
        })
        .await?;
    match outcome {
        Ok(summary) => Ok(format!(
            "{shown}: {count} areas: {} created, {} updated, {} unchanged",
            summary.created, summary.updated, summary.unchanged
        )),
        Err(Outcome::DryRun(summary)) => Ok(format!(
            "{shown}: {count} areas checked (dry run, nothing written): {} would be created, {} updated, {} unchanged",
            summary.created, summary.updated, summary.unchanged
        )),
        Err(Outcome::Refused(issues)) => bail!(described(&shown, &lines, &issues)),
        Err(Outcome::Db(error)) => Err(error.into()),
    }
}

/// The import and the other services' projections, in the caller's transaction.
fn import_in(
    conn: &mut DbConnection,
    incoming: &[Area],
    now: DateTime<Utc>,
) -> Result<area_store::ImportSummary, Outcome> {
    let summary = area_store::import(conn, incoming, now)?.map_err(Outcome::Refused)?;
    let known: Vec<_> = incoming.iter().map(Area::summary).collect();
    record_elsewhere(conn, &known, now)?;
    Ok(summary)
}

/// Tells routing and the calendars of `areas` imported at `at`, as `areas.imported` will: rules
/// and closures loaded in the same run may name them at once.
pub fn record_elsewhere(conn: &mut DbConnection, areas: &[AreaSummary], at: DateTime<Utc>) -> Result<(), DbError> {
    nazer_routing::store::record_areas(conn, areas, at)?;
    nazer_deadline_timer::areas::store::record_areas(conn, areas, at)?;
    Ok(())
}

/// Each issue on a line of its own: `FILE line N: field: problem`, N the line of the feature the
/// field belongs to (`features[3]…`) where it has one.
fn described(file: &str, lines: &[usize], issues: &[FieldIssue]) -> String {
    let mut text = format!("{file}: refused, nothing was written:");
    for issue in issues {
        let line = feature_index(&issue.field).and_then(|i| lines.get(i));
        match line {
            Some(line) => text.push_str(&format!("\n  {file} line {line}: {}: {}", issue.field, issue.problem)),
            None => text.push_str(&format!("\n  {file}: {}: {}", issue.field, issue.problem)),
        }
    }
    text
}

/// `3` of `features[3].properties.code`.
fn feature_index(field: &str) -> Option<usize> {
    let rest = field.strip_prefix("features[")?;
    rest[..rest.find(']')?].parse().ok()
}

/// The line (from 1) on which each element of the array under the top-level object's `key`
/// begins: a scan of the text that keeps track of strings and nesting, as serde_json keeps no
/// positions.
fn element_lines(text: &str, key: &str) -> Vec<usize> {
    let quoted = format!("\"{key}\"");
    let mut lines = Vec::new();
    let (mut line, mut depth, mut in_string, mut escaped) = (1usize, 0usize, false, false);
    // The depth of the array under `key` once it opened, and whether an element is awaited.
    let (mut array_depth, mut awaiting) = (None::<usize>, false);
    let mut last_key_at_top = false;
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'\n' {
            line += 1;
        }
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        let at_element = awaiting && array_depth == Some(depth) && !byte.is_ascii_whitespace() && byte != b']';
        if at_element {
            lines.push(line);
            awaiting = false;
        }
        match byte {
            b'"' => {
                if depth == 1 && text[i..].starts_with(&quoted) {
                    last_key_at_top = true;
                    i += quoted.len();
                    continue;
                }
                in_string = true;
            }
            b'[' => {
                depth += 1;
                if last_key_at_top && array_depth.is_none() {
                    array_depth = Some(depth);
                    awaiting = true;
                }
            }
            b'{' => depth += 1,
            b']' | b'}' => {
                if array_depth == Some(depth) {
                    array_depth = Some(usize::MAX);
                }
                depth = depth.saturating_sub(1);
            }
            b',' if array_depth == Some(depth) => awaiting = true,
            b',' => last_key_at_top = false,
            _ => {}
        }
        i += 1;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_feature_is_found_on_its_line() {
        let text = "{\"type\": \"FeatureCollection\",\n \"name\": \"features [x]\",\n \"features\": [\n  {\"a\": [1, 2]},\n  {\"b\": \"]\"},\n\n  {\"c\": {\"features\": [3]}}\n ]}";
        assert_eq!(element_lines(text, "features"), [4, 5, 7]);
        assert_eq!(element_lines("{\"features\": []}", "features"), Vec::<usize>::new());
        assert_eq!(element_lines("{\"other\": [1], \"features\": [{}]}", "features"), [1]);
    }

    #[test]
    fn issues_are_named_by_file_line_and_field() {
        let issues = [
            FieldIssue::new("features[1].properties.parent", "no area has the code `x`"),
            FieldIssue::new("features", "is empty"),
        ];
        let text = described("areas.geojson", &[3, 9], &issues);
        assert!(
            text.contains("areas.geojson line 9: features[1].properties.parent: no area has the code `x`"),
            "{text}"
        );
        assert!(text.contains("areas.geojson: features: is empty"), "{text}");
        assert_eq!(feature_index("features[12].geometry"), Some(12));
        assert_eq!(feature_index("type"), None);
    }
}
