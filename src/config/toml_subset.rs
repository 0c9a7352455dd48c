//! A small parser for the subset of TOML that config/chattu.toml uses, producing a
//! `serde_json::Value` so the typed `Config` can be deserialized with serde and env overrides can be
//! applied to the same tree.
//!
//! Supported: `# comments`, `[section]` headers (one level), `key = value` with basic strings
//! (`"..."` with `\" \\ \n \t \r \uXXXX` escapes), literal strings (`'...'`), integers (with `_`
//! separators), floats, booleans and arrays of those (which may span lines, trailing comma allowed).
//! Anything else (inline tables, dotted keys, dates, multi-line strings) is refused with a line number,
//! rather than being misread.

use serde_json::{Map, Value};

/// Why a configuration text could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses the text into an object of sections (top-level keys become top-level values).
pub fn parse(text: &str) -> Result<Value, ParseError> {
    let mut root = Map::new();
    let mut section: Option<String> = None;
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, raw)) = lines.next() {
        let line_no = index + 1;
        let err = |message: String| ParseError {
            line: line_no,
            message,
        };
        let line = strip_comment(raw).trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| err("section header without ']'".into()))?
                .trim();
            if !is_bare_key(name) {
                return Err(err(format!("unsupported section name {name:?}")));
            }
            if root.contains_key(name) {
                return Err(err(format!("section [{name}] appears twice")));
            }
            root.insert(name.to_string(), Value::Object(Map::new()));
            section = Some(name.to_string());
            continue;
        }
        let (key, value_text) = line
            .split_once('=')
            .ok_or_else(|| err("expected `key = value`".into()))?;
        let key = key.trim();
        if !is_bare_key(key) {
            return Err(err(format!("unsupported key {key:?}")));
        }
        // Arrays may continue over several lines: gather until the brackets balance.
        let mut value_text = value_text.trim().to_string();
        while value_text.starts_with('[') && !brackets_closed(&value_text) {
            match lines.next() {
                Some((_, more)) => {
                    value_text.push(' ');
                    value_text.push_str(strip_comment(more).trim());
                }
                None => return Err(err("array is not closed".into())),
            }
        }
        let mut cursor = Cursor {
            chars: value_text.chars().collect(),
            pos: 0,
        };
        let value = cursor.value().map_err(err)?;
        cursor.skip_spaces();
        if cursor.pos != cursor.chars.len() {
            return Err(err("unexpected text after the value".into()));
        }
        let table = match &section {
            Some(name) => match root.get_mut(name) {
                Some(Value::Object(map)) => map,
                _ => return Err(err("internal: section missing".into())),
            },
            None => &mut root,
        };
        if table.insert(key.to_string(), value).is_some() {
            return Err(err(format!("key {key:?} appears twice")));
        }
    }
    Ok(Value::Object(root))
}

fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Removes a `#` comment that is not inside a string.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return &line[..i],
            None => {}
        }
    }
    line
}

fn brackets_closed(text: &str) -> bool {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '[' => depth += 1,
            None if c == ']' => depth -= 1,
            None => {}
        }
    }
    depth <= 0
}

struct Cursor {
    chars: Vec<char>,
    pos: usize,
}

impl Cursor {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_spaces();
        match self.peek() {
            Some('"') => self.basic_string().map(Value::String),
            Some('\'') => self.literal_string().map(Value::String),
            Some('[') => self.array(),
            Some(_) => self.scalar(),
            None => Err("missing value".into()),
        }
    }

    fn basic_string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or("string is not closed")?;
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let e = self.peek().ok_or("string is not closed")?;
                    self.pos += 1;
                    match e {
                        '"' => out.push('"'),
                        '\\' => out.push('\\'),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'u' => {
                            let hex: String = self.chars.iter().skip(self.pos).take(4).collect();
                            let code = u32::from_str_radix(&hex, 16)
                                .ok()
                                .filter(|_| hex.len() == 4)
                                .and_then(char::from_u32)
                                .ok_or("bad \\u escape")?;
                            out.push(code);
                            self.pos += 4;
                        }
                        other => return Err(format!("unsupported escape \\{other}")),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn literal_string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let c = self.peek().ok_or("string is not closed")?;
            self.pos += 1;
            if c == '\'' {
                return Ok(out);
            }
            out.push(c);
        }
    }

    fn array(&mut self) -> Result<Value, String> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_spaces();
            match self.peek() {
                Some(']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                None => return Err("array is not closed".into()),
                _ => {}
            }
            items.push(self.value()?);
            self.skip_spaces();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {}
                _ => return Err("expected ',' or ']' in array".into()),
            }
        }
    }

    fn scalar(&mut self) -> Result<Value, String> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if !c.is_whitespace() && c != ',' && c != ']') {
            self.pos += 1;
        }
        let word: String = self.chars[start..self.pos].iter().collect();
        parse_scalar(&word).ok_or_else(|| format!("unsupported value {word:?}"))
    }
}

/// A bare TOML scalar: boolean, integer or float.
fn parse_scalar(word: &str) -> Option<Value> {
    match word {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    if word.starts_with('_') || word.ends_with('_') || word.contains("__") {
        return None;
    }
    let digits = word.replace('_', "");
    if let Ok(n) = digits.parse::<i64>() {
        return Some(Value::from(n));
    }
    let looks_numeric = digits
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if looks_numeric {
        if let Ok(f) = digits.parse::<f64>() {
            return serde_json::Number::from_f64(f).map(Value::Number);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_sections_scalars_and_arrays() {
        let text = r#"
# header comment
top = 1
[server]
listen = "0.0.0.0:8080"   # trailing comment
trusted_proxies = [
  "10.0.0.1", # first
  '192.168.1.1',
]
max = 1_048_576
ratio = 0.5
on = true
[storage]
path = "a#b\"c\u00e9"
"#;
        let value = parse(text).unwrap();
        assert_eq!(
            value,
            json!({
                "top": 1,
                "server": {
                    "listen": "0.0.0.0:8080",
                    "trusted_proxies": ["10.0.0.1", "192.168.1.1"],
                    "max": 1048576,
                    "ratio": 0.5,
                    "on": true
                },
                "storage": {"path": "a#b\"cé"}
            })
        );
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for (text, line) in [
            ("[a]\nx = { y = 1 }", 2),
            ("a.b = 1", 1),
            ("x = 1979-05-27", 1),
            ("x = \"open", 1),
            ("[a]\nx = 1\nx = 2", 3),
            ("[a]\n[a]", 2),
            ("x = [1, 2", 1),
            ("just words", 1),
            ("x = 1 2", 1),
        ] {
            let err = parse(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?} gave {err}");
        }
    }
}
