//! Groups on the simulator (§10.1).
//!
//! - `state`: the groups and who may change what.
//! - `iq`: the `w:g2` iqs a companion sends (list, metadata, create and every change).
//! - `notify`: the `w:gp2` notifications each change sends to the members' devices.
//! - `messages`: group messages (sender keys) and the simulated phones' side of them.
//! - `control`: the `/sim/groups…` routes, which change groups exactly as the iqs do.

mod control;
mod iq;
mod messages;
mod notify;
mod state;

pub(crate) use messages::phone_send_content;
pub(crate) use state::GroupBook;

use super::registry::ConnId;
use super::Shared;
use crate::protocol::binary::Node;
use state::{Applied, Change, ChangeError, Group, NewGroup};

pub(super) use control::control_route;

/// The answer to a stanza about groups (or channels) from a logged-in client: `w:g2` iqs and
/// messages to `@g.us`. `None` when the stanza is not about groups.
pub(super) fn on_stanza(shared: &Shared, conn: ConnId, node: &Node) -> Option<Node> {
    if super::channels::is_channel_stanza(node) {
        let (phone, device) = shared.registry.logged_in_as(conn)?;
        return super::channels::on_stanza(shared, &shared.groups.channels, &phone, device, node);
    }
    let is_group_iq = node.tag == "iq" && node.attr("xmlns") == Some("w:g2");
    let is_group_message =
        node.tag == "message" && node.attr_jid("to").is_some_and(|j| j.is_group());
    if !is_group_iq && !is_group_message {
        return None;
    }
    let (phone, device) = shared.registry.logged_in_as(conn)?;
    if is_group_message {
        return Some(messages::route_group_message(shared, &phone, device, node));
    }
    iq::answer(shared, &phone, device, node)
}

/// Creates a group and tells every participant's companions (but the creating device, `skip`)
/// with a `create` notification.
pub(crate) fn create_group(shared: &Shared, new: NewGroup, skip: Option<u16>) -> (String, Group) {
    let creator = new.creator.clone();
    let (id, group) = shared.groups.create(new);
    notify::notify(
        shared,
        &id,
        &creator,
        &group.members(),
        skip,
        notify::create_child(&id, &group),
    );
    (id, group)
}

/// Applies `change` by `actor` (acting from device `skip`, or from the control API when `None`)
/// and tells everyone in the group before or after it. When members depart, the phones that stay
/// start new sender keys.
pub(crate) fn apply_change(
    shared: &Shared,
    group: &str,
    actor: &str,
    skip: Option<u16>,
    change: &Change,
) -> Result<Applied, ChangeError> {
    let applied = {
        let exists = |p: &str| shared.registry.lock().accounts.contains_key(p);
        shared.groups.apply(group, actor, change, exists)?
    };
    if let Some(child) = notify::change_child(change, &applied, actor) {
        notify::notify(shared, group, actor, &applied.audience, skip, child);
    }
    if !applied.departed.is_empty() {
        if let Some(g) = &applied.group {
            messages::rotate_phone_sender_keys(shared, group, &g.members());
        }
    }
    Ok(applied)
}
