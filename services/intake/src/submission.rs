//! A citizen's message as posted, and the rules that turn it into something storable.
//! Every problem is collected, so one refusal names every bad field at once.

use nazer_shared::events::MessageKind;
pub use nazer_shared::events::{Channel, Priority};
use nazer_shared::http::FieldIssue;
use nazer_shared::iran::{self, Province};

use crate::areas::index::AreaIndex;
use serde::{Deserialize, Serialize};

pub const MAX_BODY_CHARS: usize = 10_000;
pub const MAX_SUBJECT_CHARS: usize = 200;
pub const MAX_NAME_CHARS: usize = 200;

/// A category as intake knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Category {
    /// Lowercase letters, digits, '.', '_' or '-', such as `municipal.building`.
    pub code: String,
    /// The Persian name.
    pub name_fa: String,
    /// The English name.
    pub name_en: String,
    /// The kinds of message it takes: `complaint`, `violation_report`, `criticism`,
    /// `suggestion`, `appreciation`.
    pub kinds: Vec<String>,
    /// Inactive categories take no new messages.
    pub active: bool,
}

impl Category {
    /// A category from an admin's or a reference-data file's fields, trimmed; every bad field
    /// named at once.
    pub fn checked(
        code: &str,
        name_fa: &str,
        name_en: &str,
        kinds: Vec<String>,
        active: bool,
    ) -> Result<Self, Vec<FieldIssue>> {
        let mut issues = Vec::new();
        let code = code.trim().to_string();
        if !nazer_shared::http::is_identifier(&code) {
            issues.push(FieldIssue::new("code", nazer_shared::http::IDENTIFIER_RULE));
        }
        let name_fa = name_fa.trim().to_string();
        let name_en = name_en.trim().to_string();
        if name_fa.is_empty() {
            issues.push(FieldIssue::new("name_fa", "is required: the Persian name"));
        }
        if name_en.is_empty() {
            issues.push(FieldIssue::new("name_en", "is required: the English name"));
        }
        let kinds: Vec<String> = kinds.iter().map(|k| k.trim().to_string()).collect();
        if kinds.is_empty() || kinds.iter().any(|k| MessageKind::parse(k).is_none()) {
            issues.push(FieldIssue::new("kinds", format!("list one or more of: {}", MessageKind::listed())));
        }
        if issues.is_empty() { Ok(Self { code, name_fa, name_en, kinds, active }) } else { Err(issues) }
    }
}

/// A message as posted. Every bad field is named at once.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "kind": "complaint",
    "channel": "call_center",
    "category": "municipal.services",
    "body": "چراغ‌های کوچه یک هفته است خاموش است",
    "location": { "lat": 35.7003, "long": 51.4301 },
    "reporter": { "full_name": "مریم رضایی", "mobile": "09121234567", "tracking_pin": "2580" }
}))]
#[schema(as = NewMessage)]
pub struct SubmissionRequest {
    /// `complaint`, `violation_report`, `criticism`, `suggestion` or `appreciation`; the
    /// category must take it.
    #[schema(required = true, pattern = "^(complaint|violation_report|criticism|suggestion|appreciation)$")]
    pub kind: Option<String>,
    /// How it reached Nazer: `call_center`, `web`, `mobile_app`, `open311`, `direct_meeting` or
    /// `letter`.
    #[schema(required = true, pattern = "^(call_center|web|mobile_app|open311|direct_meeting|letter)$")]
    pub channel: Option<String>,
    /// An active category's code (`GET /api/v1/categories`).
    #[schema(required = true, pattern = "^[a-z0-9._-]{1,64}$")]
    pub category: Option<String>,
    /// Up to 200 characters.
    #[schema(max_length = 200)]
    pub subject: Option<String>,
    /// The citizen's account, up to 10,000 characters.
    #[schema(required = true, min_length = 1, max_length = 10000)]
    pub body: Option<String>,
    /// Where it happened, as an area's code (`GET /api/v1/areas`), the deepest known best,
    /// such as `tehran-district-06`. Give `area`, `location` or `province`; when more than
    /// one is given they must agree (one lies within the other).
    #[schema(pattern = "^[a-z0-9._-]{1,64}$")]
    pub area: Option<String>,
    /// Where it happened, as a point: located in the deepest area whose boundary holds it.
    pub location: Option<LocationRequest>,
    /// The province's code, such as `tehran`: a province-level area, as older clients send it.
    #[schema(value_type = Option<Province>)]
    pub province: Option<String>,
    /// Up to 100 characters.
    #[schema(max_length = 100)]
    pub city: Option<String>,
    /// `normal` (the default), `high` or `urgent`.
    #[schema(pattern = "^(normal|high|urgent)$")]
    pub priority: Option<String>,
    /// Who reported, if they gave their identity: sealed, and shown only to those entitled.
    pub reporter: Option<ReporterRequest>,
}

/// A point, in WGS84 degrees.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Location)]
pub struct LocationRequest {
    /// Latitude, −90 to 90 (Tehran's is about 35.7).
    #[schema(required = true, minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// Longitude, −180 to 180 (Tehran's is about 51.4).
    #[schema(required = true, minimum = -180, maximum = 180)]
    pub long: Option<f64>,
}

/// Who reported; every field optional.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewReporter)]
pub struct ReporterRequest {
    /// Up to 200 characters.
    #[schema(max_length = 200)]
    pub full_name: Option<String>,
    /// Ten digits with a correct check digit.
    pub national_id: Option<String>,
    /// An Iranian mobile number: `09xxxxxxxxx` or `+989xxxxxxxxx`. Its last four digits let the
    /// citizen follow the message (`Tracking-Verifier`).
    pub mobile: Option<String>,
    pub email: Option<String>,
    /// Keep the reporter's identity from the agency (false by default).
    pub confidential: Option<bool>,
    /// A PIN the citizen chooses to follow the message online (4–8 digits).
    pub tracking_pin: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub kind: MessageKind,
    pub channel: Channel,
    pub category: String,
    pub subject: Option<String>,
    pub body: String,
    /// The province: the first of `area_path`.
    pub province: String,
    /// The area codes the message is located in, province first, deepest last.
    pub area_path: Vec<String>,
    /// The point it was located by, as (latitude, longitude).
    pub location: Option<(f64, f64)>,
    pub city: Option<String>,
    pub priority: Priority,
    pub reporter: Option<Reporter>,
}

impl Submission {
    /// The deepest area the message is located in.
    pub fn area(&self) -> &str {
        self.area_path.last().map_or(self.province.as_str(), String::as_str)
    }
}

/// Personal data: stored apart from the message and never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Reporter {
    pub full_name: Option<String>,
    pub national_id: Option<String>,
    pub mobile: Option<String>,
    pub email: Option<String>,
    pub confidential: bool,
    pub tracking_pin: Option<String>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter").field("confidential", &self.confidential).finish_non_exhaustive()
    }
}

fn trimmed(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

/// Free text people read: trimmed, with Persian letters normalised.
fn text(value: &Option<String>) -> Option<String> {
    trimmed(value).map(|v| iran::normalize_persian(&v))
}

pub use nazer_shared::iran::ascii_digits;

/// An Iranian national ID: ten digits whose last is a mod-11 check digit.
pub fn is_valid_national_id(id: &str) -> bool {
    let digits: Vec<u32> = id.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 10 || id.len() != 10 || digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    let sum: u32 = digits[..9].iter().enumerate().map(|(i, d)| d * (10 - i as u32)).sum();
    let remainder = sum % 11;
    let check = digits[9];
    if remainder < 2 { check == remainder } else { check == 11 - remainder }
}

/// An Iranian mobile number in its national form `09xxxxxxxxx`, from `09…`, `+989…` or `00989…`.
pub fn normalize_mobile(text: &str) -> Option<String> {
    let compact: String = ascii_digits(text).chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let national = if let Some(rest) = compact.strip_prefix("+98") {
        format!("0{rest}")
    } else if let Some(rest) = compact.strip_prefix("0098") {
        format!("0{rest}")
    } else {
        compact
    };
    let valid = national.len() == 11 && national.starts_with("09") && national.bytes().all(|b| b.is_ascii_digit());
    valid.then_some(national)
}

fn check_length(issues: &mut Vec<FieldIssue>, field: &str, value: &Option<String>, max: usize) {
    if let Some(v) = value
        && v.chars().count() > max
    {
        issues.push(FieldIssue::new(field, format!("is longer than {max} characters")));
    }
}

/// Validates a posted message against the categories intake accepts and locates it among the
/// known areas.
pub fn validate(
    request: &SubmissionRequest,
    categories: &[Category],
    areas: &AreaIndex,
) -> Result<Submission, Vec<FieldIssue>> {
    let mut issues = Vec::new();
    let kind_names = MessageKind::listed();
    let kind = match trimmed(&request.kind) {
        None => {
            issues.push(FieldIssue::new("kind", format!("is required; one of: {kind_names}")));
            None
        }
        Some(text) => {
            let kind = MessageKind::parse(&text);
            if kind.is_none() {
                issues.push(FieldIssue::new("kind", format!("`{text}` is not a kind; use one of: {kind_names}")));
            }
            kind
        }
    };
    let channel_names = Channel::listed();
    let channel = match trimmed(&request.channel) {
        None => {
            issues.push(FieldIssue::new("channel", format!("is required; one of: {channel_names}")));
            None
        }
        Some(text) => {
            let channel = Channel::parse(&text);
            if channel.is_none() {
                issues.push(FieldIssue::new(
                    "channel",
                    format!("`{text}` is not a channel; use one of: {channel_names}"),
                ));
            }
            channel
        }
    };
    let category = trimmed(&request.category);
    match &category {
        None => issues.push(FieldIssue::new("category", "is required; GET /api/v1/categories lists the codes")),
        Some(code) => match categories.iter().find(|c| &c.code == code && c.active) {
            None => issues.push(FieldIssue::new(
                "category",
                format!("`{code}` is not a known category; GET /api/v1/categories lists the codes"),
            )),
            Some(found) => {
                if let Some(kind) = kind
                    && !found.kinds.iter().any(|k| k == kind.as_str())
                {
                    issues.push(FieldIssue::new(
                        "kind",
                        format!(
                            "category `{code}` does not take `{}`; it takes: {}",
                            kind.as_str(),
                            found.kinds.join(", ")
                        ),
                    ));
                }
            }
        },
    }
    let body = text(&request.body);
    match &body {
        None => issues.push(FieldIssue::new("body", "is required: the text of the message")),
        Some(text) if text.chars().count() > MAX_BODY_CHARS => {
            issues.push(FieldIssue::new("body", format!("is longer than {MAX_BODY_CHARS} characters")))
        }
        Some(_) => {}
    }
    let subject = text(&request.subject);
    check_length(&mut issues, "subject", &subject, MAX_SUBJECT_CHARS);
    let province = trimmed(&request.province).map(|p| p.to_ascii_lowercase());
    if let Some(code) = &province
        && Province::parse(code).is_none()
    {
        issues.push(FieldIssue::new(
            "province",
            format!("`{code}` is not a province code; use one of: {}", Province::listed()),
        ));
    }
    let location = request.location.as_ref().and_then(|l| read_location(l, &mut issues));
    let area = trimmed(&request.area).map(|a| a.to_ascii_lowercase());
    let area_path = if issues.iter().any(|i| i.field == "province" || i.field.starts_with("location")) {
        None
    } else {
        match areas.resolve(area.as_deref(), location, province.as_deref()) {
            Ok(path) => Some(path),
            Err(found) => {
                issues.extend(found);
                None
            }
        }
    };
    let city = text(&request.city);
    check_length(&mut issues, "city", &city, 100);
    let priority = match trimmed(&request.priority) {
        None => Priority::Normal,
        Some(text) => Priority::parse(&text).unwrap_or_else(|| {
            let names = Priority::listed();
            issues.push(FieldIssue::new("priority", format!("`{text}` is not a priority; use one of: {names}")));
            Priority::Normal
        }),
    };
    let reporter = request.reporter.as_ref().map(|r| validate_reporter(r, &mut issues));

    match (kind, channel, category, body, area_path) {
        (Some(kind), Some(channel), Some(category), Some(body), Some(area_path)) if issues.is_empty() => {
            let Some(province) = area_path.first().cloned() else {
                return Err(vec![FieldIssue::new("area", "locates the message nowhere; send a known area's code")]);
            };
            Ok(Submission {
                kind,
                channel,
                category,
                subject,
                body,
                province,
                area_path,
                location,
                city,
                priority,
                reporter,
            })
        }
        _ => Err(issues),
    }
}

/// A posted point as (latitude, longitude), or the issues that name what is wrong with it.
fn read_location(location: &LocationRequest, issues: &mut Vec<FieldIssue>) -> Option<(f64, f64)> {
    let mut degree = |field: &str, value: Option<f64>, limit: f64| match value {
        None => {
            issues.push(FieldIssue::new(field, "is required with a location: send both lat and long"));
            None
        }
        Some(v) if !v.is_finite() || v.abs() > limit => {
            issues.push(FieldIssue::new(field, format!("is a WGS84 degree from -{limit} to {limit}")));
            None
        }
        Some(v) => Some(v),
    };
    let lat = degree("location.lat", location.lat, 90.0);
    let long = degree("location.long", location.long, 180.0);
    lat.zip(long)
}

fn validate_reporter(request: &ReporterRequest, issues: &mut Vec<FieldIssue>) -> Reporter {
    let full_name = text(&request.full_name);
    check_length(issues, "reporter.full_name", &full_name, MAX_NAME_CHARS);
    let national_id = trimmed(&request.national_id).map(|v| ascii_digits(&v));
    if let Some(id) = &national_id
        && !is_valid_national_id(id)
    {
        issues.push(FieldIssue::new(
            "reporter.national_id",
            "is not a valid national ID: 10 digits with a correct check digit",
        ));
    }
    let mobile = match trimmed(&request.mobile) {
        None => None,
        Some(text) => {
            let normalized = normalize_mobile(&text);
            if normalized.is_none() {
                issues.push(FieldIssue::new(
                    "reporter.mobile",
                    "is not an Iranian mobile number; write 09xxxxxxxxx or +989xxxxxxxxx",
                ));
            }
            normalized
        }
    };
    let email = trimmed(&request.email);
    if let Some(e) = &email
        && (e.len() > 254
            || !e.contains('@')
            || e.starts_with('@')
            || e.ends_with('@')
            || e.contains(char::is_whitespace))
    {
        issues.push(FieldIssue::new("reporter.email", "is not an e-mail address"));
    }
    let tracking_pin = trimmed(&request.tracking_pin).map(|v| ascii_digits(&v));
    if tracking_pin.as_deref().is_some_and(|pin| !is_tracking_pin(pin)) {
        issues.push(FieldIssue::new("reporter.tracking_pin", "is 4 to 8 digits"));
    }
    Reporter {
        full_name,
        national_id,
        mobile,
        email,
        confidential: request.confidential.unwrap_or(false),
        tracking_pin,
    }
}

/// A tracking PIN: 4 to 8 ASCII digits.
pub fn is_tracking_pin(pin: &str) -> bool {
    (4..=8).contains(&pin.len()) && pin.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn categories() -> Vec<Category> {
        vec![Category {
            code: "municipal.building".into(),
            name_fa: "تخلفات ساختمانی".into(),
            name_en: "Building violations".into(),
            kinds: vec!["complaint".into(), "violation_report".into()],
            active: true,
        }]
    }

    fn good() -> SubmissionRequest {
        SubmissionRequest {
            kind: Some("violation_report".into()),
            channel: Some("call_center".into()),
            category: Some("municipal.building".into()),
            body: Some("ساخت و ساز غیرمجاز".into()),
            province: Some("tehran".into()),
            ..Default::default()
        }
    }

    fn areas() -> AreaIndex {
        AreaIndex::build(&crate::areas::provinces(), &crate::areas::stored_levels())
    }

    fn fields(result: Result<Submission, Vec<FieldIssue>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|i| i.field).collect()
    }

    #[test]
    fn a_complete_message_is_accepted() {
        let submission = validate(&good(), &categories(), &areas()).unwrap();
        assert_eq!(submission.kind, MessageKind::ViolationReport);
        assert_eq!(submission.channel, Channel::CallCenter);
    }

    #[test]
    fn every_missing_field_is_named_at_once() {
        let result = validate(&SubmissionRequest::default(), &categories(), &areas());
        assert_eq!(fields(result), ["kind", "channel", "category", "body", "area"]);
    }

    #[test]
    fn unknown_values_are_named_with_what_is_accepted() {
        let request = SubmissionRequest {
            kind: Some("rumour".into()),
            province: Some("atlantis".into()),
            category: Some("nope".into()),
            ..good()
        };
        let issues = validate(&request, &categories(), &areas()).unwrap_err();
        assert_eq!(issues.iter().map(|i| i.field.as_str()).collect::<Vec<_>>(), ["kind", "category", "province"]);
        assert!(issues[0].problem.contains("complaint"));
        assert!(issues[2].problem.contains("tehran"));
    }

    #[test]
    fn a_category_refuses_kinds_it_does_not_take() {
        let request = SubmissionRequest { kind: Some("appreciation".into()), ..good() };
        assert_eq!(fields(validate(&request, &categories(), &areas())), ["kind"]);
    }

    #[test]
    fn inactive_categories_are_refused() {
        let mut cats = categories();
        cats[0].active = false;
        assert_eq!(fields(validate(&good(), &cats, &areas())), ["category"]);
    }

    #[test]
    fn reporter_fields_are_checked() {
        let request = SubmissionRequest {
            reporter: Some(ReporterRequest {
                national_id: Some("0012345678".into()),
                mobile: Some("12345".into()),
                email: Some("nobody".into()),
                tracking_pin: Some("12a4".into()),
                ..Default::default()
            }),
            ..good()
        };
        assert_eq!(
            fields(validate(&request, &categories(), &areas())),
            ["reporter.national_id", "reporter.mobile", "reporter.email", "reporter.tracking_pin"]
        );
        let persian_pin = SubmissionRequest {
            reporter: Some(ReporterRequest { tracking_pin: Some("۱۲۳۴".into()), ..Default::default() }),
            ..good()
        };
        let reporter = validate(&persian_pin, &categories(), &areas()).unwrap().reporter.unwrap();
        assert_eq!(reporter.tracking_pin.as_deref(), Some("1234"));
    }

    #[test]
    fn national_ids_follow_their_check_digit() {
        assert!(is_valid_national_id("0499370899"));
        assert!(is_valid_national_id("0790419904"));
        assert!(!is_valid_national_id("0499370898"));
        assert!(!is_valid_national_id("1111111111"));
        assert!(!is_valid_national_id("123"));
    }

    #[test]
    fn mobiles_are_normalised() {
        assert_eq!(normalize_mobile("09121234567").as_deref(), Some("09121234567"));
        assert_eq!(normalize_mobile("+98 912 123 4567").as_deref(), Some("09121234567"));
        assert_eq!(normalize_mobile("۰۹۱۲۱۲۳۴۵۶۷").as_deref(), Some("09121234567"));
        assert_eq!(normalize_mobile("00989121234567").as_deref(), Some("09121234567"));
        assert_eq!(normalize_mobile("02112345678"), None);
    }

    #[test]
    fn too_long_text_is_refused() {
        let request = SubmissionRequest { body: Some("x".repeat(MAX_BODY_CHARS + 1)), ..good() };
        assert_eq!(fields(validate(&request, &categories(), &areas())), ["body"]);
    }

    #[test]
    fn reporter_debug_output_hides_personal_data() {
        let reporter = Reporter {
            full_name: Some("Secret Name".into()),
            national_id: None,
            mobile: Some("09121234567".into()),
            email: None,
            confidential: true,
            tracking_pin: Some("4321".into()),
        };
        let shown = format!("{reporter:?}");
        assert!(!shown.contains("Secret") && !shown.contains("0912") && !shown.contains("4321"));
    }
}
