//! XML-like rendering of nodes for logs: `<iq id="1" to="@s.whatsapp.net"><ping/></iq>`.
//!
//! `{}` prints one line; `{:#}` indents children. Byte content is shown as its length and at most
//! [`BYTES_SHOWN`] bytes of hex (or as text when it is short printable UTF-8), so a 1 MiB media key
//! blob never floods a log.

use std::fmt::{self, Write};

use super::node::{AttrValue, Content, Node};

/// How many leading bytes of a byte payload are shown in hex.
pub const BYTES_SHOWN: usize = 16;

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pretty = f.alternate();
        write_node(f, self, 0, pretty)
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Str(s) => f.write_str(s),
            AttrValue::Jid(j) => write!(f, "{j}"),
        }
    }
}

fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for c in text.chars() {
        match c {
            '&' => f.write_str("&amp;")?,
            '<' => f.write_str("&lt;")?,
            '>' => f.write_str("&gt;")?,
            '"' => f.write_str("&quot;")?,
            c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    Ok(())
}

fn indent(f: &mut fmt::Formatter<'_>, depth: usize, pretty: bool) -> fmt::Result {
    if pretty {
        for _ in 0..depth {
            f.write_str("  ")?;
        }
    }
    Ok(())
}

fn write_bytes(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if !text.is_empty() && text.len() <= 64 && !text.chars().any(char::is_control) {
            return write_escaped(f, text);
        }
    }
    write!(f, "[{} bytes", bytes.len())?;
    if !bytes.is_empty() {
        f.write_str(": ")?;
        for b in bytes.iter().take(BYTES_SHOWN) {
            write!(f, "{b:02x}")?;
        }
        if bytes.len() > BYTES_SHOWN {
            f.write_str("…")?;
        }
    }
    f.write_str("]")
}

fn write_node(f: &mut fmt::Formatter<'_>, node: &Node, depth: usize, pretty: bool) -> fmt::Result {
    indent(f, depth, pretty)?;
    f.write_char('<')?;
    write_escaped(f, &node.tag)?;
    for (key, value) in &node.attrs {
        f.write_char(' ')?;
        write_escaped(f, key)?;
        f.write_str("=\"")?;
        write_escaped(f, &value.as_text())?;
        f.write_char('"')?;
    }
    match &node.content {
        Content::None => return f.write_str("/>"),
        Content::Nodes(children) if children.is_empty() => return f.write_str("/>"),
        Content::Nodes(children) => {
            f.write_char('>')?;
            for child in children {
                if pretty {
                    f.write_char('\n')?;
                }
                write_node(f, child, depth + 1, pretty)?;
            }
            if pretty {
                f.write_char('\n')?;
                indent(f, depth, pretty)?;
            }
        }
        Content::Bytes(bytes) => {
            f.write_char('>')?;
            write_bytes(f, bytes)?;
        }
        Content::Str(s) => {
            f.write_char('>')?;
            write_escaped(f, s)?;
        }
        Content::Jid(j) => write!(f, ">{j}")?,
    }
    f.write_str("</")?;
    write_escaped(f, &node.tag)?;
    f.write_char('>')
}

#[cfg(test)]
mod tests {
    use crate::protocol::binary::Node;
    use crate::protocol::jid::Jid;

    #[test]
    fn renders_attrs_children_and_bytes() {
        let node = Node::new("message")
            .with_attr("id", "3EB0")
            .with_attr("to", Jid::phone("15551234567"))
            .with_child(Node::new("body").with_bytes(b"hi <there>".to_vec()))
            .with_child(Node::new("enc").with_bytes((0u8..40).collect::<Vec<_>>()))
            .with_child(Node::new("ping"));
        assert_eq!(
            node.to_string(),
            "<message id=\"3EB0\" to=\"15551234567@s.whatsapp.net\"><body>hi &lt;there&gt;</body>\
             <enc>[40 bytes: 000102030405060708090a0b0c0d0e0f…]</enc><ping/></message>"
        );
        let pretty = format!("{node:#}");
        assert!(pretty.contains("\n  <ping/>\n</message>"), "{pretty}");
    }
}
