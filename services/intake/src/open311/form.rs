//! The fields of a GeoReport v2 form body or query string: each known, named once, free of
//! control characters, and read as the spec's optional arguments (an empty field is absent).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use actix_web::web;

use super::reply::Open311Error;
use crate::submission::ascii_digits;

/// A refusal's description: the field first, then what is wrong and what is accepted.
pub fn issue(field: &str, problem: impl std::fmt::Display) -> String {
    format!("{field}: {problem}")
}

/// A client's text as a refusal quotes it: without control characters, at most 60 characters.
pub fn shown(text: &str) -> String {
    let mut quoted: String = text.chars().filter(|c| !c.is_control()).take(60).collect();
    if text.chars().count() > 60 {
        quoted.push('…');
    }
    quoted
}

/// `code` of an `attribute[code]` field name.
pub fn attribute_code(name: &str) -> Option<&str> {
    let code = name.strip_prefix("attribute[")?.strip_suffix(']')?;
    (!code.is_empty() && !code.contains(['[', ']'])).then_some(code)
}

#[derive(Debug, Default)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    /// The fields of urlencoded `sources` (a query string, a body) together. Names `known`
    /// refuses, names given twice and control characters are refused, all of them at once;
    /// `accepted` says which names are known.
    pub fn parse(sources: &[&str], known: impl Fn(&str) -> bool, accepted: &str) -> Result<Self, Open311Error> {
        let mut fields = BTreeMap::new();
        let mut issues = Vec::new();
        for source in sources {
            let pairs = web::Query::<Vec<(String, String)>>::from_query(source)
                .map_err(|e| {
                    Open311Error::bad_request(issue("form", format!("cannot be read as urlencoded fields: {e}")))
                })?
                .into_inner();
            for (name, value) in pairs {
                if !known(&name) {
                    issues.push(issue(&shown(&name), format!("is not a field of this resource; accepted: {accepted}")));
                } else if value.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r')) {
                    issues.push(issue(&name, "contains a control character (such as NUL); send plain text"));
                } else {
                    match fields.entry(name) {
                        Entry::Occupied(given) => {
                            issues.push(issue(given.key(), "is given more than once; send it once"))
                        }
                        Entry::Vacant(first) => {
                            first.insert(value);
                        }
                    }
                }
            }
        }
        if issues.is_empty() { Ok(Self(fields)) } else { Err(Open311Error::bad_requests(issues)) }
    }

    /// A field's value, trimmed; absent when missing or empty.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()).map(str::to_string)
    }

    /// The `attribute[code]` fields with a value, as (code, value).
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .filter_map(|(name, value)| Some((attribute_code(name)?, value.trim())))
            .filter(|(_, value)| !value.is_empty())
    }
}

/// A decimal number as people type it: ASCII, Persian or Arabic-Indic digits, with `.` or the
/// Arabic decimal separator; nothing else (no exponents, no `inf`).
pub fn decimal(text: &str) -> Option<f64> {
    let ascii: String = ascii_digits(text).chars().map(|c| if c == '٫' { '.' } else { c }).collect();
    let unsigned = ascii.strip_prefix(['-', '+']).unwrap_or(&ascii);
    let well_formed = !unsigned.is_empty()
        && unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && unsigned.bytes().filter(|b| *b == b'.').count() <= 1
        && unsigned.bytes().any(|b| b.is_ascii_digit());
    if !well_formed {
        return None;
    }
    ascii.parse::<f64>().ok().filter(|n| n.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(name: &str) -> bool {
        ["service_code", "description"].contains(&name) || attribute_code(name).is_some()
    }

    #[test]
    fn fields_from_query_and_body_are_read_together() {
        let fields = Fields::parse(
            &["service_code=a.b", "description=line+one%0Aline+two&attribute%5Bprovince%5D=tehran&attribute[kind]="],
            known,
            "…",
        )
        .unwrap();
        assert_eq!(fields.get("service_code").as_deref(), Some("a.b"));
        assert_eq!(fields.get("description").as_deref(), Some("line one\nline two"));
        assert_eq!(fields.attributes().collect::<Vec<_>>(), [("province", "tehran")]);
    }

    #[test]
    fn unknown_repeated_and_control_fields_are_named_at_once() {
        let error =
            Fields::parse(&["service_code=a", "service_code=b&colour=red&description=x%00y"], known, "…").unwrap_err();
        assert_eq!(error.status, 400);
        let named: Vec<&str> = error.descriptions.iter().map(|d| d.split(':').next().unwrap()).collect();
        assert_eq!(named, ["service_code", "colour", "description"]);
    }

    #[test]
    fn attribute_names_hold_one_code() {
        assert_eq!(attribute_code("attribute[province]"), Some("province"));
        assert_eq!(attribute_code("attribute[]"), None);
        assert_eq!(attribute_code("attribute[a][]"), None);
        assert_eq!(attribute_code("attributes[a]"), None);
    }

    #[test]
    fn decimals_accept_persian_digits_and_nothing_odd() {
        assert_eq!(decimal("35.6892"), Some(35.6892));
        assert_eq!(decimal("۳۵٫۶۸۹۲"), Some(35.6892));
        assert_eq!(decimal("-٥١.٣"), Some(-51.3));
        for bad in ["", "-", ".", "1e5", "inf", "NaN", "1.2.3", "35,6", "0x10"] {
            assert_eq!(decimal(bad), None, "{bad}");
        }
    }
}
