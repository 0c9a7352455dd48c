//! Encoding and decoding of the `Message` plaintext carried inside Signal ciphertexts.

use std::fmt;

use prost::Message as _;

use super::generated::Message;
use super::padding::{pad, unpad, PaddingError};

/// Why bytes could not be turned into a protobuf message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtoError {
    /// The random padding after the message is malformed.
    Padding(PaddingError),
    /// The bytes are not a valid protobuf encoding of the expected message.
    Decode(prost::DecodeError),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::Padding(e) => write!(f, "bad message padding: {e}"),
            ProtoError::Decode(e) => write!(f, "bad protobuf: {e}"),
        }
    }
}

impl std::error::Error for ProtoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ProtoError::Padding(e) => Some(e),
            ProtoError::Decode(e) => Some(e),
        }
    }
}

impl From<PaddingError> for ProtoError {
    fn from(e: PaddingError) -> Self {
        ProtoError::Padding(e)
    }
}

impl From<prost::DecodeError> for ProtoError {
    fn from(e: prost::DecodeError) -> Self {
        ProtoError::Decode(e)
    }
}

/// Decodes an unpadded `Message` (e.g. a newsletter plaintext or a `v="3"` payload).
pub fn decode_message(encoded: &[u8]) -> Result<Message, ProtoError> {
    Ok(Message::decode(encoded)?)
}

/// Strips the random padding of a decrypted `<enc v="2">` plaintext and decodes the `Message`.
pub fn decode_padded_message(padded: &[u8]) -> Result<Message, ProtoError> {
    decode_message(unpad(padded)?)
}

/// Encodes `message` and appends the padding chosen by `random_byte` (see [`pad`]), ready for Signal
/// encryption.
pub fn encode_padded_message(message: &Message, random_byte: u8) -> Vec<u8> {
    pad(&message.encode_to_vec(), random_byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_message_round_trips() {
        let message = Message {
            conversation: Some("hi".to_string()),
            ..Default::default()
        };
        let padded = encode_padded_message(&message, 7);
        assert_eq!(padded.len(), message.encoded_len() + 8);
        assert_eq!(decode_padded_message(&padded), Ok(message));
    }

    /// Mutates a real nested message many times; decoding must return, never panic.
    #[test]
    fn mutated_messages_never_panic() {
        use crate::protocol::proto::generated::{message::ExtendedTextMessage, ContextInfo};
        let quoted = Message {
            conversation: Some("original".into()),
            ..Default::default()
        };
        let message = Message {
            extended_text_message: Some(Box::new(ExtendedTextMessage {
                text: Some("reply".into()),
                context_info: Some(Box::new(ContextInfo {
                    stanza_id: Some("3EB0".into()),
                    quoted_message: Some(Box::new(quoted)),
                    mentioned_jid: vec!["1@s.whatsapp.net".into()],
                    ..Default::default()
                })),
                ..Default::default()
            })),
            ..Default::default()
        };
        let original = encode_padded_message(&message, 3);
        // xorshift64: deterministic, no extra dependency.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut decoded_ok = 0usize;
        for _ in 0..20_000 {
            let mut bytes = original.clone();
            for _ in 0..=(next() % 4) {
                let len = bytes.len() as u64;
                let pos = usize::try_from(next() % len).unwrap_or(0);
                match next() % 3 {
                    0 => bytes[pos] = next().to_le_bytes()[0],
                    1 => bytes.truncate(pos.max(1)),
                    _ => bytes.insert(pos, next().to_le_bytes()[0]),
                }
            }
            if decode_padded_message(&bytes).is_ok() {
                decoded_ok += 1;
            }
        }
        // Some mutations leave a valid message, most do not; both paths ran.
        assert!(decoded_ok > 0 && decoded_ok < 20_000, "{decoded_ok}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        // Field 1 as length-delimited with a length running past the end.
        assert!(matches!(
            decode_padded_message(&[0x0a, 0x7f, 0x01]),
            Err(ProtoError::Decode(_))
        ));
        assert!(matches!(
            decode_padded_message(&[0x0a, 0x00, 0x00]),
            Err(ProtoError::Padding(PaddingError::InvalidLength(0)))
        ));
    }
}
