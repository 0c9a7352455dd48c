//! Channels (newsletters, §10.2): the subscribed list over the `w:mex` JSON query and posting a
//! text in plaintext (no end-to-end encryption), which only the owner or an admin may do.

use super::message_id::new_message_id;
use super::messaging::{unix_now, Messenger, SentMessage};
use super::send::{text_message, SendError};
use crate::protocol::binary::Node;
use crate::protocol::jid::Jid;
use crate::protocol::proto::ProtoMessage;
use serde_json::Value;
use std::fmt;

/// The subscribed-newsletters query id (web client).
const SUBSCRIBED_QUERY: &str = "6388546374527196";

/// A channel we follow or run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    /// `ID@newsletter`.
    pub id: Jid,
    pub name: String,
    pub description: Option<String>,
    /// Unix seconds, when known.
    pub creation: Option<u64>,
    pub subscribers: Option<u64>,
    /// Our role: `OWNER`, `ADMIN`, `SUBSCRIBER`, …
    pub role: String,
}

impl ChannelInfo {
    /// Only the owner and admins may post.
    pub fn read_only(&self) -> bool {
        !matches!(self.role.as_str(), "OWNER" | "ADMIN")
    }
}

/// Why a channel operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    NotFound,
    /// We are neither owner nor admin.
    ReadOnly,
    Send(SendError),
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChannelError::NotFound => f.write_str("channel not found"),
            ChannelError::ReadOnly => f.write_str("only channel admins can post"),
            ChannelError::Send(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ChannelError {}

impl From<SendError> for ChannelError {
    fn from(e: SendError) -> Self {
        ChannelError::Send(e)
    }
}

fn text_of(v: &Value) -> Option<String> {
    v.get("text")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

fn number_of(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Reads the `xwa2_newsletter_subscribed` JSON answer.
pub fn parse_subscribed(json: &[u8]) -> Vec<ChannelInfo> {
    let Ok(root) = serde_json::from_slice::<Value>(json) else {
        return Vec::new();
    };
    let Some(list) = root
        .pointer("/data/xwa2_newsletter_subscribed")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .filter_map(|c| {
            let id = Jid::parse(c.get("id")?.as_str()?)
                .ok()
                .filter(Jid::is_newsletter)?;
            let meta = c.get("thread_metadata");
            Some(ChannelInfo {
                id,
                name: meta
                    .and_then(|m| m.get("name"))
                    .and_then(text_of)
                    .unwrap_or_default(),
                description: meta.and_then(|m| m.get("description")).and_then(text_of),
                creation: number_of(meta.and_then(|m| m.get("creation_time"))),
                subscribers: number_of(meta.and_then(|m| m.get("subscribers_count"))),
                role: c
                    .pointer("/viewer_metadata/role")
                    .and_then(Value::as_str)
                    .unwrap_or("SUBSCRIBER")
                    .to_string(),
            })
        })
        .collect()
}

impl Messenger {
    /// The channels we follow or run.
    pub async fn channels(&self) -> Result<Vec<ChannelInfo>, SendError> {
        let iq = Node::new("iq")
            .with_attr("xmlns", "w:mex")
            .with_attr("type", "get")
            .with_attr("to", Jid::server_jid())
            .with_child(
                Node::new("query")
                    .with_attr("query_id", SUBSCRIBED_QUERY)
                    .with_bytes(br#"{"variables":{}}"#.to_vec()),
            );
        let answer = self.iq(iq).await?;
        if answer.attr("type") == Some("error") {
            let code = answer
                .child("error")
                .and_then(|e| e.attr_parse("code"))
                .unwrap_or(500);
            return Err(SendError::Refused(code));
        }
        Ok(answer
            .child("result")
            .and_then(Node::content_bytes)
            .map(parse_subscribed)
            .unwrap_or_default())
    }

    /// Posts `text` to `channel` (plaintext `Message`) and waits for the server ack.
    pub async fn send_channel_text(
        &self,
        channel: &Jid,
        text: &str,
    ) -> Result<SentMessage, ChannelError> {
        self.send_channel_message(channel, text_message(text), None)
            .await
    }

    /// Posts any `Message` to `channel`: the one channel send path. `media_id` is the upload
    /// handle of a channel file (§10.2).
    pub(super) async fn send_channel_message(
        &self,
        channel: &Jid,
        message: crate::protocol::proto::Message,
        media_id: Option<String>,
    ) -> Result<SentMessage, ChannelError> {
        let info = self
            .channels()
            .await?
            .into_iter()
            .find(|c| c.id == *channel)
            .ok_or(ChannelError::NotFound)?;
        if info.read_only() {
            return Err(ChannelError::ReadOnly);
        }
        let own = self.own().ok_or(SendError::NotConnected)?;
        let id = new_message_id(&own.phone, unix_now());
        let mut stanza = Node::new("message")
            .with_attr("id", id.as_str())
            .with_attr("to", channel.clone())
            .with_attr("type", "text")
            .with_opt_attr("media_id", media_id)
            .with_child(Node::new("plaintext").with_bytes(message.encode_to_vec()));
        super::media::content::mark_stanza(&mut stanza, &message);
        let ack = self
            .request(format!("ack:{id}"), stanza, SendError::Timeout)
            .await?;
        if let Some(code) = ack.attr_parse::<u16>("error") {
            return Err(match code {
                404 => ChannelError::NotFound,
                403 => ChannelError::ReadOnly,
                code => ChannelError::Send(SendError::Refused(code)),
            });
        }
        Ok(SentMessage {
            id,
            to: channel.clone(),
            ack: super::receive::AckLevel::Server,
            timestamp: ack.attr_parse("t").unwrap_or_else(unix_now),
        })
    }
}

impl super::EngineHandle {
    /// The channels (newsletters) we follow or run.
    pub async fn channels(&self) -> Result<Vec<ChannelInfo>, SendError> {
        match &self.messenger {
            Some(m) => m.channels().await,
            None => Err(SendError::NotConnected),
        }
    }

    /// Posts a text to a channel we own or administer.
    pub async fn send_channel_text(
        &self,
        channel: &Jid,
        text: &str,
    ) -> Result<SentMessage, ChannelError> {
        match &self.messenger {
            Some(m) => m.send_channel_text(channel, text).await,
            None => Err(ChannelError::Send(SendError::NotConnected)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribed_answers_are_read() {
        let json = r#"{"data":{"xwa2_newsletter_subscribed":[
            {"id":"120363001@newsletter","state":{"type":"ACTIVE"},
             "thread_metadata":{"creation_time":"1699123456","name":{"text":"ערוץ חדשות"},
               "description":{"text":""},"subscribers_count":"12"},
             "viewer_metadata":{"mute":"OFF","role":"SUBSCRIBER"}},
            {"id":"not-a-channel@g.us"}]}}"#
            .as_bytes();
        let list = parse_subscribed(json);
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "ערוץ חדשות");
        assert_eq!(list[0].description, None);
        assert_eq!(list[0].creation, Some(1_699_123_456));
        assert_eq!(list[0].subscribers, Some(12));
        assert!(list[0].read_only());
        assert!(parse_subscribed(b"not json").is_empty());
    }
}
