//! CSV exports for people who open them in a spreadsheet: a byte-order mark (spreadsheet
//! programs read UTF-8 only after one), one header line, RFC 4180 quoting, and formulas defused.

use actix_web::HttpResponse;

/// The document of `header` and `rows`.
pub fn document<R: AsRef<[String]>>(header: &[&str], rows: impl IntoIterator<Item = R>) -> String {
    let mut out = format!("\u{feff}{}\n", header.join(","));
    for row in rows {
        let line: Vec<String> = row.as_ref().iter().map(|f| field(f)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// The answer carrying `document` as the attachment `filename`.
pub fn attachment(filename: &str, document: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{filename}\"")))
        .body(document)
}

/// RFC 4180 quoting; a leading formula character is defused so a spreadsheet shows text.
pub fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_string() };
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }

    #[test]
    fn a_document_starts_with_its_mark_and_header() {
        let rows = [vec!["1".to_string(), "a,b".to_string()]];
        assert_eq!(document(&["id", "text"], rows), "\u{feff}id,text\n1,\"a,b\"\n");
    }
}
