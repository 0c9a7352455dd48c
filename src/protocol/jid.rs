//! WhatsApp addresses ("JIDs"): `user[_agent][:device]@server`.
//!
//! One [`Jid`] type covers every server kind WhatsApp uses (phone-number users, legacy `c.us`, groups,
//! hidden "linked identity" users, broadcast lists, newsletters, hosted accounts, Messenger and interop
//! users, bots, calls) and the server-only address with an empty user (`@s.whatsapp.net`).
//!
//! String forms: the agent may be written `_agent` (Baileys) or `.agent` (whatsmeow); we print `_agent`.
//! A device of 0 is the primary phone and is not printed. Interop addresses read
//! `integrator-user:device@interop`, Messenger addresses `user:device@msgr` (both always print the device,
//! as Baileys does).
//!
//! The public API speaks `@c.us` ids while WhatsApp itself uses `@s.whatsapp.net`; see
//! [`Jid::to_whatsapp`] and [`Jid::to_c_us`].

use std::fmt;
use std::str::FromStr;

/// The part after `@`: which WhatsApp service an address belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Server {
    /// `s.whatsapp.net`: phone-number users (and the server itself, with an empty user).
    Whatsapp,
    /// `c.us`: the legacy phone-number server, still used by contact queries and our public API.
    LegacyUser,
    /// `g.us`: groups.
    Group,
    /// `lid`: hidden "linked identity" users.
    Lid,
    /// `broadcast`: `status@broadcast` and broadcast lists.
    Broadcast,
    /// `newsletter`: channels.
    Newsletter,
    /// `hosted`: phone-number users hosted by a business provider.
    Hosted,
    /// `hosted.lid`: linked identities of hosted users.
    HostedLid,
    /// `msgr`: Messenger users (encoded as FB_JID).
    Messenger,
    /// `interop`: users of other messaging services (encoded as INTEROP_JID).
    Interop,
    /// `bot`: Meta AI bots.
    Bot,
    /// `call`: call links.
    Call,
    /// Any other server name, kept verbatim.
    Other(String),
}

impl Server {
    /// The server's name as written after `@`.
    pub fn as_str(&self) -> &str {
        match self {
            Server::Whatsapp => "s.whatsapp.net",
            Server::LegacyUser => "c.us",
            Server::Group => "g.us",
            Server::Lid => "lid",
            Server::Broadcast => "broadcast",
            Server::Newsletter => "newsletter",
            Server::Hosted => "hosted",
            Server::HostedLid => "hosted.lid",
            Server::Messenger => "msgr",
            Server::Interop => "interop",
            Server::Bot => "bot",
            Server::Call => "call",
            Server::Other(name) => name,
        }
    }

    /// The server for a name; unknown names become [`Server::Other`].
    pub fn from_name(name: &str) -> Server {
        match name {
            "s.whatsapp.net" => Server::Whatsapp,
            "c.us" => Server::LegacyUser,
            "g.us" => Server::Group,
            "lid" => Server::Lid,
            "broadcast" => Server::Broadcast,
            "newsletter" => Server::Newsletter,
            "hosted" => Server::Hosted,
            "hosted.lid" => Server::HostedLid,
            "msgr" => Server::Messenger,
            "interop" => Server::Interop,
            "bot" => Server::Bot,
            "call" => Server::Call,
            other => Server::Other(other.to_string()),
        }
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// AD_JID domain byte for `lid` addresses.
pub const DOMAIN_LID: u8 = 1;
/// AD_JID domain byte for `hosted` addresses.
pub const DOMAIN_HOSTED: u8 = 128;
/// AD_JID domain byte for `hosted.lid` addresses.
pub const DOMAIN_HOSTED_LID: u8 = 129;

/// A WhatsApp address.
///
/// `agent` and `device` are 0 for plain user addresses; `integrator` is only used by interop users.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Jid {
    /// The user part: a phone number, LID, group id, `status`, … Empty for a server address.
    pub user: String,
    /// The agent (0 = none). On the wire it shares the AD_JID domain byte.
    pub agent: u8,
    /// The device: 0 is the primary phone, companions are 1..N.
    pub device: u16,
    /// The interop integrator id (only for [`Server::Interop`]).
    pub integrator: u16,
    /// The server.
    pub server: Server,
}

/// Why a string is not a JID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JidError {
    /// There is no `@` separating user and server.
    MissingAt,
    /// The server part is empty or contains another `@`.
    BadServer,
    /// The device (after `:`) is not a number from 0 to 65535.
    BadDevice,
    /// The interop prefix (`integrator-`) is not a number from 0 to 65535.
    BadIntegrator,
}

impl fmt::Display for JidError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JidError::MissingAt => "a JID needs an '@' between user and server",
            JidError::BadServer => "the JID server is empty or malformed",
            JidError::BadDevice => "the JID device is not a number from 0 to 65535",
            JidError::BadIntegrator => "the interop integrator is not a number from 0 to 65535",
        })
    }
}

impl std::error::Error for JidError {}

impl Jid {
    /// A plain address `user@server` (no agent, no device).
    pub fn new(user: impl Into<String>, server: Server) -> Jid {
        Jid {
            user: user.into(),
            agent: 0,
            device: 0,
            integrator: 0,
            server,
        }
    }

    /// A phone-number user on `s.whatsapp.net`.
    pub fn phone(user: impl Into<String>) -> Jid {
        Jid::new(user, Server::Whatsapp)
    }

    /// A hidden ("linked identity") user on `lid`.
    pub fn lid(user: impl Into<String>) -> Jid {
        Jid::new(user, Server::Lid)
    }

    /// A group on `g.us`.
    pub fn group(id: impl Into<String>) -> Jid {
        Jid::new(id, Server::Group)
    }

    /// The server address with an empty user, `@s.whatsapp.net` (the `to` of most iqs).
    pub fn server_jid() -> Jid {
        Jid::new("", Server::Whatsapp)
    }

    /// The group server address `@g.us` (the `to` of group-create and group-list iqs).
    pub fn group_server() -> Jid {
        Jid::new("", Server::Group)
    }

    /// `status@broadcast`.
    pub fn status_broadcast() -> Jid {
        Jid::new("status", Server::Broadcast)
    }

    /// The same address on a specific device.
    pub fn with_device(mut self, device: u16) -> Jid {
        self.device = device;
        self
    }

    /// Builds an address from the parts of an AD_JID: the domain byte picks the server
    /// (1 `lid`, 128 `hosted`, 129 `hosted.lid`, anything else `s.whatsapp.net` with that byte as agent).
    pub fn from_ad_parts(user: impl Into<String>, domain: u8, device: u16) -> Jid {
        let (server, agent) = match domain {
            DOMAIN_LID => (Server::Lid, 0),
            DOMAIN_HOSTED => (Server::Hosted, 0),
            DOMAIN_HOSTED_LID => (Server::HostedLid, 0),
            other => (Server::Whatsapp, other),
        };
        Jid {
            user: user.into(),
            agent,
            device,
            integrator: 0,
            server,
        }
    }

    /// The AD_JID domain byte: fixed by the server for `lid` and hosted addresses, else the agent.
    pub fn domain_type(&self) -> u8 {
        match self.server {
            Server::Lid => DOMAIN_LID,
            Server::Hosted => DOMAIN_HOSTED,
            Server::HostedLid => DOMAIN_HOSTED_LID,
            _ => self.agent,
        }
    }

    /// Parses `user[_agent|.agent][:device]@server` (or `integrator-user:device@interop`).
    pub fn parse(text: &str) -> Result<Jid, JidError> {
        let (user_part, server) = text.split_once('@').ok_or(JidError::MissingAt)?;
        if server.is_empty() || server.contains('@') {
            return Err(JidError::BadServer);
        }
        let server = Server::from_name(server);
        let (user_agent, device) = match user_part.split_once(':') {
            Some((ua, dev)) => (ua, dev.parse::<u16>().map_err(|_| JidError::BadDevice)?),
            None => (user_part, 0),
        };
        let mut jid = Jid::new("", server).with_device(device);
        if jid.server == Server::Interop {
            if let Some((integrator, user)) = user_agent.split_once('-') {
                jid.integrator = integrator
                    .parse::<u16>()
                    .map_err(|_| JidError::BadIntegrator)?;
                jid.user = user.to_string();
                return Ok(jid);
            }
        }
        let (user, agent) = split_agent(user_agent);
        jid.user = user.to_string();
        jid.agent = agent;
        Ok(jid)
    }

    /// The same address without agent and device: the user as a whole rather than one of its devices.
    pub fn to_non_ad(&self) -> Jid {
        Jid {
            user: self.user.clone(),
            agent: 0,
            device: 0,
            integrator: self.integrator,
            server: self.server.clone(),
        }
    }

    /// The `s.whatsapp.net` form of a `c.us` address (other addresses are returned unchanged).
    /// WhatsApp's wire protocol only uses `s.whatsapp.net` for phone-number users.
    pub fn to_whatsapp(&self) -> Jid {
        let mut jid = self.clone();
        if jid.server == Server::LegacyUser {
            jid.server = Server::Whatsapp;
        }
        jid
    }

    /// The `c.us` form of an `s.whatsapp.net` user address, as the public API shows it (device and agent
    /// dropped). The server address and other servers are returned unchanged.
    pub fn to_c_us(&self) -> Jid {
        if self.server == Server::Whatsapp && !self.user.is_empty() {
            Jid::new(self.user.clone(), Server::LegacyUser)
        } else {
            self.clone()
        }
    }

    /// The Signal protocol "name" of this address: the user, plus `_<domain>` for non-zero domain types
    /// (LID and hosted addresses), as whatsmeow and WhatsApp Web name sessions.
    pub fn signal_user(&self) -> String {
        match self.domain_type() {
            0 => self.user.clone(),
            domain => format!("{}_{}", self.user, domain),
        }
    }

    /// True for a group (`g.us`).
    pub fn is_group(&self) -> bool {
        self.server == Server::Group
    }

    /// True for a phone-number user (`s.whatsapp.net` or `c.us` with a user).
    pub fn is_phone_user(&self) -> bool {
        matches!(self.server, Server::Whatsapp | Server::LegacyUser) && !self.user.is_empty()
    }

    /// True for a hidden "linked identity" user (`lid` or `hosted.lid`).
    pub fn is_lid(&self) -> bool {
        matches!(self.server, Server::Lid | Server::HostedLid)
    }

    /// True for a hosted user (`hosted` or `hosted.lid`).
    pub fn is_hosted(&self) -> bool {
        matches!(self.server, Server::Hosted | Server::HostedLid)
    }

    /// True for any one-person address that can have devices: phone-number, LID or hosted users.
    pub fn is_user(&self) -> bool {
        !self.user.is_empty()
            && matches!(
                self.server,
                Server::Whatsapp
                    | Server::LegacyUser
                    | Server::Lid
                    | Server::Hosted
                    | Server::HostedLid
            )
    }

    /// True for a server address (empty user), such as `@s.whatsapp.net`.
    pub fn is_server(&self) -> bool {
        self.user.is_empty()
    }

    /// True for `status@broadcast`.
    pub fn is_status_broadcast(&self) -> bool {
        self.server == Server::Broadcast && self.user == "status"
    }

    /// True for a broadcast list (a `broadcast` address other than `status`).
    pub fn is_broadcast_list(&self) -> bool {
        self.server == Server::Broadcast && self.user != "status" && !self.user.is_empty()
    }

    /// True for a newsletter (channel).
    pub fn is_newsletter(&self) -> bool {
        self.server == Server::Newsletter
    }

    /// True for a Meta AI bot address (`bot` server).
    pub fn is_bot(&self) -> bool {
        self.server == Server::Bot
    }

    /// True when this address names one specific device (device or agent set).
    pub fn is_ad(&self) -> bool {
        self.device != 0 || self.agent != 0
    }
}

/// Splits an `_agent` or `.agent` suffix off a user when it is a number that fits a byte.
fn split_agent(user_agent: &str) -> (&str, u8) {
    if let Some(pos) = user_agent.rfind(['_', '.']) {
        let (user, suffix) = (&user_agent[..pos], &user_agent[pos + 1..]);
        let digits =
            !suffix.is_empty() && suffix.len() <= 3 && suffix.bytes().all(|b| b.is_ascii_digit());
        if digits && !user.is_empty() {
            if let Ok(agent) = suffix.parse::<u8>() {
                return (user, agent);
            }
        }
    }
    (user_agent, 0)
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.server {
            Server::Interop => write!(
                f,
                "{}-{}:{}@{}",
                self.integrator, self.user, self.device, self.server
            ),
            Server::Messenger => write!(f, "{}:{}@{}", self.user, self.device, self.server),
            _ => {
                f.write_str(&self.user)?;
                if self.agent != 0 {
                    write!(f, "_{}", self.agent)?;
                }
                if self.device != 0 {
                    write!(f, ":{}", self.device)?;
                }
                write!(f, "@{}", self.server)
            }
        }
    }
}

impl FromStr for Jid {
    type Err = JidError;

    fn from_str(s: &str) -> Result<Jid, JidError> {
        Jid::parse(s)
    }
}

/// Serialized as its string form, so stored credentials and API payloads read naturally.
impl serde::Serialize for Jid {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Jid {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Jid, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Jid::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(text: &str) -> Jid {
        let jid = Jid::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(jid.to_string(), text, "format(parse({text}))");
        jid
    }

    #[test]
    fn every_server_kind_parses_and_formats() {
        let cases = [
            ("15551234567@s.whatsapp.net", Server::Whatsapp),
            ("16505361212@c.us", Server::LegacyUser),
            ("120363025246125486@g.us", Server::Group),
            ("15551234567-1609459200@g.us", Server::Group),
            ("123456789012345@lid", Server::Lid),
            ("status@broadcast", Server::Broadcast),
            ("1609459200@broadcast", Server::Broadcast),
            ("120363144038483540@newsletter", Server::Newsletter),
            ("15551234567:3@hosted", Server::Hosted),
            ("123456789012345:3@hosted.lid", Server::HostedLid),
            ("100000000000001:0@msgr", Server::Messenger),
            ("7-15551234567:2@interop", Server::Interop),
            ("867051314767696@bot", Server::Bot),
            ("ABCDEF0123@call", Server::Call),
            ("@s.whatsapp.net", Server::Whatsapp),
            ("x@example.org", Server::Other("example.org".into())),
        ];
        for (text, server) in cases {
            assert_eq!(roundtrip(text).server, server, "{text}");
        }
    }

    #[test]
    fn agent_and_device_parts() {
        let jid = roundtrip("15551234567_1:4@s.whatsapp.net");
        assert_eq!(
            (jid.user.as_str(), jid.agent, jid.device),
            ("15551234567", 1, 4)
        );
        let dotted = Jid::parse("15551234567.1:4@s.whatsapp.net").unwrap();
        assert_eq!(dotted, jid, "whatsmeow's .agent form");
        let interop = Jid::parse("7-15551234567:2@interop").unwrap();
        assert_eq!(
            (interop.integrator, interop.user.as_str(), interop.device),
            (7, "15551234567", 2)
        );
        assert_eq!(
            Jid::parse("15551234567:0@s.whatsapp.net")
                .unwrap()
                .to_string(),
            "15551234567@s.whatsapp.net"
        );
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(Jid::parse("15551234567"), Err(JidError::MissingAt));
        assert_eq!(Jid::parse("1@"), Err(JidError::BadServer));
        assert_eq!(Jid::parse("1@a@b"), Err(JidError::BadServer));
        assert_eq!(Jid::parse("1:x@s.whatsapp.net"), Err(JidError::BadDevice));
        assert_eq!(
            Jid::parse("1:70000@s.whatsapp.net"),
            Err(JidError::BadDevice)
        );
        assert_eq!(Jid::parse("x-1:2@interop"), Err(JidError::BadIntegrator));
    }

    #[test]
    fn conversions_and_predicates() {
        let api = Jid::parse("15551234567@c.us").unwrap();
        let wire = api.to_whatsapp();
        assert_eq!(wire.to_string(), "15551234567@s.whatsapp.net");
        let device = wire.clone().with_device(5);
        assert_eq!(device.to_c_us(), api);
        assert_eq!(device.to_non_ad(), wire);
        assert!(device.is_ad() && !wire.is_ad());
        assert!(Jid::parse("1-2@g.us").unwrap().is_group());
        assert!(Jid::status_broadcast().is_status_broadcast());
        assert!(Jid::parse("9@broadcast").unwrap().is_broadcast_list());
        assert!(!Jid::status_broadcast().is_broadcast_list());
        assert!(Jid::server_jid().is_server() && !Jid::server_jid().is_user());
        assert!(Jid::lid("1").is_lid() && Jid::lid("1").is_user());
        assert_eq!(Jid::lid("99").with_device(2).signal_user(), "99_1");
        assert_eq!(Jid::phone("99").with_device(2).signal_user(), "99");
        assert_eq!(
            Jid::from_ad_parts("5", DOMAIN_HOSTED, 1).server,
            Server::Hosted
        );
        assert_eq!(Jid::from_ad_parts("5", 7, 1).agent, 7);
    }

    #[test]
    fn serde_uses_the_string_form() {
        let jid = Jid::lid("123").with_device(4);
        let json = serde_json::to_string(&jid).unwrap_or_default();
        assert_eq!(json, "\"123:4@lid\"");
        assert_eq!(serde_json::from_str::<Jid>(&json).ok(), Some(jid));
        assert!(serde_json::from_str::<Jid>("\"no-at\"").is_err());
    }
}
