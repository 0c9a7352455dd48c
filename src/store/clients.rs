//! WhatsApp clients (one per connected number) and their keys.

use super::users::{index_key, unindex_key};
use super::{
    all_json, encode, get_json, history, tables, ClientRecord, KeyOwner, Store, StoreResult,
};
use super::{ScheduleRecord, UserRecord};
use redb::{ReadableTable, WriteTransaction};

/// Outcome of [`Store::insert_client`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientInsert {
    Inserted,
    /// The id is taken; the existing record is returned so the caller can decide (same owner →
    /// idempotent add, other owner → conflict).
    Exists(ClientRecord),
    /// The owner already has `max_clients` clients.
    PlanLimit {
        max_clients: u32,
    },
    /// The owner account does not exist (deleted meanwhile).
    OwnerMissing,
}

impl Store {
    pub fn client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let txn = self.db.begin_read()?;
        let clients = txn.open_table(tables::CLIENTS)?;
        get_json(&clients, client_id)
    }

    /// Every client of every account, ordered by client id (the engine starts them all).
    pub fn clients(&self) -> StoreResult<Vec<ClientRecord>> {
        let txn = self.db.begin_read()?;
        let clients = txn.open_table(tables::CLIENTS)?;
        all_json(&clients)
    }

    /// The clients of one account, ordered by client id.
    pub fn clients_of(&self, owner: &str) -> StoreResult<Vec<ClientRecord>> {
        let mut all = self.clients()?;
        all.retain(|c| c.owner == owner);
        Ok(all)
    }

    /// Adds a client if the id is free and the owner's plan allows another one. The plan check
    /// and the insert share one write transaction, so concurrent adds cannot exceed the plan.
    pub fn insert_client(&self, client: &ClientRecord) -> StoreResult<ClientInsert> {
        let txn = self.db.begin_write()?;
        {
            let users = txn.open_table(tables::USERS)?;
            let Some(owner) = get_json::<&str, UserRecord, _>(&users, client.owner.as_str())?
            else {
                return Ok(ClientInsert::OwnerMissing);
            };
            let mut clients = txn.open_table(tables::CLIENTS)?;
            if let Some(existing) =
                get_json::<&str, ClientRecord, _>(&clients, client.client_id.as_str())?
            {
                return Ok(ClientInsert::Exists(existing));
            }
            let mut owned: u64 = 0;
            for entry in clients.iter()? {
                let (_, value) = entry?;
                let other: ClientRecord = super::decode(value.value())?;
                if other.owner == client.owner {
                    owned += 1;
                }
            }
            if owned >= u64::from(owner.max_clients) {
                return Ok(ClientInsert::PlanLimit {
                    max_clients: owner.max_clients,
                });
            }
            clients.insert(client.client_id.as_str(), encode(client)?.as_slice())?;
            let key_owner = KeyOwner::Client {
                client_id: client.client_id.clone(),
            };
            index_key(&txn, &client.api_key, &key_owner)?;
        }
        txn.commit()?;
        self.client_counts.invalidate();
        Ok(ClientInsert::Inserted)
    }

    /// Changes a client in one transaction (status, webhook, connected number, key). The id and
    /// owner cannot change. Returns the updated record, or None when the client does not exist.
    pub fn update_client(
        &self,
        client_id: &str,
        change: impl FnOnce(&mut ClientRecord),
    ) -> StoreResult<Option<ClientRecord>> {
        let txn = self.db.begin_write()?;
        let updated;
        {
            let mut clients = txn.open_table(tables::CLIENTS)?;
            let Some(mut client) = get_json::<&str, ClientRecord, _>(&clients, client_id)? else {
                return Ok(None);
            };
            let (old_key, owner) = (client.api_key.clone(), client.owner.clone());
            change(&mut client);
            client.client_id = client_id.to_string();
            client.owner = owner;
            clients.insert(client_id, encode(&client)?.as_slice())?;
            if client.api_key != old_key {
                unindex_key(&txn, &old_key)?;
                let key_owner = KeyOwner::Client {
                    client_id: client_id.to_string(),
                };
                index_key(&txn, &client.api_key, &key_owner)?;
            }
            updated = client;
        }
        txn.commit()?;
        Ok(Some(updated))
    }

    /// Removes a client with its key, its history rows and its schedules.
    pub fn delete_client(&self, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let txn = self.db.begin_write()?;
        let removed = delete_client_in(&txn, client_id)?;
        let txn = clear_signal_accounts(txn, &[client_id.to_string()])?;
        txn.commit()?;
        self.client_counts.invalidate();
        Ok(removed)
    }
}

/// Removes the Signal records (sessions, identities, prekeys) of deleted clients in the same
/// transaction. The Signal namespace of a client is its client id.
pub(super) fn clear_signal_accounts(
    mut txn: WriteTransaction,
    client_ids: &[String],
) -> StoreResult<WriteTransaction> {
    for id in client_ids {
        let mut signal = super::signal::SignalTxn::from_txn(txn, id);
        signal
            .clear_account()
            .map_err(|e| super::StoreError::Signal(e.0))?;
        txn = signal.into_txn();
    }
    Ok(txn)
}

/// The body of [`Store::delete_client`], shared with account deletion.
pub(super) fn delete_client_in(
    txn: &WriteTransaction,
    client_id: &str,
) -> StoreResult<Option<ClientRecord>> {
    let removed = {
        let mut clients = txn.open_table(tables::CLIENTS)?;
        let removed = get_json::<&str, ClientRecord, _>(&clients, client_id)?;
        clients.remove(client_id)?;
        removed
    };
    let Some(client) = removed else {
        return Ok(None);
    };
    unindex_key(txn, &client.api_key)?;
    txn.open_table(tables::DEVICE_CREDS)?.remove(client_id)?;
    for kind in history::HistoryKind::ALL {
        history::delete_client_rows(txn, kind, client_id)?;
    }
    super::chats::delete_client_chats(txn, client_id)?;
    super::group_activity::delete_client_group_activity(txn, client_id)?;
    super::app_state::delete_client_app_state(txn, client_id)?;
    let mut schedules = txn.open_table(tables::SCHEDULES)?;
    let mut due = txn.open_table(tables::SCHEDULES_DUE)?;
    let mut doomed = Vec::new();
    for entry in schedules.iter()? {
        let (id, value) = entry?;
        let schedule: ScheduleRecord = super::decode(value.value())?;
        if schedule.client_id == client_id {
            doomed.push((id.value(), schedule.due_ms));
        }
    }
    for (id, due_ms) in doomed {
        schedules.remove(id)?;
        due.remove((due_ms, id))?;
    }
    Ok(Some(client))
}
