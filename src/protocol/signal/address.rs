//! Who a session or sender key belongs to.

use crate::protocol::jid::Jid;
use std::fmt;

/// One device of one user: the key under which a pairwise session is stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolAddress {
    /// The user part (`15550001111`, or `123_1` for a LID user, as WhatsApp names sessions).
    pub name: String,
    /// The device id (0 = the phone).
    pub device_id: u32,
}

impl ProtocolAddress {
    /// The address `name.device_id`.
    pub fn new(name: impl Into<String>, device_id: u32) -> ProtocolAddress {
        ProtocolAddress {
            name: name.into(),
            device_id,
        }
    }

    /// The address of a device JID (`user:device@server`).
    pub fn from_jid(jid: &Jid) -> ProtocolAddress {
        ProtocolAddress::new(jid.signal_user(), u32::from(jid.device))
    }
}

impl fmt::Display for ProtocolAddress {
    /// `user.device`, as Baileys and libsignal-node print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.name, self.device_id)
    }
}

/// A sender's key in one group: `group::user::device`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SenderKeyName {
    /// The group JID as text (`120363…@g.us`, or `status@broadcast`).
    pub group_id: String,
    /// The sending device.
    pub sender: ProtocolAddress,
}

impl SenderKeyName {
    /// The sender key of `sender` in `group_id`.
    pub fn new(group_id: impl Into<String>, sender: ProtocolAddress) -> SenderKeyName {
        SenderKeyName {
            group_id: group_id.into(),
            sender,
        }
    }
}

impl fmt::Display for SenderKeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}::{}::{}",
            self.group_id, self.sender.name, self.sender.device_id
        )
    }
}
