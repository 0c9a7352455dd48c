//! Groups and channels: the client's groups (`GET /api/groups/:clientId`), sending a text to a group
//! with an API key (`POST /api/send-group-message`, after a random 2–5 s anti-spam delay from
//! `[whatsapp] group_delay_min_ms/group_delay_max_ms`) and from the dashboard
//! (`POST /api/groups/:clientId/:groupId/send`, no delay). Groups come from the client's WhatsApp
//! engine (`w:g2`), channels (newsletters, `ID@newsletter`) from its `w:mex` query; a channel takes
//! posts only from its owner and admins (otherwise 403 `READ_ONLY_CHAT`). `isMuted` and `pinned`
//! are what the phone last synced for that JID (app state), as for private chats.
//!
//! Media: `mediaUrl` with `mediaType` (required then) is fetched by Chattu and sent with `message`
//! as its caption (see `messages::fetch_outgoing`); fetch and validation failures are 400
//! `MEDIA_ERROR`.

use std::time::Duration;

use hyper::StatusCode;
use serde_json::{json, Value};

use super::messages::{
    connected_engine, fetch_outgoing, media_type_field, media_url_field, message_type,
};
use super::{boxed_handlers, HandlerResult};
use crate::engine::channels::{ChannelError, ChannelInfo};
use crate::engine::groups::{GroupError, GroupInfo};
use crate::engine::media::OutgoingMedia;
use crate::engine::messaging::SentMessage;
use crate::engine::send::SendError;
use crate::engine::{EngineHandle, EngineStatus};
use crate::http::dispatch::{blocking, Ctx};
use crate::http::error::ApiError;
use crate::http::response;
use crate::protocol::jid::Jid;
use crate::services::media_fetch::MediaKind;
use crate::services::{Clock, SystemClock};
use crate::store::group_activity::GroupActivity;

boxed_handlers! {
    list => list_impl;
    send_api => send_api_impl;
    send_session => send_session_impl;
}

/// The longest group text the API accepts (the API doc's limit).
const MAX_GROUP_TEXT_CHARS: usize = 4096;

fn group_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "GROUP_NOT_FOUND",
        "No such group on this WhatsApp client.",
    )
}

fn group_error(e: &GroupError) -> ApiError {
    match e {
        GroupError::NotFound => group_not_found(),
        GroupError::NotParticipant => ApiError::new(
            StatusCode::FORBIDDEN,
            "ACCESS_DENIED",
            "This WhatsApp client is not a participant of the group.",
        ),
        GroupError::ReadOnly => ApiError::new(
            StatusCode::FORBIDDEN,
            "READ_ONLY_CHAT",
            "Only group admins can send messages to this group.",
        ),
        // The same answers as a 1:1 send for a session that is down, slow or refused.
        GroupError::Send(
            e @ (SendError::NotConnected | SendError::Timeout | SendError::Refused(_)),
        ) => super::messages::send_error(e, "groupId"),
        GroupError::Send(other) => {
            log::error!("group send: {other}");
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "WHATSAPP_ERROR",
                "The message could not be sent.",
            )
        }
    }
}

/// A group (`<digits>@g.us`) or channel (`<digits>@newsletter`) id from the caller. A phone chat
/// or anything else is not a group chat (400 `INVALID_CHAT_TYPE`).
fn group_jid(raw: &str) -> Result<Jid, ApiError> {
    let raw = raw.trim();
    let invalid = |what: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_CHAT_TYPE",
            format!("{what} is not a group; use <id>@g.us."),
        )
    };
    if raw.is_empty() {
        return Err(ApiError::validation("groupId", "groupId is required."));
    }
    if let Some(user) = raw.strip_suffix("@newsletter") {
        if user.is_empty() || user.len() > 40 || !user.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(raw));
        }
        return Ok(Jid::new(user, crate::protocol::jid::Server::Newsletter));
    }
    let user = raw.strip_suffix("@g.us").ok_or_else(|| invalid(raw))?;
    let valid = !user.is_empty()
        && user.len() <= 40
        && user.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(invalid(raw));
    }
    Ok(Jid::group(user))
}

/// A file to fetch and send: the request's `mediaUrl` and `mediaType`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MediaRequest {
    url: String,
    kind: MediaKind,
}

/// The caller's text (at most [`MAX_GROUP_TEXT_CHARS`]) and media: a text, a `mediaUrl` with its
/// `mediaType`, or both (the text is then the caption).
fn group_content(
    message: Option<String>,
    media_url: Option<String>,
    media_type: Option<String>,
) -> Result<(String, Option<MediaRequest>), ApiError> {
    let kind = media_type_field(media_type)?;
    let media = match (media_url_field(media_url), kind) {
        (Some(url), Some(kind)) => Some(MediaRequest { url, kind }),
        (Some(_), None) => {
            return Err(ApiError::validation(
                "mediaType",
                "mediaType (image, video, audio or document) is required with mediaUrl.",
            ))
        }
        (None, _) => None,
    };
    let text = message.unwrap_or_default();
    if text.trim().is_empty() && media.is_none() {
        return Err(ApiError::validation(
            "message",
            "Either a text message or media attachment must be included.",
        ));
    }
    if text.chars().count() > MAX_GROUP_TEXT_CHARS {
        return Err(ApiError::validation(
            "message",
            format!("message is longer than {MAX_GROUP_TEXT_CHARS} characters."),
        ));
    }
    Ok((text, media))
}

/// True when we may not send: an announcement group where our number is not an admin.
fn read_only(info: &GroupInfo, own_phone: Option<&str>) -> bool {
    info.announce && !own_phone.is_some_and(|p| info.is_admin(p))
}

/// `lastMessage`, `timestamp` (the last message's, else the creation time) and `unreadCount`.
fn activity_fields(activity: Option<&GroupActivity>, created: u64) -> (Value, u64, u32) {
    match activity {
        Some(a) => (
            json!({ "body": a.body, "timestamp": a.timestamp, "fromMe": a.from_me }),
            a.timestamp.max(created),
            a.unread_count,
        ),
        None => (Value::Null, created, 0),
    }
}

/// What the list adds to a group or channel from this client's own records.
struct Listed<'a> {
    activity: Option<&'a GroupActivity>,
    /// Mute and pin as the phone last synced them (app state).
    is_muted: bool,
    pinned: bool,
}

fn group_view(info: &GroupInfo, own_phone: Option<&str>, listed: &Listed) -> Value {
    let (last, timestamp, unread) = activity_fields(listed.activity, info.creation);
    json!({
        "id": info.id.to_string(),
        "name": info.subject,
        "description": info.description,
        "profilePic": null,
        "participants": info.participants.len(),
        "owner": info.creator.as_ref().map(|c| format!("{}@c.us", c.user)),
        "createdAt": (info.creation > 0).then_some(info.creation),
        "lastMessage": last,
        "timestamp": timestamp,
        "unreadCount": unread,
        "isMuted": listed.is_muted,
        "pinned": listed.pinned,
        "isReadOnly": read_only(info, own_phone),
        "type": "group",
    })
}

fn channel_view(info: &ChannelInfo, listed: &Listed) -> Value {
    let (last, timestamp, unread) =
        activity_fields(listed.activity, info.creation.unwrap_or_default());
    json!({
        "id": info.id.to_string(),
        "name": info.name,
        "description": info.description,
        "profilePic": null,
        "lastMessage": last,
        "timestamp": timestamp,
        "unreadCount": unread,
        "isMuted": listed.is_muted,
        "pinned": listed.pinned,
        "isReadOnly": info.read_only(),
        "type": "channel",
    })
}

fn channel_error(e: &ChannelError) -> ApiError {
    match e {
        ChannelError::NotFound => group_not_found(),
        ChannelError::ReadOnly => ApiError::new(
            StatusCode::FORBIDDEN,
            "READ_ONLY_CHAT",
            "Only the channel's owner and admins can post to it.",
        ),
        ChannelError::Send(e) => group_error(&GroupError::Send(e.clone())),
    }
}

/// Our own phone number on the engine, when connected.
fn own_phone(handle: &EngineHandle) -> Option<String> {
    match handle.status() {
        EngineStatus::Connected { jid, .. } => Jid::parse(&jid).ok().map(|j| j.user),
        _ => None,
    }
}

/// GET /api/groups/:clientId
async fn list_impl(ctx: Ctx) -> HandlerResult {
    let caller = ctx.caller()?.clone();
    let client_id = ctx.param("clientId")?.to_string();
    let id = client_id.clone();
    blocking(ctx.app(), move |app| app.clients.record(&caller, &id)).await?;
    let handle = connected_engine(&ctx, &client_id)?;
    let groups = handle.groups().await.map_err(|e| group_error(&e))?;
    let channels = handle
        .channels()
        .await
        .map_err(|e| group_error(&GroupError::Send(e)))?;
    let id = client_id.clone();
    let (activity, settings) = blocking(ctx.app(), move |app| {
        Ok((app.store.group_activity(&id)?, app.store.chat_syncs(&id)?))
    })
    .await?;
    let me = own_phone(&handle);
    let now_ms = SystemClock.now_ms();
    let of = |jid: &Jid| {
        let jid = jid.to_string();
        let synced = settings.get(&jid);
        Listed {
            activity: activity.get(&jid),
            is_muted: synced.is_some_and(|s| s.muted_at(now_ms)),
            pinned: synced.is_some_and(|s| s.pinned),
        }
    };
    let mut groups: Vec<Value> = groups
        .iter()
        .map(|g| group_view(g, me.as_deref(), &of(&g.id)))
        .collect();
    let mut channels: Vec<Value> = channels
        .iter()
        .map(|c| channel_view(c, &of(&c.id)))
        .collect();
    // Most recent activity first (the API doc's order for both lists); within one second, one
    // with messages before one without.
    for list in [&mut groups, &mut channels] {
        list.sort_by_key(|v| {
            let at = v["timestamp"].as_u64().unwrap_or_default();
            std::cmp::Reverse((at, !v["lastMessage"].is_null()))
        });
    }
    Ok(response::json(
        StatusCode::OK,
        &json!({ "total": groups.len() + channels.len(), "groups": groups, "channels": channels }),
    ))
}

fn sent_json(sent: &SentMessage, text: &str, kind: &str) -> Value {
    json!({
        "id": { "_serialized": format!("true_{}_{}", sent.to, sent.id), "id": sent.id },
        "body": text,
        "timestamp": sent.timestamp,
        "type": kind,
    })
}

/// The file of `media`, fetched (after the group checks, so a refused send fetches nothing).
async fn fetch_group_media(
    ctx: &Ctx,
    media: Option<&MediaRequest>,
    caption: &str,
) -> Result<Option<OutgoingMedia>, ApiError> {
    match media {
        Some(m) => Ok(Some(
            fetch_outgoing(ctx, &m.url, Some(m.kind), caption).await?,
        )),
        None => Ok(None),
    }
}

/// Checks the group (found, we may send), fetches the media if any, and sends; records the text
/// in the sent history. Answers the sent message, the group's name and the message `type`.
async fn send_to_group(
    ctx: &Ctx,
    client_id: &str,
    group: &Jid,
    text: &str,
    media: Option<&MediaRequest>,
    delay: Option<Duration>,
) -> Result<(SentMessage, String, &'static str), ApiError> {
    let handle = connected_engine(ctx, client_id)?;
    if group.is_newsletter() {
        let channel = handle
            .channels()
            .await
            .map_err(|e| group_error(&GroupError::Send(e)))?
            .into_iter()
            .find(|c| c.id == *group)
            .ok_or_else(group_not_found)?;
        if channel.read_only() {
            return Err(channel_error(&ChannelError::ReadOnly));
        }
        let file = fetch_group_media(ctx, media, text).await?;
        let kind = message_type(file.as_ref());
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let sent = match file {
            Some(file) => handle.send_channel_media(group, file).await,
            None => handle.send_channel_text(group, text).await,
        }
        .map_err(|e| channel_error(&e))?;
        record_sent(
            ctx,
            client_id,
            group,
            text,
            sent.ack.as_str(),
            sent.timestamp,
        )
        .await?;
        return Ok((sent, channel.name, kind));
    }
    let info = handle
        .group_info(group)
        .await
        .map_err(|e| group_error(&e))?;
    if read_only(&info, own_phone(&handle).as_deref()) {
        return Err(group_error(&GroupError::ReadOnly));
    }
    let file = fetch_group_media(ctx, media, text).await?;
    let kind = message_type(file.as_ref());
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let outcome = match file {
        Some(file) => handle.send_group_media(group, file).await,
        None => handle.send_group_text(group, text).await,
    };
    let (status, timestamp) = match &outcome {
        Ok(sent) => (sent.ack.as_str(), sent.timestamp),
        Err(GroupError::Send(SendError::Refused(_))) => ("failed", 0),
        Err(e) => return Err(group_error(e)),
    };
    record_sent(ctx, client_id, group, text, status, timestamp).await?;
    let sent = outcome.map_err(|e| group_error(&e))?;
    Ok((sent, info.subject, kind))
}

/// The text in the sent history (status `server`, or `failed` when WhatsApp refused it); a sent
/// one also becomes the group's last message (`timestamp`: Unix seconds of the send).
async fn record_sent(
    ctx: &Ctx,
    client_id: &str,
    to: &Jid,
    text: &str,
    status: &str,
    timestamp: u64,
) -> Result<(), ApiError> {
    let (cid, to, body, st) = (
        client_id.to_string(),
        to.to_string(),
        text.to_string(),
        status.to_string(),
    );
    blocking(ctx.app(), move |app| {
        app.history.record_sent(&cid, &to, &body, &st)?;
        if st != "failed" {
            app.store
                .note_group_message(&cid, &to, &body, timestamp, true)?;
        }
        Ok(())
    })
    .await?;
    Ok(())
}

/// A random delay between the configured bounds (milliseconds, inclusive).
fn anti_spam_delay(min_ms: u64, max_ms: u64) -> Duration {
    use ring::rand::SecureRandom;
    let (low, high) = (min_ms.min(max_ms), min_ms.max(max_ms));
    let mut bytes = [0u8; 8];
    let spread = if ring::rand::SystemRandom::new().fill(&mut bytes).is_ok() {
        u64::from_le_bytes(bytes) % (high - low + 1)
    } else {
        0
    };
    Duration::from_millis(low + spread)
}

/// POST /api/send-group-message `{clientId, groupId, message?, mediaUrl?, mediaType?}`
async fn send_api_impl(ctx: Ctx) -> HandlerResult {
    let fields = ctx.json()?;
    let client_id = fields.string("clientId")?;
    let group = group_jid(&fields.string("groupId")?)?;
    let (text, media) = group_content(
        fields.opt_string("message")?,
        fields.opt_string("mediaUrl")?,
        fields.opt_string("mediaType")?,
    )?;
    let caller = ctx.caller()?.clone();
    let id = client_id.clone();
    blocking(ctx.app(), move |app| app.clients.record(&caller, &id)).await?;
    let config = &ctx.app().config.whatsapp;
    let delay = anti_spam_delay(config.group_delay_min_ms, config.group_delay_max_ms);
    let (sent, name, kind) =
        send_to_group(&ctx, &client_id, &group, &text, media.as_ref(), Some(delay)).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "success": true,
            "message": sent_json(&sent, &text, kind),
            "groupId": group.to_string(),
            "groupName": name,
        }),
    ))
}

/// POST /api/groups/:clientId/:groupId/send `{message?, mediaUrl?, mediaType?}` (session, chat
/// limiter)
async fn send_session_impl(ctx: Ctx) -> HandlerResult {
    let client_id = ctx.param("clientId")?.to_string();
    let group = group_jid(ctx.param("groupId")?)?;
    let fields = ctx.json()?;
    let (text, media) = group_content(
        fields.opt_string("message")?,
        fields.opt_string("mediaUrl")?,
        fields.opt_string("mediaType")?,
    )?;
    let caller = ctx.caller()?.clone();
    let id = client_id.clone();
    blocking(ctx.app(), move |app| app.clients.record(&caller, &id)).await?;
    let (sent, name, kind) =
        send_to_group(&ctx, &client_id, &group, &text, media.as_ref(), None).await?;
    Ok(response::json(
        StatusCode::OK,
        &json!({
            "success": true,
            "message": sent_json(&sent, &text, kind),
            "groupId": group.to_string(),
            "groupName": name,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_group_ids_are_groups() {
        assert_eq!(
            group_jid("120363123456789012@g.us")
                .map(|j| j.to_string())
                .ok(),
            Some("120363123456789012@g.us".to_string())
        );
        assert!(group_jid("120363001@newsletter").is_ok_and(|j| j.is_newsletter()));
        for bad in [
            "x@newsletter",
            "15550001111@c.us",
            "15550001111",
            "x@g.us",
            "@g.us",
        ] {
            let e = group_jid(bad).err().map(|e| e.code.to_string());
            assert_eq!(e.as_deref(), Some("INVALID_CHAT_TYPE"), "{bad}");
        }
    }

    #[test]
    fn texts_are_limited_and_media_needs_its_type() {
        let text = |t: &str| group_content(Some(t.into()), None, None);
        assert!(text("שלום").is_ok());
        assert!(text(&"x".repeat(4096)).is_ok());
        assert!(text(&"x".repeat(4097)).is_err());
        assert!(text("  ").is_err());
        let field =
            |r: Result<(String, Option<MediaRequest>), ApiError>| r.err().and_then(|e| e.field);
        let url = || Some("http://x/y.png".to_string());
        assert_eq!(
            field(group_content(Some("hi".into()), url(), None)).as_deref(),
            Some("mediaType")
        );
        assert_eq!(
            field(group_content(None, url(), Some("picture".into()))).as_deref(),
            Some("mediaType")
        );
        let (caption, media) = group_content(None, url(), Some("image".into())).unwrap();
        assert_eq!(caption, "");
        assert_eq!(
            media,
            Some(MediaRequest {
                url: "http://x/y.png".into(),
                kind: MediaKind::Image
            })
        );
        assert!(group_content(Some("x".repeat(4097)), url(), Some("image".into())).is_err());
    }

    #[test]
    fn the_delay_stays_within_its_bounds() {
        for _ in 0..50 {
            let d = anti_spam_delay(2_000, 5_000).as_millis();
            assert!((2_000..=5_000).contains(&d), "{d}");
        }
        assert_eq!(anti_spam_delay(0, 0), Duration::ZERO);
        assert_eq!(anti_spam_delay(7, 7), Duration::from_millis(7));
    }
}
