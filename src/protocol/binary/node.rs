//! The node model: `<tag attr="value">content</tag>` with ordered attributes.

use std::borrow::Cow;

use crate::protocol::jid::Jid;

/// An attribute value: a string, or a JID (which goes on the wire with a JID tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrValue {
    /// A string. One containing `@` is encoded as a JID the way Baileys does it (see the module docs);
    /// use [`AttrValue::Jid`] for addresses you build yourself.
    Str(String),
    /// A JID, encoded as JID_PAIR, AD_JID, FB_JID or INTEROP_JID.
    Jid(Jid),
}

impl AttrValue {
    /// The value as text: the string itself, or the JID's string form.
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            AttrValue::Str(s) => Cow::Borrowed(s),
            AttrValue::Jid(j) => Cow::Owned(j.to_string()),
        }
    }
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> AttrValue {
        AttrValue::Str(s.to_string())
    }
}

impl From<String> for AttrValue {
    fn from(s: String) -> AttrValue {
        AttrValue::Str(s)
    }
}

impl From<&String> for AttrValue {
    fn from(s: &String) -> AttrValue {
        AttrValue::Str(s.clone())
    }
}

impl From<Jid> for AttrValue {
    fn from(j: Jid) -> AttrValue {
        AttrValue::Jid(j)
    }
}

impl From<&Jid> for AttrValue {
    fn from(j: &Jid) -> AttrValue {
        AttrValue::Jid(j.clone())
    }
}

macro_rules! attr_from_number {
    ($($t:ty),*) => {$(
        impl From<$t> for AttrValue {
            fn from(n: $t) -> AttrValue {
                AttrValue::Str(n.to_string())
            }
        }
    )*};
}
attr_from_number!(u8, u16, u32, u64, i32, i64, usize);

/// What a node carries after its attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Content {
    /// Nothing.
    #[default]
    None,
    /// Child nodes (possibly none: `LIST_EMPTY` decodes to an empty list).
    Nodes(Vec<Node>),
    /// Raw bytes (BINARY_8/20/32 content always decodes to bytes).
    Bytes(Vec<u8>),
    /// A string that went out as a token or packed string (raw strings go out as bytes).
    Str(String),
    /// A JID.
    Jid(Jid),
}

/// One node of a WhatsApp stanza.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The tag, e.g. `message`, `iq`, `enc`.
    pub tag: String,
    /// Attributes in wire order.
    pub attrs: Vec<(String, AttrValue)>,
    /// The content.
    pub content: Content,
}

impl Node {
    /// A node with no attributes and no content.
    pub fn new(tag: impl Into<String>) -> Node {
        Node {
            tag: tag.into(),
            attrs: Vec::new(),
            content: Content::None,
        }
    }

    /// Builder: appends an attribute (replacing an existing one of the same name).
    pub fn with_attr(mut self, key: impl Into<String>, value: impl Into<AttrValue>) -> Node {
        self.set_attr(key, value);
        self
    }

    /// Builder: appends an attribute only when `value` is `Some`.
    pub fn with_opt_attr<V: Into<AttrValue>>(
        self,
        key: impl Into<String>,
        value: Option<V>,
    ) -> Node {
        match value {
            Some(v) => self.with_attr(key, v),
            None => self,
        }
    }

    /// Builder: sets the children.
    pub fn with_children(mut self, children: impl IntoIterator<Item = Node>) -> Node {
        self.content = Content::Nodes(children.into_iter().collect());
        self
    }

    /// Builder: appends one child (turning other content into a child list).
    pub fn with_child(mut self, child: Node) -> Node {
        self.push_child(child);
        self
    }

    /// Builder: sets byte content.
    pub fn with_bytes(mut self, bytes: impl Into<Vec<u8>>) -> Node {
        self.content = Content::Bytes(bytes.into());
        self
    }

    /// Builder: sets string content.
    pub fn with_text(mut self, text: impl Into<String>) -> Node {
        self.content = Content::Str(text.into());
        self
    }

    /// Sets an attribute in place: replaces the value of an existing name, else appends.
    pub fn set_attr(&mut self, key: impl Into<String>, value: impl Into<AttrValue>) {
        let key = key.into();
        let value = value.into();
        match self.attrs.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((key, value)),
        }
    }

    /// Removes an attribute, returning its value.
    pub fn remove_attr(&mut self, key: &str) -> Option<AttrValue> {
        let pos = self.attrs.iter().position(|(k, _)| k == key)?;
        Some(self.attrs.remove(pos).1)
    }

    /// Appends a child; content that was not a child list is replaced.
    pub fn push_child(&mut self, child: Node) {
        match &mut self.content {
            Content::Nodes(children) => children.push(child),
            other => *other = Content::Nodes(vec![child]),
        }
    }

    /// The raw value of an attribute.
    pub fn attr_value(&self, key: &str) -> Option<&AttrValue> {
        self.attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A string attribute. JID-valued attributes give `None`: use [`Node::attr_jid`] or [`Node::attr_text`].
    pub fn attr(&self, key: &str) -> Option<&str> {
        match self.attr_value(key)? {
            AttrValue::Str(s) => Some(s),
            AttrValue::Jid(_) => None,
        }
    }

    /// Any attribute as text (JIDs in their string form).
    pub fn attr_text(&self, key: &str) -> Option<Cow<'_, str>> {
        self.attr_value(key).map(AttrValue::as_text)
    }

    /// A JID attribute; a string attribute is parsed as a JID.
    pub fn attr_jid(&self, key: &str) -> Option<Jid> {
        match self.attr_value(key)? {
            AttrValue::Jid(j) => Some(j.clone()),
            AttrValue::Str(s) => Jid::parse(s).ok(),
        }
    }

    /// A string attribute parsed into any `FromStr` type (numbers, timestamps).
    pub fn attr_parse<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.attr(key)?.parse().ok()
    }

    /// True when the attribute is present.
    pub fn has_attr(&self, key: &str) -> bool {
        self.attr_value(key).is_some()
    }

    /// The children (empty unless the content is a child list).
    pub fn children(&self) -> &[Node] {
        match &self.content {
            Content::Nodes(children) => children,
            _ => &[],
        }
    }

    /// The first child with this tag.
    pub fn child(&self, tag: &str) -> Option<&Node> {
        self.children().iter().find(|c| c.tag == tag)
    }

    /// Follows a path of tags from this node, e.g. `["usync", "list"]`.
    pub fn child_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, tag| node.child(tag))
    }

    /// Every child with this tag.
    pub fn children_by_tag<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children().iter().filter(move |c| c.tag == tag)
    }

    /// Byte content, if that is what the node carries.
    pub fn content_bytes(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The content as text: string content, UTF-8 byte content, or a JID's string form.
    pub fn content_text(&self) -> Option<Cow<'_, str>> {
        match &self.content {
            Content::Str(s) => Some(Cow::Borrowed(s)),
            Content::Bytes(b) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
            Content::Jid(j) => Some(Cow::Owned(j.to_string())),
            Content::None | Content::Nodes(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::jid::Server;

    #[test]
    fn builders_and_getters() {
        let node = Node::new("iq")
            .with_attr("id", "1")
            .with_attr("to", Jid::server_jid())
            .with_attr("t", 1700000000u64)
            .with_opt_attr("absent", None::<&str>)
            .with_child(Node::new("usync").with_child(Node::new("list")))
            .with_child(Node::new("enc").with_bytes(vec![1, 2]));
        assert_eq!(node.attr("id"), Some("1"));
        assert_eq!(node.attr("to"), None);
        assert_eq!(node.attr_text("to").as_deref(), Some("@s.whatsapp.net"));
        assert_eq!(
            node.attr_jid("to").map(|j| j.server),
            Some(Server::Whatsapp)
        );
        assert_eq!(node.attr_parse::<u64>("t"), Some(1700000000));
        assert!(!node.has_attr("absent"));
        assert_eq!(node.children().len(), 2);
        assert!(node.child_path(&["usync", "list"]).is_some());
        assert!(node.child_path(&["usync", "nope"]).is_none());
        assert_eq!(
            node.child("enc").and_then(Node::content_bytes),
            Some(&[1u8, 2][..])
        );
        assert_eq!(node.children_by_tag("enc").count(), 1);
    }

    #[test]
    fn set_and_remove_attr_keep_order() {
        let mut node = Node::new("x").with_attr("a", "1").with_attr("b", "2");
        node.set_attr("a", "3");
        assert_eq!(node.attrs[0], ("a".to_string(), AttrValue::from("3")));
        assert_eq!(node.remove_attr("a"), Some(AttrValue::from("3")));
        assert_eq!(node.attrs.len(), 1);
        assert_eq!(node.remove_attr("a"), None);
    }
}
