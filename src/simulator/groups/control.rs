//! `/sim/groups…` control routes (documented in `docs/simulator.md`): create and inspect groups,
//! change them on a phone's behalf (participants, subject, description, settings, leave; each
//! change sends the same `w:gp2` notifications as the iq would), post as a phone and read what a
//! phone decrypted.

use super::super::control::{error_response, json_response};
use super::super::Shared;
use super::state::{Change, ChangeError, Group, NewGroup};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

type Answer = Response<Full<Bytes>>;

#[derive(Deserialize)]
struct CreateBody {
    creator: String,
    subject: String,
    #[serde(default)]
    participants: Vec<String>,
    #[serde(default)]
    announce: bool,
    #[serde(default)]
    locked: bool,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct GroupSend {
    from: String,
    text: String,
}

#[derive(Deserialize)]
struct ParticipantsBody {
    by: String,
    action: String,
    participants: Vec<String>,
}

#[derive(Deserialize)]
struct SubjectBody {
    by: String,
    subject: String,
}

#[derive(Deserialize)]
struct DescriptionBody {
    by: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct SettingsBody {
    by: String,
    #[serde(default)]
    announce: Option<bool>,
    #[serde(default)]
    locked: Option<bool>,
}

#[derive(Deserialize)]
struct LeaveBody {
    phone: String,
}

/// The user part of a group id as given in a path or JSON (`123@g.us` or `123`).
fn group_user(id: &str) -> &str {
    id.strip_suffix("@g.us").unwrap_or(id)
}

/// A refusal answered instead of going on (boxed: a response is large).
type Refusal = Box<Answer>;

fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(error_response(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            &e.to_string(),
        ))
    })
}

fn not_found() -> Answer {
    error_response(StatusCode::NOT_FOUND, "GROUP_NOT_FOUND", "no such group")
}

fn change_error(e: ChangeError) -> Answer {
    match e {
        ChangeError::NotFound => not_found(),
        ChangeError::NotParticipant => error_response(
            StatusCode::FORBIDDEN,
            "NOT_A_PARTICIPANT",
            "that phone is not in the group",
        ),
        ChangeError::NotAdmin => error_response(
            StatusCode::FORBIDDEN,
            "NOT_AN_ADMIN",
            "only admins may do this",
        ),
        ChangeError::BadRequest => error_response(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "nothing to change",
        ),
    }
}

/// `/sim/groups…` and `/sim/channels…` routes; `None` when the path is not ours.
pub(crate) fn control_route(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Option<Answer> {
    let channels = &shared.groups.channels;
    if let Some(response) =
        super::super::channels::control_route(shared, channels, method, segments, body)
    {
        return Some(response);
    }
    let answer = match (method, segments) {
        (&Method::POST, ["groups"]) => create(shared, body),
        (&Method::GET, ["groups", id]) => match shared.groups.get(group_user(id)) {
            Some(g) => json_response(StatusCode::OK, &group_json(group_user(id), &g)),
            None => not_found(),
        },
        (&Method::POST, ["groups", id, "send"]) => send(shared, group_user(id), body),
        (&Method::GET, ["groups", id, "inbox", phone]) => inbox(shared, group_user(id), phone),
        (&Method::POST, ["groups", id, change]) => {
            change_route(shared, group_user(id), change, body)?
        }
        _ => return None,
    };
    Some(answer)
}

fn create(shared: &Shared, body: &[u8]) -> Answer {
    let new: CreateBody = match parse(body) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    if new.subject.trim().is_empty() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "subject is required",
        );
    }
    {
        let inner = shared.registry.lock();
        let unknown = std::iter::once(&new.creator)
            .chain(new.participants.iter())
            .find(|p| !inner.accounts.contains_key(p.as_str()));
        if let Some(p) = unknown {
            return error_response(
                StatusCode::NOT_FOUND,
                "PHONE_NOT_FOUND",
                &format!("no phone {p}"),
            );
        }
    }
    let new = NewGroup {
        participants: new
            .participants
            .into_iter()
            .filter(|p| *p != new.creator)
            .collect(),
        creator: new.creator,
        subject: new.subject,
        announce: new.announce,
        locked: new.locked,
        description: new.description,
    };
    let (id, _) = super::create_group(shared, new, None);
    json_response(StatusCode::CREATED, &json!({ "id": format!("{id}@g.us") }))
}

fn send(shared: &Shared, group: &str, body: &[u8]) -> Answer {
    let send: GroupSend = match parse(body) {
        Ok(v) => v,
        Err(answer) => return *answer,
    };
    match super::messages::phone_send(shared, &send.from, group, &send.text) {
        Ok(id) => json_response(StatusCode::OK, &json!({ "id": id })),
        Err((status, code, message)) => error_response(status, code, &message),
    }
}

fn inbox(shared: &Shared, group: &str, phone: &str) -> Answer {
    let state = shared.groups.lock();
    if !state.groups.contains_key(group) {
        return not_found();
    }
    let inbox = state
        .inboxes
        .get(&(phone.to_string(), group.to_string()))
        .cloned()
        .unwrap_or_default();
    json_response(
        StatusCode::OK,
        &json!({ "messages": inbox, "decryptFailures": state.decrypt_failures }),
    )
}

/// `POST /sim/groups/:id/{participants,subject,description,settings,leave}`.
fn change_route(shared: &Shared, group: &str, route: &str, body: &[u8]) -> Option<Answer> {
    let parsed: Result<(String, Vec<Change>), Refusal> = match route {
        "participants" => parse::<ParticipantsBody>(body).and_then(|b| {
            let change = match b.action.as_str() {
                "add" => Change::Add(b.participants),
                "remove" => Change::Remove(b.participants),
                "promote" => Change::Promote(b.participants),
                "demote" => Change::Demote(b.participants),
                _ => {
                    return Err(Box::new(error_response(
                        StatusCode::BAD_REQUEST,
                        "VALIDATION_ERROR",
                        "action must be add, remove, promote or demote",
                    )))
                }
            };
            Ok((b.by, vec![change]))
        }),
        "subject" => parse::<SubjectBody>(body).map(|b| (b.by, vec![Change::Subject(b.subject)])),
        "description" => {
            parse::<DescriptionBody>(body).map(|b| (b.by, vec![Change::Description(b.description)]))
        }
        "settings" => parse::<SettingsBody>(body).map(|b| {
            let changes = b
                .announce
                .map(Change::Announce)
                .into_iter()
                .chain(b.locked.map(Change::Locked))
                .collect();
            (b.by, changes)
        }),
        "leave" => parse::<LeaveBody>(body).map(|b| (b.phone, vec![Change::Leave])),
        _ => return None,
    };
    let (actor, changes) = match parsed {
        Ok(v) => v,
        Err(answer) => return Some(*answer),
    };
    if changes.is_empty() {
        return Some(change_error(ChangeError::BadRequest));
    }
    let mut results = Vec::new();
    for change in &changes {
        match super::apply_change(shared, group, &actor, None, change) {
            Ok(applied) => results.extend(applied.results),
            Err(e) => return Some(change_error(e)),
        }
    }
    let group_view = shared
        .groups
        .get(group)
        .map(|g| group_json(group, &g))
        .unwrap_or(serde_json::Value::Null);
    let results: Vec<serde_json::Value> = results
        .into_iter()
        .map(|(phone, error)| json!({ "phone": phone, "error": error }))
        .collect();
    Some(json_response(
        StatusCode::OK,
        &json!({ "group": group_view, "results": results }),
    ))
}

fn group_json(id: &str, g: &Group) -> serde_json::Value {
    json!({
        "id": format!("{id}@g.us"),
        "subject": g.subject,
        "subjectOwner": g.subject_owner,
        "creator": g.creator,
        "creation": g.creation,
        "description": g.description.as_ref().map(|d| d.text.clone()),
        "announce": g.announce,
        "locked": g.locked,
        "participants": g.participants.iter()
            .map(|(p, admin)| json!({ "phone": p, "admin": admin }))
            .collect::<Vec<_>>(),
    })
}
