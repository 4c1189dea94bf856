//! This service's operations, described (OpenAPI 3.1, from the handlers).

use crate::{admin_api, api, areas, open311, tracking_api};

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api::post_message,
        api::get_messages,
        api::get_message,
        api::post_response,
        api::post_acknowledgement,
        api::post_decline,
        api::post_close,
        api::post_reopen,
        api::post_review,
        admin_api::get_categories,
        admin_api::put_category,
        admin_api::post_api_key,
        admin_api::get_api_keys,
        admin_api::delete_api_key,
        areas::api::get_areas,
        areas::api::get_area,
        areas::api::put_areas,
        tracking_api::track,
        tracking_api::rate,
        tracking_api::reopen,
        open311::get_services,
        open311::get_service_definition,
        open311::post_request,
        open311::get_requests,
        open311::get_request
    ),
    components(schemas())
)]
pub struct ApiDoc;

#[cfg(test)]
mod tests {
    use nazer_shared::events::{Channel, MessageKind, Priority};
    use nazer_shared::iran::PROVINCES;
    use serde_json::Value;
    use utoipa::{IntoParams, OpenApi, PartialSchema};

    use super::*;
    use crate::store::MessageStatus;
    use crate::submission::SubmissionRequest;

    /// The values a `^(a|b|c)$` pattern accepts.
    fn alternatives(pattern: &str) -> Vec<String> {
        let inner = pattern.strip_prefix("^(").and_then(|p| p.strip_suffix(")$"));
        inner.unwrap_or_else(|| panic!("not a list of values: {pattern}")).split('|').map(str::to_string).collect()
    }

    fn strings(values: impl IntoIterator<Item = &'static str>) -> Vec<String> {
        values.into_iter().map(str::to_string).collect()
    }

    #[test]
    fn the_values_the_document_lists_are_the_ones_accepted() {
        let message = serde_json::to_value(SubmissionRequest::schema()).unwrap();
        let pattern = |field: &str| alternatives(message["properties"][field]["pattern"].as_str().unwrap_or_default());
        assert_eq!(pattern("kind"), strings(MessageKind::ALL.iter().map(|k| k.as_str())));
        assert_eq!(pattern("channel"), strings(Channel::ALL.iter().map(|c| c.as_str())));
        assert_eq!(pattern("priority"), strings(Priority::ALL.iter().map(|p| p.as_str())));

        let query: Vec<Value> =
            api::ListQuery::into_params(|| None).iter().map(|p| serde_json::to_value(p).unwrap()).collect();
        let param = |name: &str| {
            let found = query.iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no {name}"));
            alternatives(found["schema"]["pattern"].as_str().unwrap_or_default())
        };
        assert_eq!(param("status"), strings(MessageStatus::ALL.iter().map(|s| s.as_str())));
        assert_eq!(param("kind"), strings(MessageKind::ALL.iter().map(|k| k.as_str())));
        assert_eq!(param("priority"), strings(Priority::ALL.iter().map(|p| p.as_str())));
    }

    /// The `$ref`s anywhere in `value`.
    fn refs(value: &Value, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    found.push(target.clone());
                }
                map.values().for_each(|v| refs(v, found));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_province_field_is_the_one_province_list() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let listed = &doc["components"]["schemas"]["Province"]["enum"];
        assert_eq!(*listed, serde_json::json!(PROVINCES.map(|(code, _, _)| code)), "{listed}");
        let message = serde_json::to_value(SubmissionRequest::schema()).unwrap();
        let query: Vec<Value> =
            api::ListQuery::into_params(|| None).iter().map(|p| serde_json::to_value(p).unwrap()).collect();
        let param = query.iter().find(|p| p["name"] == "province").unwrap_or_else(|| panic!("no province"));
        let form = &doc["components"]["schemas"]["Open311RequestForm"]["properties"]["attribute[province]"];
        for (place, schema) in
            [("message", &message["properties"]["province"]), ("list", &param["schema"]), ("open311", form)]
        {
            let mut found = Vec::new();
            refs(schema, &mut found);
            assert_eq!(found, ["#/components/schemas/Province"], "{place}: {schema}");
        }
    }

    #[test]
    fn every_operation_is_tagged_and_summarised_in_one_line() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                assert_eq!(operation["tags"], serde_json::json!([api::TAG]), "{method} {path}");
                let summary = operation["summary"].as_str().unwrap_or_default();
                assert!(!summary.is_empty() && !summary.contains('\n'), "{method} {path}: {summary:?}");
            }
        }
    }
}
