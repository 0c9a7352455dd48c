//! External mode (off by default): first syncs answered with a snapshot blob and patches whose
//! records live in an external blob, both encrypted as app state media on the simulator's media
//! host, as real WhatsApp serves large collections.

use super::Shared;
use crate::protocol::app_state::patch::snapshot_of;
use crate::protocol::binary::{Content, Node};
use crate::protocol::crypto::random_bytes;
use crate::protocol::media::{self, MediaKeys, MediaType};
use crate::protocol::proto::generated::{ExternalBlobReference, SyncdMutations, SyncdPatch};
use crate::protocol::proto::ProtoMessage;
use bytes::Bytes;

/// Encrypts `plain` as app state media, stores it on the media host and describes it.
fn upload_blob(shared: &Shared, plain: &[u8]) -> Option<ExternalBlobReference> {
    let media_key: [u8; 32] = random_bytes();
    let encrypted = media::encrypt(&MediaKeys::derive(&media_key, MediaType::AppState), plain);
    let stored = shared
        .media
        .store(
            "md-app-state",
            Bytes::from(encrypted.data),
            "application/octet-stream",
        )
        .map_err(|e| log::warn!("simulator: app state blob not stored: {e:?}"))
        .ok()?;
    Some(ExternalBlobReference {
        media_key: Some(media_key.to_vec()),
        direct_path: Some(stored.direct_path),
        handle: None,
        file_size_bytes: Some(encrypted.file_length),
        file_sha256: Some(encrypted.file_sha256.to_vec()),
        file_enc_sha256: Some(encrypted.file_enc_sha256.to_vec()),
    })
}

/// The whole collection as a snapshot blob (`None` when it is empty: patches are then served).
pub(super) fn serve_snapshot(shared: &Shared, phone: &str, name: &str) -> Option<Node> {
    let (snapshot, version) = shared.app_state.with(phone, |account| {
        account.fetches += 1;
        account.last_asked.insert(name.to_string(), 0);
        let (keys, key_id) = (account.keys(), account.key_id.clone());
        let collection = account.collections.get(name)?;
        if collection.patches.is_empty() {
            return None;
        }
        let records = collection.live.values().cloned().collect();
        let snapshot = snapshot_of(name, &collection.phone_state, &keys, &key_id, records);
        Some((snapshot, collection.phone_state.version))
    })?;
    let reference = upload_blob(shared, &snapshot.encode_to_vec())?;
    shared.app_state.with(phone, |a| a.snapshots_served += 1);
    Some(
        Node::new("collection")
            .with_attr("name", name)
            .with_attr("version", version)
            .with_child(Node::new("snapshot").with_bytes(reference.encode_to_vec())),
    )
}

/// Moves every served patch's records to an external blob (`externalMutations`).
pub(super) fn externalize(shared: &Shared, phone: &str, mut answer: Node) -> Node {
    let Some(patches) = answer.child("patches").cloned() else {
        return answer;
    };
    let mut moved = Node::new("patches");
    for node in patches.children() {
        let Some(mut patch) = node
            .content_bytes()
            .and_then(|b| SyncdPatch::decode(b).ok())
        else {
            continue;
        };
        let mutations = SyncdMutations {
            mutations: std::mem::take(&mut patch.mutations),
        };
        match upload_blob(shared, &mutations.encode_to_vec()) {
            Some(reference) => {
                patch.external_mutations = Some(reference);
                shared
                    .app_state
                    .with(phone, |a| a.external_patches_served += 1);
            }
            None => patch.mutations = mutations.mutations,
        }
        moved.push_child(Node::new("patch").with_bytes(patch.encode_to_vec()));
    }
    answer.content = Content::Nodes(vec![moved]);
    answer
}
