//! The simulated groups themselves: membership with admin flags, subject, description and the
//! announce/locked settings, and the rules for changing them (who may do what, §10.1). Every change
//! returns what happened so the caller can answer and notify; nothing here talks to a connection.

use super::super::registry::unix_now;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// Prefix of simulated group ids (real ones look alike: `120363…@g.us`).
const GROUP_ID_PREFIX: &str = "120363";

/// A group's description and who set it when.
#[derive(Debug, Clone)]
pub(crate) struct Description {
    pub(crate) id: String,
    pub(crate) text: String,
    pub(crate) time: u64,
    pub(crate) owner: String,
}

/// One simulated group.
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) subject: String,
    pub(crate) subject_owner: String,
    pub(crate) subject_time: u64,
    pub(crate) creator: String,
    pub(crate) creation: u64,
    pub(crate) description: Option<Description>,
    /// Account phone → admin.
    pub(crate) participants: BTreeMap<String, bool>,
    pub(crate) announce: bool,
    pub(crate) locked: bool,
}

impl Group {
    pub(crate) fn is_admin(&self, phone: &str) -> bool {
        self.participants.get(phone).copied().unwrap_or(false)
    }

    pub(crate) fn members(&self) -> Vec<String> {
        self.participants.keys().cloned().collect()
    }
}

/// A group message a simulated phone received and decrypted.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupInboxMessage {
    pub id: String,
    /// The sending device.
    pub participant: String,
    pub text: Option<String>,
    pub timestamp: u64,
}

#[derive(Default)]
pub(crate) struct GroupState {
    pub(crate) groups: BTreeMap<String, Group>,
    next: u64,
    /// (phone, group user part) → what that phone received there.
    pub(crate) inboxes: HashMap<(String, String), Vec<GroupInboxMessage>>,
    pub(crate) decrypt_failures: u64,
    next_description: u64,
}

/// Every simulated group.
#[derive(Default)]
pub(crate) struct GroupBook {
    inner: Mutex<GroupState>,
    /// Channels (newsletters) live beside the groups.
    pub(crate) channels: super::super::channels::ChannelBook,
}

/// What a new group starts with.
pub(crate) struct NewGroup {
    pub(crate) creator: String,
    pub(crate) subject: String,
    pub(crate) participants: Vec<String>,
    pub(crate) announce: bool,
    pub(crate) locked: bool,
    pub(crate) description: Option<String>,
}

/// A change to a group, made by one of its participants (the actor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    Add(Vec<String>),
    Remove(Vec<String>),
    Promote(Vec<String>),
    Demote(Vec<String>),
    Subject(String),
    /// `None` deletes the description.
    Description(Option<String>),
    Announce(bool),
    Locked(bool),
    /// The actor leaves.
    Leave,
}

impl Change {
    /// The participant action's name (`add`, `remove`, `promote`, `demote`), as in the iq and the
    /// notification.
    pub(crate) fn participant_action(&self) -> Option<(&'static str, &[String])> {
        match self {
            Change::Add(p) => Some(("add", p)),
            Change::Remove(p) => Some(("remove", p)),
            Change::Promote(p) => Some(("promote", p)),
            Change::Demote(p) => Some(("demote", p)),
            _ => None,
        }
    }
}

/// Why a change was refused, with the iq error code the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChangeError {
    /// 404: no such group.
    NotFound,
    /// 403: the actor is not a participant.
    NotParticipant,
    /// 401: only admins may do this (participant changes, settings, info of a locked group).
    NotAdmin,
    /// 400: nothing to change (no participants named, empty subject).
    BadRequest,
}

impl ChangeError {
    pub(crate) fn code(self) -> u16 {
        match self {
            ChangeError::NotFound => 404,
            ChangeError::NotParticipant => 403,
            ChangeError::NotAdmin => 401,
            ChangeError::BadRequest => 400,
        }
    }

    pub(crate) fn text(self) -> &'static str {
        match self {
            ChangeError::NotFound => "item-not-found",
            ChangeError::NotParticipant => "forbidden",
            ChangeError::NotAdmin => "not-authorized",
            ChangeError::BadRequest => "bad-request",
        }
    }
}

/// What a change did.
#[derive(Debug, Clone)]
pub(crate) struct Applied {
    /// Per named participant, `None` when the change applied to them, else the error code
    /// (409 already a participant, 404 not one, 403 unknown account).
    pub(crate) results: Vec<(String, Option<u16>)>,
    /// The participants the change really applied to.
    pub(crate) changed: Vec<String>,
    /// Who must hear of it: everyone in the group before or after the change.
    pub(crate) audience: Vec<String>,
    /// The group after the change (`None` when the last participant left and it is gone).
    pub(crate) group: Option<Group>,
    /// Members who lost the group (removed or left): the others rotate their sender keys.
    pub(crate) departed: Vec<String>,
}

impl GroupBook {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, GroupState> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, id: &str) -> Option<Group> {
        self.lock().groups.get(id).cloned()
    }

    /// Creates a group; the creator is its superadmin. Every phone must already be known to exist.
    /// Returns the new id (user part) and the group.
    pub(crate) fn create(&self, new: NewGroup) -> (String, Group) {
        let now = unix_now();
        let mut participants: BTreeMap<String, bool> = new
            .participants
            .iter()
            .map(|p| (p.clone(), false))
            .collect();
        participants.insert(new.creator.clone(), true);
        let mut state = self.lock();
        state.next += 1;
        let id = format!(
            "{GROUP_ID_PREFIX}{:013}",
            now % 10_000_000 * 1_000_000 + state.next
        );
        let description = new.description.filter(|d| !d.is_empty()).map(|text| {
            state.next_description += 1;
            Description {
                id: format!("d{now}{}", state.next_description),
                text,
                time: now,
                owner: new.creator.clone(),
            }
        });
        let group = Group {
            subject: new.subject,
            subject_owner: new.creator.clone(),
            subject_time: now,
            creator: new.creator,
            creation: now,
            description,
            participants,
            announce: new.announce,
            locked: new.locked,
        };
        state.groups.insert(id.clone(), group.clone());
        (id, group)
    }

    /// Applies `change` by `actor` to group `id`. `exists` says whether a phone is a known account
    /// (checked for additions).
    pub(crate) fn apply(
        &self,
        id: &str,
        actor: &str,
        change: &Change,
        exists: impl Fn(&str) -> bool,
    ) -> Result<Applied, ChangeError> {
        let mut state = self.lock();
        let next_description = state.next_description + 1;
        let group = state.groups.get_mut(id).ok_or(ChangeError::NotFound)?;
        let before = group.members();
        if !group.participants.contains_key(actor) {
            return Err(ChangeError::NotParticipant);
        }
        let admin = group.is_admin(actor);
        let now = unix_now();
        let mut results = Vec::new();
        let mut departed = Vec::new();
        match change {
            Change::Add(phones)
            | Change::Remove(phones)
            | Change::Promote(phones)
            | Change::Demote(phones) => {
                if !admin {
                    return Err(ChangeError::NotAdmin);
                }
                if phones.is_empty() {
                    return Err(ChangeError::BadRequest);
                }
                for phone in phones {
                    let member = group.participants.get(phone).copied();
                    let outcome = match (change, member) {
                        (Change::Add(_), Some(_)) => Some(409),
                        (Change::Add(_), None) if !exists(phone) => Some(403),
                        (Change::Add(_), None) => {
                            group.participants.insert(phone.clone(), false);
                            None
                        }
                        (_, None) => Some(404),
                        // The creator stays superadmin: nobody removes or demotes them.
                        (Change::Remove(_) | Change::Demote(_), Some(_))
                            if *phone == group.creator && actor != group.creator =>
                        {
                            Some(406)
                        }
                        (Change::Remove(_), Some(_)) => {
                            group.participants.remove(phone);
                            departed.push(phone.clone());
                            None
                        }
                        (Change::Promote(_), Some(_)) => {
                            group.participants.insert(phone.clone(), true);
                            None
                        }
                        (_, Some(_)) => {
                            group.participants.insert(phone.clone(), false);
                            None
                        }
                    };
                    results.push((phone.clone(), outcome));
                }
            }
            Change::Subject(subject) => {
                if group.locked && !admin {
                    return Err(ChangeError::NotAdmin);
                }
                if subject.trim().is_empty() {
                    return Err(ChangeError::BadRequest);
                }
                group.subject = subject.clone();
                group.subject_owner = actor.to_string();
                group.subject_time = now;
            }
            Change::Description(text) => {
                if group.locked && !admin {
                    return Err(ChangeError::NotAdmin);
                }
                group.description =
                    text.clone()
                        .filter(|t| !t.is_empty())
                        .map(|text| Description {
                            id: format!("d{now}{next_description}"),
                            text,
                            time: now,
                            owner: actor.to_string(),
                        });
            }
            Change::Announce(on) => {
                if !admin {
                    return Err(ChangeError::NotAdmin);
                }
                group.announce = *on;
            }
            Change::Locked(on) => {
                if !admin {
                    return Err(ChangeError::NotAdmin);
                }
                group.locked = *on;
            }
            Change::Leave => {
                group.participants.remove(actor);
                departed.push(actor.to_string());
            }
        }
        let changed: Vec<String> = results
            .iter()
            .filter(|(_, e)| e.is_none())
            .map(|(p, _)| p.clone())
            .collect();
        let mut audience = before;
        for phone in group.participants.keys() {
            if !audience.contains(phone) {
                audience.push(phone.clone());
            }
        }
        let snapshot = group.clone();
        let gone = group.participants.is_empty();
        if matches!(change, Change::Description(_)) {
            state.next_description = next_description;
        }
        let group = if gone {
            state.groups.remove(id);
            None
        } else {
            Some(snapshot)
        };
        Ok(Applied {
            results,
            changed,
            audience,
            group,
            departed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book_with_group() -> (GroupBook, String) {
        let book = GroupBook::default();
        let (id, _) = book.create(NewGroup {
            creator: "1".into(),
            subject: "S".into(),
            participants: vec!["2".into(), "3".into()],
            announce: false,
            locked: true,
            description: None,
        });
        (book, id)
    }

    #[test]
    fn only_admins_change_participants_and_locked_info() {
        let (book, id) = book_with_group();
        let add = Change::Add(vec!["4".into()]);
        assert_eq!(
            book.apply(&id, "2", &add, |_| true).err(),
            Some(ChangeError::NotAdmin)
        );
        let subject = Change::Subject("T".into());
        assert_eq!(
            book.apply(&id, "2", &subject, |_| true).err(),
            Some(ChangeError::NotAdmin)
        );
        assert_eq!(
            book.apply(&id, "9", &subject, |_| true).err(),
            Some(ChangeError::NotParticipant)
        );
        let applied = book.apply(&id, "1", &add, |_| true).unwrap();
        assert_eq!(applied.changed, vec!["4".to_string()]);
        assert!(applied.audience.contains(&"4".to_string()));
    }

    #[test]
    fn per_participant_results_and_departures() {
        let (book, id) = book_with_group();
        let change = Change::Add(vec!["2".into(), "5".into(), "6".into()]);
        let applied = book.apply(&id, "1", &change, |p| p != "6").unwrap();
        assert_eq!(
            applied.results,
            vec![
                ("2".to_string(), Some(409)),
                ("5".to_string(), None),
                ("6".to_string(), Some(403)),
            ]
        );
        let remove = Change::Remove(vec!["2".into(), "8".into()]);
        let applied = book.apply(&id, "1", &remove, |_| true).unwrap();
        assert_eq!(applied.departed, vec!["2".to_string()]);
        // The removed member still hears of its removal.
        assert!(applied.audience.contains(&"2".to_string()));
        assert!(!book.get(&id).unwrap().participants.contains_key("2"));
        // Nobody but the creator removes the creator.
        book.apply(&id, "1", &Change::Promote(vec!["3".into()]), |_| true)
            .unwrap();
        let applied = book
            .apply(&id, "3", &Change::Remove(vec!["1".into()]), |_| true)
            .unwrap();
        assert_eq!(applied.results, vec![("1".to_string(), Some(406))]);
    }

    #[test]
    fn the_last_one_out_deletes_the_group() {
        let book = GroupBook::default();
        let (id, _) = book.create(NewGroup {
            creator: "1".into(),
            subject: "S".into(),
            participants: vec![],
            announce: false,
            locked: false,
            description: Some("d".into()),
        });
        let applied = book.apply(&id, "1", &Change::Leave, |_| true).unwrap();
        assert!(applied.group.is_none());
        assert!(book.get(&id).is_none());
    }
}
