//! One tree for every GeoReport v2 answer, written as JSON or XML. The spec's JSON is a mapping
//! of its XML (the Spark convention), so a list knows the element name of its items and an
//! object keeps its fields in the spec's order.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Integer(i64),
    Decimal(f64),
    Text(String),
    /// Fields in the order the spec lists them.
    Object(Vec<(&'static str, Node)>),
    /// A JSON array; in XML, one `item` element each.
    List {
        item: &'static str,
        items: Vec<Node>,
    },
}

impl Node {
    pub fn text(value: impl Into<String>) -> Self {
        Node::Text(value.into())
    }

    /// Text, or null when there is none.
    pub fn maybe_text(value: Option<String>) -> Self {
        value.map_or(Node::Null, Node::Text)
    }

    pub fn maybe_decimal(value: Option<f64>) -> Self {
        value.map_or(Node::Null, Node::Decimal)
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => serializer.serialize_none(),
            Node::Bool(value) => serializer.serialize_bool(*value),
            Node::Integer(value) => serializer.serialize_i64(*value),
            Node::Decimal(value) => serializer.serialize_f64(*value),
            Node::Text(value) => serializer.serialize_str(value),
            Node::Object(fields) => {
                let mut map = serializer.serialize_map(Some(fields.len()))?;
                for (name, value) in fields {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
            Node::List { items, .. } => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_their_field_order_in_json() {
        let node = Node::List {
            item: "request",
            items: vec![Node::Object(vec![
                ("service_request_id", Node::text("123")),
                ("lat", Node::Decimal(35.7)),
                ("account_id", Node::Null),
                ("order", Node::Integer(1)),
                ("metadata", Node::Bool(true)),
            ])],
        };
        let json = serde_json::to_string(&node).unwrap();
        assert_eq!(json, r#"[{"service_request_id":"123","lat":35.7,"account_id":null,"order":1,"metadata":true}]"#);
    }
}
