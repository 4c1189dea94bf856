//! The GeoReport v2 resources described for the OpenAPI document. Answers are written from one
//! [`Node`](super::document::Node) tree in JSON or XML, so these types only describe their JSON
//! form (the XML has the same elements); the tests hold them to what the model writes.

use nazer_shared::iran::Province;
use serde::Deserialize;

/// A service: a category messages are filed under.
#[derive(utoipa::ToSchema)]
#[schema(as = Open311Service)]
pub struct Service {
    /// The category's code.
    pub service_code: String,
    /// Its Persian name.
    pub service_name: String,
    /// Its English name.
    pub description: String,
    /// Always true: every service has attributes (the province at least).
    pub metadata: bool,
    /// `realtime`.
    #[schema(rename = "type")]
    pub service_type: String,
    /// The English name and the parts of the code, separated by commas.
    pub keywords: String,
    /// The first part of the code.
    pub group: String,
}

/// A service's attributes: `province` (required) and `kind`.
#[derive(utoipa::ToSchema)]
#[schema(as = Open311ServiceDefinition)]
pub struct ServiceDefinition {
    pub service_code: String,
    pub attributes: Vec<Attribute>,
}

/// An attribute a request sends as `attribute[code]`.
#[derive(utoipa::ToSchema)]
#[schema(as = Open311Attribute)]
pub struct Attribute {
    /// Always true.
    pub variable: bool,
    /// `province` or `kind`.
    pub code: String,
    /// `singlevaluelist`.
    pub datatype: String,
    pub required: bool,
    pub datatype_description: String,
    pub order: i64,
    /// In Persian.
    pub description: String,
    pub values: Vec<AttributeValue>,
}

/// A value an attribute takes.
#[derive(utoipa::ToSchema)]
#[schema(as = Open311AttributeValue)]
pub struct AttributeValue {
    /// What to send.
    pub key: String,
    /// Its Persian name.
    pub name: String,
}

/// A service request as GeoReport shows it: never who reported. Only requests reported through
/// Open311 are shown, never confidential reports or violation reports. A read with an Open311
/// key shows every field; a read without one only the public subset, the fields always written
/// (`service_request_id`, `status`, `service_name`, `service_code`, `agency_responsible`,
/// `requested_datetime`, `updated_datetime`, `expected_datetime`).
#[derive(utoipa::ToSchema)]
#[schema(as = Open311ServiceRequest)]
pub struct ServiceRequest {
    /// The tracking code.
    pub service_request_id: String,
    /// `open` or `closed`.
    pub status: String,
    /// With a key only. Where it stands, in Persian; an answer by its outcome only.
    #[schema(required = false)]
    pub status_notes: String,
    #[schema(required = true)]
    pub service_name: Option<String>,
    pub service_code: String,
    /// With a key only. The citizen's account.
    #[schema(required = false)]
    pub description: String,
    #[schema(required = true)]
    pub agency_responsible: Option<String>,
    /// With a key only. Always null.
    pub service_notice: Option<String>,
    /// W3C datetime, Tehran time.
    pub requested_datetime: String,
    /// W3C datetime, Tehran time.
    pub updated_datetime: String,
    /// When an answer is due (W3C datetime), while one is awaited.
    #[schema(required = true)]
    pub expected_datetime: Option<String>,
    /// With a key only.
    pub address: Option<String>,
    /// With a key only. Always null: Nazer keeps no address register.
    pub address_id: Option<String>,
    /// With a key only. Always null.
    pub zipcode: Option<String>,
    /// With a key only.
    pub lat: Option<f64>,
    /// With a key only.
    pub long: Option<f64>,
    /// With a key only.
    pub media_url: Option<String>,
}

/// A service request just posted.
#[derive(utoipa::ToSchema)]
#[schema(as = Open311CreatedRequest)]
pub struct CreatedRequest {
    /// The tracking code (the citizen follows it on the 1888 system too).
    pub service_request_id: String,
    /// What happens next, in Persian.
    pub service_notice: String,
    /// Always null.
    #[schema(required = true)]
    pub account_id: Option<String>,
}

/// A GeoReport error: the HTTP status and what is wrong, naming the field first.
#[derive(utoipa::ToSchema)]
#[schema(as = Open311Error)]
pub struct ErrorItem {
    /// The HTTP status.
    pub code: u16,
    /// `field: what is wrong and what is accepted`.
    pub description: String,
}

/// The form of `POST requests`: fields may also come in the query string, each once. Nazer
/// needs a location (`lat` and `long`, or `address_string`), a description and the province.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Open311RequestForm)]
pub struct RequestForm {
    /// The API key Nazer issued to this client, with the `open311` scope.
    pub api_key: String,
    /// Accepted and not checked: Nazer serves one jurisdiction.
    #[schema(nullable = false)]
    pub jurisdiction_id: Option<String>,
    /// An active service's code (`GET services.json`).
    pub service_code: String,
    /// WGS84 latitude, with `long`.
    #[schema(nullable = false, minimum = -90, maximum = 90)]
    pub lat: Option<f64>,
    /// WGS84 longitude, with `lat`.
    #[schema(nullable = false, minimum = -180, maximum = 180)]
    pub long: Option<f64>,
    /// Up to 500 characters; with or instead of `lat` and `long`.
    #[schema(nullable = false, max_length = 500)]
    pub address_string: Option<String>,
    /// Not enough alone: Nazer keeps no address register.
    #[schema(nullable = false)]
    pub address_id: Option<String>,
    #[schema(nullable = false)]
    pub email: Option<String>,
    /// Accepted and not kept.
    #[schema(nullable = false)]
    pub device_id: Option<String>,
    /// Accepted and not kept.
    #[schema(nullable = false)]
    pub account_id: Option<String>,
    #[schema(nullable = false)]
    pub first_name: Option<String>,
    #[schema(nullable = false)]
    pub last_name: Option<String>,
    /// An Iranian mobile number.
    #[schema(nullable = false)]
    pub phone: Option<String>,
    /// Required by Nazer: the citizen's account, in words.
    pub description: String,
    /// An http(s) URL of a photo, up to 500 characters.
    #[schema(nullable = false, max_length = 500)]
    pub media_url: Option<String>,
    /// The province's code (`GET services/{service_code}.json` lists them).
    #[serde(rename = "attribute[province]")]
    #[schema(value_type = Province)]
    pub province: String,
    /// The kind of message, when the service takes more than one; `complaint` by default where
    /// it is taken.
    #[serde(rename = "attribute[kind]")]
    #[schema(nullable = false)]
    pub kind: Option<String>,
}

/// The query of `services` and `services/{service_code}`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommonQuery {
    /// Accepted and not checked: Nazer serves one jurisdiction.
    pub jurisdiction_id: Option<String>,
    /// Accepted and not needed: the services are public.
    pub api_key: Option<String>,
}

/// The query of `requests/{service_request_id}`.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// Optional. With the API key Nazer issued to this client (the `open311` scope), the full
    /// view; without it, the public subset (403 where keyless reads are turned off). A key that is
    /// unknown, revoked or without the scope answers 403.
    pub api_key: Option<String>,
    /// Accepted and not checked: Nazer serves one jurisdiction.
    pub jurisdiction_id: Option<String>,
}

/// The query of `GET requests`: ids override the other filters.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Optional. With the API key Nazer issued to this client (the `open311` scope), the full
    /// view; without it, the public subset (403 where keyless reads are turned off). A key that is
    /// unknown, revoked or without the scope answers 403.
    pub api_key: Option<String>,
    /// Accepted and not checked: Nazer serves one jurisdiction.
    pub jurisdiction_id: Option<String>,
    /// Tracking codes separated by commas, at most 1000; the other filters are then ignored.
    pub service_request_id: Option<String>,
    /// Service codes separated by commas.
    pub service_code: Option<String>,
    /// Requested at or after: a W3C datetime, or a day (Gregorian or Solar Hijri, Tehran time).
    /// The period spans at most 90 days: the last 90 by default.
    pub start_date: Option<String>,
    /// Requested at or before: a W3C datetime, or a day (its whole).
    pub end_date: Option<String>,
    /// `open`, `closed`, or both separated by a comma (the default).
    pub status: Option<String>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;
    use utoipa::PartialSchema;

    use super::super::model::{self, View};
    use super::super::posting;
    use super::super::store::ServiceRequestRow;
    use super::*;
    use crate::submission::Category;

    /// The property names of a schema, and those it requires.
    fn described<T: PartialSchema>() -> (BTreeSet<String>, BTreeSet<String>) {
        let schema = serde_json::to_value(T::schema()).unwrap();
        let properties = schema["properties"].as_object().unwrap().keys().cloned().collect();
        let required = schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        (properties, required)
    }

    /// The schema of `T` names every field of `written`, and requires them all.
    fn matches<T: PartialSchema>(written: &Value) {
        let fields: BTreeSet<String> = written.as_object().unwrap().keys().cloned().collect();
        let (properties, required) = described::<T>();
        assert_eq!(properties, fields, "{written}");
        assert_eq!(required, fields, "every field is always written: {written}");
    }

    fn category() -> Category {
        Category {
            code: "municipal.building".into(),
            name_fa: "تخلفات ساختمانی".into(),
            name_en: "Building violations".into(),
            kinds: vec!["complaint".into()],
            active: true,
        }
    }

    #[test]
    fn the_described_documents_are_the_written_ones() {
        let services = serde_json::to_value(model::services(&[category()])).unwrap();
        matches::<Service>(&services[0]);
        let definition = serde_json::to_value(model::service_definition(&category())).unwrap();
        matches::<ServiceDefinition>(&definition);
        matches::<Attribute>(&definition["attributes"][0]);
        matches::<AttributeValue>(&definition["attributes"][0]["values"][0]);
        let at = "2026-11-29T08:00:00Z".parse().unwrap();
        let row = ServiceRequestRow {
            tracking_code: "2379166660".into(),
            status: crate::store::MessageStatus::Assigned,
            category: "municipal.building".into(),
            body: "…".into(),
            agency_name: None,
            received_at: at,
            updated_at: at,
            closed_at: None,
            latitude: Some(35.7),
            longitude: Some(51.4),
            address: None,
            media_url: None,
            outcome: None,
            expected_at: Some(at),
        };
        let full = serde_json::to_value(model::service_requests(vec![row.clone()], &[category()], View::Full));
        let public = serde_json::to_value(model::service_requests(vec![row], &[category()], View::Public));
        // Every field a key shows is described; those a keyless read shows too are required.
        let (properties, required) = described::<ServiceRequest>();
        let fields = |list: &Value| list[0].as_object().unwrap().keys().cloned().collect::<BTreeSet<_>>();
        assert_eq!(properties, fields(&full.unwrap()));
        assert_eq!(required, fields(&public.unwrap()));
        assert_eq!(required, model::PUBLIC_FIELDS.into_iter().map(String::from).collect());
        let created =
            serde_json::to_value(posting::created("2379166660", nazer_shared::events::MessageKind::Complaint));
        matches::<CreatedRequest>(&created.unwrap()[0]);
    }

    #[test]
    fn the_described_form_is_the_one_read() {
        let (properties, _) = described::<RequestForm>();
        let mut read: BTreeSet<String> = posting::REQUEST_FIELDS.iter().map(|f| f.to_string()).collect();
        read.extend([format!("attribute[{}]", model::PROVINCE), format!("attribute[{}]", model::KIND)]);
        assert_eq!(properties, read);
        let search = <SearchQuery as utoipa::IntoParams>::into_params(|| None);
        let names: BTreeSet<&str> = search.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, super::super::filters::SEARCH_FIELDS.into_iter().collect());
    }
}
