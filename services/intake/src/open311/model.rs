//! GeoReport v2 documents from intake's categories and messages. A report is placed by its
//! `lat`/`long` in the deepest area whose boundary holds it; where no boundary does (or no point
//! is sent), the optional attribute `province` places it, as GeoReport has no field for one.

use chrono::{DateTime, Utc};
use nazer_shared::events::MessageKind;
use nazer_shared::iran::{PROVINCES, tehran_offset};

use super::document::Node;
use super::store::ServiceRequestRow;
use crate::lifecycle::Outcome;
use crate::store::MessageStatus;
use crate::submission::Category;

nazer_shared::closed_set! {
    /// The attributes every service takes (`attribute[code]` in a posted request).
    pub enum AttributeCode {
        Province = "province",
        Kind = "kind",
    }
}

pub const PROVINCE: &str = AttributeCode::Province.as_str();
pub const KIND: &str = AttributeCode::Kind.as_str();
/// The kind of a request that names none, when its service takes it.
pub const DEFAULT_KIND: MessageKind = MessageKind::Complaint;

nazer_shared::closed_set! {
    /// A service request's status as GeoReport tells it.
    pub enum RequestStatus {
        Open = "open",
        Closed = "closed",
    }
}

impl RequestStatus {
    /// Open until the message is closed (a reopened message is open again).
    pub fn of(status: MessageStatus) -> Self {
        if status == MessageStatus::Closed { Self::Closed } else { Self::Open }
    }
}

/// An instant in the W3C format the spec requires, in Tehran time.
pub fn w3c(instant: DateTime<Utc>) -> String {
    instant.with_timezone(&tehran_offset()).format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

fn kind_name_fa(kind: &str) -> &str {
    match MessageKind::parse(kind) {
        Some(MessageKind::Complaint) => "شکایت",
        Some(MessageKind::ViolationReport) => "گزارش تخلف",
        Some(MessageKind::Criticism) => "انتقاد",
        Some(MessageKind::Suggestion) => "پیشنهاد",
        Some(MessageKind::Appreciation) => "قدردانی",
        None => kind,
    }
}

/// The active categories as GeoReport services.
pub fn services(categories: &[Category]) -> Node {
    let items = categories.iter().filter(|c| c.active).map(service).collect();
    Node::List { item: "service", items }
}

fn service(category: &Category) -> Node {
    let parts: Vec<&str> = category.code.split('.').collect();
    let keywords = std::iter::once(category.name_en.as_str()).chain(parts.iter().copied()).collect::<Vec<_>>();
    let group = parts.first().copied().unwrap_or_default();
    Node::Object(vec![
        ("service_code", Node::text(category.code.as_str())),
        ("service_name", Node::text(category.name_fa.as_str())),
        ("description", Node::text(category.name_en.as_str())),
        // Every service has attributes: the province at least.
        ("metadata", Node::Bool(true)),
        ("type", Node::text("realtime")),
        ("keywords", Node::text(keywords.join(", "))),
        ("group", Node::text(group)),
    ])
}

/// A service's attributes: the province (optional: a point places a report) and the kind of
/// message.
pub fn service_definition(category: &Category) -> Node {
    let provinces = PROVINCES.iter().map(|(code, name_fa, _)| (code.to_string(), name_fa.to_string())).collect();
    let kinds = category.kinds.iter().map(|k| (k.clone(), kind_name_fa(k).to_string())).collect();
    let kind_required = !takes_default_kind(category);
    let kind_description = if kind_required {
        "نوع پیام (الزامی برای این خدمت)".to_string()
    } else {
        format!("نوع پیام؛ اگر فرستاده نشود: {}", kind_name_fa(DEFAULT_KIND.as_str()))
    };
    let attributes = vec![
        attribute(
            1,
            PROVINCE,
            false,
            "استانی که موضوع گزارش در آن است، اگر نقطهٔ lat/long آن را مشخص نکند",
            "کد استان",
            provinces,
        ),
        attribute(2, KIND, kind_required, &kind_description, "کد نوع پیام", kinds),
    ];
    Node::Object(vec![
        ("service_code", Node::text(category.code.as_str())),
        ("attributes", Node::List { item: "attribute", items: attributes }),
    ])
}

fn attribute(
    order: i64,
    code: &str,
    required: bool,
    description: &str,
    datatype_description: &str,
    values: Vec<(String, String)>,
) -> Node {
    let values = values
        .into_iter()
        .map(|(key, name)| Node::Object(vec![("key", Node::Text(key)), ("name", Node::Text(name))]))
        .collect();
    Node::Object(vec![
        ("variable", Node::Bool(true)),
        ("code", Node::text(code)),
        ("datatype", Node::text("singlevaluelist")),
        ("required", Node::Bool(required)),
        ("datatype_description", Node::text(datatype_description)),
        ("order", Node::Integer(order)),
        ("description", Node::text(description)),
        ("values", Node::List { item: "value", items: values }),
    ])
}

fn takes_default_kind(category: &Category) -> bool {
    category.kinds.iter().any(|k| k == DEFAULT_KIND.as_str())
}

/// How much of a service request a reader sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// A client with an Open311 key: everything GeoReport has, still never who reported.
    Full,
    /// Anyone, without a key: [`PUBLIC_FIELDS`] only.
    Public,
}

/// What a keyless read shows of a request: where it stands, never what was written or where.
pub const PUBLIC_FIELDS: [&str; 8] = [
    "service_request_id",
    "status",
    "service_name",
    "service_code",
    "agency_responsible",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
];

/// Service requests as GeoReport shows them to `view`: never who reported.
pub fn service_requests(rows: Vec<ServiceRequestRow>, categories: &[Category], view: View) -> Node {
    let items = rows
        .into_iter()
        .map(|row| match (service_request(row, categories), view) {
            (Node::Object(fields), View::Public) => {
                Node::Object(fields.into_iter().filter(|(name, _)| PUBLIC_FIELDS.contains(name)).collect())
            }
            (request, _) => request,
        })
        .collect();
    Node::List { item: "request", items }
}

fn service_request(row: ServiceRequestRow, categories: &[Category]) -> Node {
    let service_name = categories.iter().find(|c| c.code == row.category).map(|c| c.name_fa.clone());
    let status = RequestStatus::of(row.status);
    let closed = status == RequestStatus::Closed;
    let updated = if closed { row.closed_at.unwrap_or(row.updated_at) } else { row.updated_at };
    Node::Object(vec![
        ("service_request_id", Node::Text(row.tracking_code)),
        ("status", Node::text(status.as_str())),
        ("status_notes", Node::Text(status_notes(row.status, row.outcome))),
        ("service_name", Node::maybe_text(service_name)),
        ("service_code", Node::Text(row.category)),
        ("description", Node::Text(row.body)),
        ("agency_responsible", Node::maybe_text(row.agency_name)),
        ("service_notice", Node::Null),
        ("requested_datetime", Node::Text(w3c(row.received_at))),
        ("updated_datetime", Node::Text(w3c(updated))),
        ("expected_datetime", Node::maybe_text(row.expected_at.map(w3c))),
        ("address", Node::maybe_text(row.address)),
        // Nazer keeps no address register or postal codes.
        ("address_id", Node::Null),
        ("zipcode", Node::Null),
        ("lat", Node::maybe_decimal(row.latitude)),
        ("long", Node::maybe_decimal(row.longitude)),
        ("media_url", Node::maybe_text(row.media_url)),
    ])
}

/// Where a message stands, in Persian words; the agency's answer by its outcome only (its text
/// may name people).
fn status_notes(status: MessageStatus, outcome: Option<Outcome>) -> String {
    let outcome_fa = outcome.map(|o| match o {
        Outcome::Resolved => "رسیدگی شد",
        Outcome::PartiallyResolved => "بخشی از آن رسیدگی شد",
        Outcome::Rejected => "پذیرفته نشد",
    });
    match (status, outcome_fa) {
        (MessageStatus::Received, _) => "ثبت شد و در انتظار ارجاع به دستگاه مسئول است".into(),
        (MessageStatus::Triage, _) => "در حال بررسی برای تعیین دستگاه مسئول".into(),
        (MessageStatus::Assigned, _) => "به دستگاه مسئول ارجاع شد".into(),
        (MessageStatus::Acknowledged, _) => "دستگاه مسئول دریافت آن را تأیید کرد".into(),
        (MessageStatus::Declined, _) => "دستگاه پیشین آن را خارج از حوزهٔ خود دانست؛ ارجاع دوباره در جریان است".into(),
        (MessageStatus::Responded, Some(words)) => format!("دستگاه مسئول پاسخ داد: {words}"),
        (MessageStatus::Responded, None) => "دستگاه مسئول پاسخ داد".into(),
        (MessageStatus::Closed, Some(words)) => format!("بسته شد؛ نتیجهٔ پاسخ: {words}"),
        (MessageStatus::Closed, None) => "بسته شد".into(),
        (MessageStatus::Reopened, _) => "شهروند پاسخ را نپذیرفت و پیام بازگشایی شد؛ دستگاه دوباره پاسخ می‌دهد".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_written_in_tehran_time() {
        let instant: DateTime<Utc> = "2026-11-29T08:00:00.123456Z".parse().unwrap();
        assert_eq!(w3c(instant), "2026-11-29T11:30:00+03:30");
    }
}
