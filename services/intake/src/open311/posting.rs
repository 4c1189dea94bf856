//! A posted service request as intake's submission: the spec's form fields mapped onto the
//! message, checked by the same rules as every message, and where the report was made.

use nazer_shared::events::{Channel, MessageKind};
use nazer_shared::http::FieldIssue;

use super::document::Node;
use super::form::{Fields, decimal, issue, shown};
use super::model::{AttributeCode, DEFAULT_KIND, KIND, PROVINCE};
use crate::areas::index::AreaIndex;
use crate::submission::{self, Category, LocationRequest, ReporterRequest, Submission, SubmissionRequest};

pub const MAX_ADDRESS_CHARS: usize = 500;
pub const MAX_MEDIA_URL_CHARS: usize = 500;

/// The fields of POST requests, besides `attribute[code]`.
pub const REQUEST_FIELDS: [&str; 15] = [
    "api_key",
    "jurisdiction_id",
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "email",
    "device_id",
    "account_id",
    "first_name",
    "last_name",
    "phone",
    "description",
    "media_url",
];

/// Where a report was made, as the Open311 client said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub address: Option<String>,
    pub media_url: Option<String>,
}

/// A posted service request for `category`, checked as intake checks every message: the
/// submission and where the report was made, or every problem, each naming its GeoReport field.
pub fn read_request(
    fields: &Fields,
    category: &Category,
    categories: &[Category],
    areas: &AreaIndex,
) -> Result<(Submission, Location), Vec<String>> {
    let mut issues = Vec::new();
    let location = read_location(fields, &mut issues);
    for (code, _) in fields.attributes().filter(|(code, _)| AttributeCode::parse(code).is_none()) {
        let problem = format!(
            "is not an attribute of service `{}`; it takes attribute[{PROVINCE}] and attribute[{KIND}]",
            category.code
        );
        issues.push(FieldIssue::new(format!("attribute[{code}]"), problem));
    }
    let attribute = |name: &str| fields.attributes().find(|(code, _)| *code == name).map(|(_, v)| v.to_string());
    let kind = attribute(KIND).unwrap_or_else(|| DEFAULT_KIND.as_str().to_string());
    if !category.kinds.contains(&kind) {
        let problem = if attribute(KIND).is_none() { "is required for this service" } else { "is not taken here" };
        let takes = format!("{problem}; service `{}` takes: {}", category.code, category.kinds.join(", "));
        issues.push(FieldIssue::new(format!("attribute[{KIND}]"), takes));
    }
    let description = fields.get("description");
    if description.is_none() {
        issues.push(FieldIssue::new(
            "description",
            "is required by Nazer: the citizen's account of the problem, in words",
        ));
    }
    let full_name = [fields.get("first_name"), fields.get("last_name")].into_iter().flatten().collect::<Vec<_>>();
    let full_name = (!full_name.is_empty()).then(|| full_name.join(" "));
    let (mobile, email) = (fields.get("phone"), fields.get("email"));
    let reporter = (full_name.is_some() || mobile.is_some() || email.is_some()).then(|| ReporterRequest {
        full_name,
        mobile,
        email,
        ..Default::default()
    });
    let request = SubmissionRequest {
        kind: Some(kind),
        channel: Some(Channel::Open311.as_str().into()),
        category: Some(category.code.clone()),
        body: description,
        location: location
            .latitude
            .zip(location.longitude)
            .map(|(lat, long)| LocationRequest { lat: Some(lat), long: Some(long) }),
        province: attribute(PROVINCE),
        reporter,
        ..Default::default()
    };
    if request.location.is_none()
        && request.province.is_none()
        && !issues.iter().any(|i| i.field == "lat" || i.field == "long")
    {
        issues.push(FieldIssue::new(
            "lat, long",
            format!("are needed to place the report in its district (or give attribute[{PROVINCE}])"),
        ));
    }
    let found = match submission::validate(&request, categories, areas) {
        Ok(submission) if issues.is_empty() => return Ok((submission, location)),
        Ok(_) => Vec::new(),
        Err(found) => found,
    };
    // What intake's rules find, under the GeoReport field it is about, unless named already.
    let point_refused = issues.iter().any(|i| matches!(i.field.as_str(), "lat" | "long" | "lat, long"));
    for finding in found {
        let field = open311_field(&finding.field);
        // A point already refused locates nothing: saying so again helps nobody.
        let about_the_point = field == "lat, long" && point_refused;
        if !about_the_point && !issues.iter().any(|i| i.field == field) {
            issues.push(FieldIssue::new(field, finding.problem));
        }
    }
    Err(issues.iter().map(|i| issue(&i.field, &i.problem)).collect())
}

/// The GeoReport field behind a field of intake's submission.
fn open311_field(field: &str) -> &str {
    match field {
        "category" => "service_code",
        "body" => "description",
        "province" => "attribute[province]",
        "location" | "area" => "lat, long",
        "kind" => "attribute[kind]",
        "reporter.full_name" => "first_name, last_name",
        "reporter.mobile" => "phone",
        "reporter.email" => "email",
        other => other,
    }
}

fn read_location(fields: &Fields, issues: &mut Vec<FieldIssue>) -> Location {
    let coordinate = |name: &str, limit: f64, issues: &mut Vec<FieldIssue>| {
        let text = fields.get(name)?;
        let value = decimal(&text).filter(|v| v.abs() <= limit);
        if value.is_none() {
            let problem = format!("`{}` is not a WGS84 degree from -{limit} to {limit}", shown(&text));
            issues.push(FieldIssue::new(name, problem));
        }
        value
    };
    let (lat_given, long_given) = (fields.get("lat").is_some(), fields.get("long").is_some());
    let latitude = coordinate("lat", 90.0, issues);
    let longitude = coordinate("long", 180.0, issues);
    match (lat_given, long_given) {
        (true, false) => issues.push(FieldIssue::new("long", "is required with lat: send both")),
        (false, true) => issues.push(FieldIssue::new("lat", "is required with long: send both")),
        _ => {}
    }
    let address = fields.get("address_string").map(|a| nazer_shared::iran::normalize_persian(&a));
    if address.as_ref().is_some_and(|a| a.chars().count() > MAX_ADDRESS_CHARS) {
        issues.push(FieldIssue::new("address_string", format!("is longer than {MAX_ADDRESS_CHARS} characters")));
    }
    let placed = (lat_given && long_given) || address.is_some();
    if !placed && fields.get("address_id").is_some() {
        issues.push(FieldIssue::new(
            "address_id",
            "cannot place a report alone: Nazer keeps no address register; send lat and long, or address_string",
        ));
    } else if !placed && !lat_given && !long_given {
        issues.push(FieldIssue::new(
            "lat, long, address_string",
            "a location is required: send lat and long, or address_string",
        ));
    }
    let media_url = fields.get("media_url");
    if media_url.as_deref().is_some_and(|url| !is_media_url(url)) {
        let problem = format!("is not an http(s) URL of at most {MAX_MEDIA_URL_CHARS} characters without spaces");
        issues.push(FieldIssue::new("media_url", problem));
    }
    Location { latitude, longitude, address, media_url }
}

fn is_media_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) else { return false };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    url.chars().count() <= MAX_MEDIA_URL_CHARS && !host.is_empty() && !url.chars().any(char::is_whitespace)
}

/// The answer to a posted request: its id (the tracking code) and what happens next.
pub fn created(tracking_code: &str, kind: MessageKind) -> Node {
    let notice = if kind == MessageKind::ViolationReport {
        format!(
            "گزارش تخلف با کد رهگیری {tracking_code} ثبت شد. گزارش‌های تخلف محرمانه‌اند و از راه Open311 نمایش داده نمی‌شوند؛ پیگیری با همین کد از سامانهٔ ۱۸۸۸."
        )
    } else {
        format!("پیام با کد رهگیری {tracking_code} ثبت شد و به دستگاه مسئول ارجاع می‌شود.")
    };
    let request = Node::Object(vec![
        ("service_request_id", Node::text(tracking_code)),
        ("service_notice", Node::Text(notice)),
        ("account_id", Node::Null),
    ]);
    Node::List { item: "request", items: vec![request] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_urls_are_http_or_https() {
        assert!(is_media_url("https://example.org/a.jpg"));
        assert!(is_media_url("HTTP://example.org"));
        for bad in ["ftp://example.org/a", "https://", "https:///a", "https://a b", "javascript:alert(1)"] {
            assert!(!is_media_url(bad), "{bad}");
        }
        assert!(!is_media_url(&format!("https://example.org/{}", "a".repeat(MAX_MEDIA_URL_CHARS))));
    }
}
