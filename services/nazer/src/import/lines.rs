//! Where each element of a JSON file's list begins: serde_json keeps no positions.

/// The line (from 1) on which each element of the array under the top-level object's `key`
/// begins: a scan of the text that keeps track of strings and nesting, as serde_json keeps no
/// positions.
pub fn element_lines(text: &str, key: &str) -> Vec<usize> {
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
}
