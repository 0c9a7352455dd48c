//! The app state control routes (`docs/simulator.md`): chat changes made on the phone, the view of
//! keys, versions and fetches, and the fault and external-mode switches.

use super::{change_chat, chat_jid, send_key_share, ChatChange, Shared};
use crate::simulator::control::{error_response, json_response};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

#[derive(Default, Deserialize)]
struct RotateBody {
    /// Send the new key to the companions (default true).
    share: Option<bool>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The phone sends every key it has to each linked companion; returns the devices reached.
fn share_with_all(shared: &Shared, phone: &str) -> Vec<u16> {
    let devices: Vec<u16> = shared
        .registry
        .phone(phone)
        .map(|v| v.devices.iter().map(|d| d.device).collect())
        .unwrap_or_default();
    devices
        .into_iter()
        .filter(|&device| match send_key_share(shared, phone, device) {
            Ok(_) => true,
            Err(e) => {
                log::info!("simulator: {phone} cannot share keys with {device}: {e}");
                false
            }
        })
        .collect()
}

#[derive(Deserialize)]
struct ExternalBody {
    enabled: bool,
}

/// The app state control routes (`docs/simulator.md`), or `None` when `segments` is none of them.
pub(in crate::simulator) fn control_route(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Option<Response<Full<Bytes>>> {
    let not_found = || error_response(StatusCode::NOT_FOUND, "PHONE_NOT_FOUND", "no such phone");
    let (phone, rest) = match segments {
        ["phones", phone, "app-state", rest @ ..] => (*phone, rest),
        _ => return None,
    };
    if shared.registry.phone(phone).is_none() {
        return Some(not_found());
    }
    Some(match (method, rest) {
        (&Method::POST, ["chats", chat]) => {
            let change: ChatChange = match serde_json::from_slice(body) {
                Ok(c) => c,
                Err(e) => {
                    return Some(error_response(
                        StatusCode::BAD_REQUEST,
                        "INVALID_JSON",
                        &e.to_string(),
                    ))
                }
            };
            let Some(jid) = chat_jid(chat) else {
                return Some(error_response(
                    StatusCode::BAD_REQUEST,
                    "INVALID_CHAT",
                    "a phone number or a user or group JID",
                ));
            };
            let written = change_chat(shared, phone, &jid, &change);
            if written.is_empty() {
                return Some(error_response(
                    StatusCode::BAD_REQUEST,
                    "NOTHING_TO_CHANGE",
                    "give at least one of mute, pin, archive, read",
                ));
            }
            let versions: serde_json::Map<String, serde_json::Value> =
                written.into_iter().map(|(n, v)| (n, json!(v))).collect();
            json_response(
                StatusCode::OK,
                &json!({ "chat": jid, "versions": versions }),
            )
        }
        (&Method::GET, []) => {
            let view = shared.app_state.with(phone, |a| {
                let versions: serde_json::Map<String, serde_json::Value> = a
                    .collections
                    .iter()
                    .map(|(n, c)| (n.clone(), json!(c.patches.len())))
                    .collect();
                let key_id = hex(&a.key_id);
                let key_ids: Vec<String> = a.all_keys().iter().map(|(k, _, _)| hex(k)).collect();
                let mut shared_with: Vec<u16> = a.shared_with.iter().map(|(d, _)| *d).collect();
                shared_with.sort_unstable();
                json!({
                    "keyId": key_id,
                    "keyIds": key_ids,
                    "versions": versions,
                    "fetches": a.fetches,
                    "lastAsked": a.last_asked,
                    "asked": a.asked.iter().map(|(n, v)| json!({ "collection": n, "since": v })).collect::<Vec<_>>(),
                    "corruptAnswers": a.corrupt_answers,
                    "external": a.external,
                    "snapshotsServed": a.snapshots_served,
                    "externalPatchesServed": a.external_patches_served,
                    "keySharedWith": shared_with,
                })
            });
            json_response(StatusCode::OK, &view)
        }
        (&Method::POST, ["external"]) => {
            let body: ExternalBody = match serde_json::from_slice(body) {
                Ok(b) => b,
                Err(e) => {
                    return Some(error_response(
                        StatusCode::BAD_REQUEST,
                        "INVALID_JSON",
                        &e.to_string(),
                    ))
                }
            };
            shared.app_state.with(phone, |a| a.external = body.enabled);
            json_response(StatusCode::OK, &json!({ "external": body.enabled }))
        }
        (&Method::POST, ["rotate-key"]) => {
            let parsed = if body.is_empty() {
                Ok(RotateBody::default())
            } else {
                serde_json::from_slice(body)
            };
            let body: RotateBody = match parsed {
                Ok(b) => b,
                Err(e) => {
                    return Some(error_response(
                        StatusCode::BAD_REQUEST,
                        "INVALID_JSON",
                        &e.to_string(),
                    ))
                }
            };
            let key_id = shared.app_state.with(phone, |a| {
                a.rotate_key();
                hex(&a.key_id)
            });
            let shared_with = if body.share.unwrap_or(true) {
                share_with_all(shared, phone)
            } else {
                Vec::new()
            };
            json_response(
                StatusCode::OK,
                &json!({ "keyId": key_id, "sharedWith": shared_with }),
            )
        }
        (&Method::POST, ["share-keys"]) => {
            let shared_with = share_with_all(shared, phone);
            json_response(StatusCode::OK, &json!({ "sharedWith": shared_with }))
        }
        (&Method::POST, ["corrupt-next"]) => {
            let pending = shared.app_state.with(phone, |a| {
                a.corrupt_answers += 1;
                a.corrupt_answers
            });
            json_response(StatusCode::OK, &json!({ "corruptAnswers": pending }))
        }
        _ => return None,
    })
}
