//! Sending a reaction (§8.3 `reactionMessage`): an emoji on a message of a 1:1 chat, or an empty one
//! to take the reaction back. Received reactions are read in [`content::reaction_of`](super::content).

use crate::engine::messaging::{unix_now, SentMessage};
use crate::engine::send::SendError;
use crate::protocol::jid::Jid;
use crate::protocol::proto::generated::message::ReactionMessage;
use crate::protocol::proto::generated::MessageKey;
use crate::protocol::proto::Message;

/// `reactionMessage{key{remoteJid, fromMe, id}, text, senderTimestampMs}`.
pub fn reaction_message(chat: &Jid, target_id: &str, target_from_me: bool, emoji: &str) -> Message {
    Message {
        reaction_message: Some(ReactionMessage {
            key: Some(MessageKey {
                remote_jid: Some(chat.to_non_ad().to_string()),
                from_me: Some(target_from_me),
                id: Some(target_id.to_string()),
                participant: None,
            }),
            text: Some(emoji.to_string()),
            grouping_key: None,
            sender_timestamp_ms: i64::try_from(unix_now().saturating_mul(1000)).ok(),
        }),
        ..Default::default()
    }
}

impl crate::engine::EngineHandle {
    /// Reacts with `emoji` (empty: removes our reaction) to message `target_id` of the 1:1 chat
    /// `chat`; `target_from_me` says whether we sent that message.
    pub async fn send_reaction(
        &self,
        chat: &Jid,
        target_id: &str,
        target_from_me: bool,
        emoji: &str,
    ) -> Result<SentMessage, SendError> {
        let message = reaction_message(chat, target_id, target_from_me, emoji);
        match &self.messenger {
            Some(m) => m.send_message_as(chat, message, None).await,
            None => Err(SendError::NotConnected),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::media::content::reaction_of;

    #[test]
    fn a_reaction_reads_back_as_sent() {
        let chat = Jid::phone("15550001111");
        let m = reaction_message(&chat, "3EB0XYZ", true, "🎉");
        let r = reaction_of(&m).unwrap();
        assert_eq!(r.target_id, "3EB0XYZ");
        assert_eq!(r.emoji, "🎉");
        assert!(r.target_from_me);
        assert_eq!(m.kind().stanza_type(), "reaction");
        assert_eq!(
            m.reaction_message
                .unwrap()
                .key
                .unwrap()
                .remote_jid
                .as_deref(),
            Some("15550001111@s.whatsapp.net")
        );
    }
}
