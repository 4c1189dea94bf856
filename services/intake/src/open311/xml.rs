//! A small XML writer for GeoReport v2 answers: the spec's XML has no attributes, namespaces
//! or mixed content, only nested elements and escaped text.

use super::document::Node;

/// `node` as an XML document whose root element is `root`.
pub fn document(root: &str, node: &Node) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    element(&mut out, root, node);
    out.push('\n');
    out
}

fn element(out: &mut String, name: &str, node: &Node) {
    match node {
        Node::Null => {
            out.push('<');
            out.push_str(name);
            out.push_str("/>");
        }
        Node::Bool(value) => leaf(out, name, if *value { "true" } else { "false" }),
        Node::Integer(value) => leaf(out, name, &value.to_string()),
        Node::Decimal(value) => leaf(out, name, &value.to_string()),
        Node::Text(value) => leaf(out, name, &escape(value)),
        Node::Object(fields) => {
            open(out, name);
            for (field, value) in fields {
                element(out, field, value);
            }
            close(out, name);
        }
        Node::List { item, items } => {
            open(out, name);
            for value in items {
                element(out, item, value);
            }
            close(out, name);
        }
    }
}

fn leaf(out: &mut String, name: &str, escaped: &str) {
    open(out, name);
    out.push_str(escaped);
    close(out, name);
}

fn open(out: &mut String, name: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
}

fn close(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Text as XML character data. Characters XML 1.0 cannot carry at all, even escaped (control
/// characters other than tab and line breaks), become U+FFFD rather than break the document.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(escape(r#"a & b <c> "d" 'e'"#), "a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos;");
        assert_eq!(escape("line\nnext\u{0}"), "line\nnext\u{FFFD}");
        assert_eq!(escape("تخلفات ساختمانی"), "تخلفات ساختمانی");
    }

    #[test]
    fn lists_repeat_their_item_element() {
        let node = Node::List {
            item: "service",
            items: vec![
                Node::Object(vec![("service_code", Node::text("a&b")), ("metadata", Node::Bool(true))]),
                Node::Object(vec![("service_code", Node::text("c")), ("group", Node::Null)]),
            ],
        };
        assert_eq!(
            document("services", &node),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<services><service><service_code>a&amp;b</service_code>\
             <metadata>true</metadata></service><service><service_code>c</service_code><group/></service></services>\n"
        );
    }
}
