//! WhatsApp clients: add (within the plan), list, delete (with password), webhook URL, and the
//! status updates the engine reports.

use super::{secrets, validate, webhook_url};
use super::{Caller, ClientRecord, ClientStatus, Error, Shared};
use crate::store::ClientInsert;
use serde::Serialize;

/// One client as GET /api/clients shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientView {
    pub client_id: String,
    pub phone_number: String,
    pub api_key: String,
    /// The paired account ("9721234567@c.us") or "Not Connected".
    pub connected_number: String,
    /// "Authenticated", "Pending Authentication", "Connecting", "Disconnected", "Logged Out".
    pub status: String,
    pub webhook_url: Option<String>,
}

impl From<&ClientRecord> for ClientView {
    fn from(c: &ClientRecord) -> Self {
        ClientView {
            client_id: c.client_id.clone(),
            phone_number: c.phone_number.clone(),
            api_key: c.api_key.clone(),
            connected_number: c
                .connected_number
                .clone()
                .unwrap_or_else(|| "Not Connected".into()),
            status: c.status.label().to_string(),
            webhook_url: c.webhook_url.clone(),
        }
    }
}

pub struct Clients {
    shared: Shared,
}

impl Clients {
    pub(super) fn new(shared: Shared) -> Clients {
        Clients { shared }
    }

    /// POST /api/add-number. Adding an id the caller already owns returns that client unchanged
    /// (the API re-issues its QR code); an id owned by someone else is a conflict.
    /// Returns the client and whether it was created now.
    pub fn create(
        &self,
        caller: &Caller,
        client_id: &str,
        phone_number: &str,
    ) -> Result<(ClientView, bool), Error> {
        caller.require_account()?;
        validate::client_id(client_id)?;
        let phone = validate::phone_digits("phoneNumber", phone_number)?;
        let record = ClientRecord {
            client_id: client_id.to_string(),
            owner: caller.user.username.clone(),
            phone_number: phone.to_string(),
            api_key: secrets::new_api_key()?,
            webhook_url: None,
            status: ClientStatus::PendingAuthentication,
            connected_number: None,
            created_ms: self.shared.now_ms(),
        };
        match self.shared.store.insert_client(&record)? {
            ClientInsert::Inserted => {
                log::info!("account {} added client {client_id}", record.owner);
                Ok((ClientView::from(&record), true))
            }
            ClientInsert::Exists(existing) if existing.owner == record.owner => {
                Ok((ClientView::from(&existing), false))
            }
            ClientInsert::Exists(_) => {
                Err(Error::Conflict("This client id is already in use.".into()))
            }
            ClientInsert::PlanLimit { .. } => Err(Error::PlanLimitExceeded),
            ClientInsert::OwnerMissing => Err(Error::AuthFailed),
        }
    }

    /// GET /api/clients: the account's clients (a client key sees only its own).
    pub fn list(&self, caller: &Caller) -> Result<Vec<ClientView>, Error> {
        Ok(self
            .shared
            .visible_clients(caller)?
            .iter()
            .map(ClientView::from)
            .collect())
    }

    pub fn get(&self, caller: &Caller, client_id: &str) -> Result<ClientView, Error> {
        Ok(ClientView::from(
            &self.shared.owned_client(caller, client_id)?,
        ))
    }

    /// The full record after the ownership check (for handlers that need the webhook URL etc.).
    pub fn record(&self, caller: &Caller, client_id: &str) -> Result<ClientRecord, Error> {
        self.shared.owned_client(caller, client_id)
    }

    /// DELETE /clients/:clientId: needs the account password. Removes the client, its key, its
    /// history and its schedules; the engine must drop its WhatsApp session (returned record).
    pub fn delete(
        &self,
        caller: &Caller,
        client_id: &str,
        password: &str,
    ) -> Result<ClientRecord, Error> {
        if password.is_empty() {
            return Err(Error::PasswordRequired);
        }
        let client = self.shared.owned_client(caller, client_id)?;
        let account = self
            .shared
            .store
            .user(&caller.user.username)?
            .ok_or(Error::AuthFailed)?;
        if !self.shared.hashing.verify(password, &account.password_hash) {
            return Err(Error::InvalidPassword);
        }
        self.shared
            .store
            .delete_client(client_id)?
            .ok_or(Error::ClientNotFound)?;
        log::info!(
            "account {} deleted client {client_id}",
            caller.user.username
        );
        Ok(client)
    }

    /// POST /api/update-webhook. An empty URL removes the webhook.
    pub fn update_webhook(
        &self,
        caller: &Caller,
        client_id: &str,
        url: &str,
    ) -> Result<ClientView, Error> {
        self.shared.owned_client(caller, client_id)?;
        let url = if url.trim().is_empty() {
            None
        } else {
            Some(webhook_url::check(
                url,
                self.shared.config.network.allow_private_addresses,
            )?)
        };
        let updated = self
            .shared
            .store
            .update_client(client_id, |c| c.webhook_url = url)?
            .ok_or(Error::ClientNotFound)?;
        Ok(ClientView::from(&updated))
    }

    // ---- For the engine (trusted, no caller) ----

    /// Every client of every account (the engine starts one session per client).
    pub fn all(&self) -> Result<Vec<ClientRecord>, Error> {
        Ok(self.shared.store.clients()?)
    }

    /// One client by id, without an ownership check.
    pub fn by_id(&self, client_id: &str) -> Result<ClientRecord, Error> {
        self.shared
            .store
            .client(client_id)?
            .ok_or(Error::ClientNotFound)
    }

    /// Records a connection state change; `connected_number` is the paired JID once known
    /// (None keeps the current one unless the client logged out, which clears it).
    pub fn set_status(
        &self,
        client_id: &str,
        status: ClientStatus,
        connected_number: Option<&str>,
    ) -> Result<ClientRecord, Error> {
        self.shared
            .store
            .update_client(client_id, |c| {
                c.status = status;
                if let Some(number) = connected_number {
                    c.connected_number = Some(number.to_string());
                } else if status == ClientStatus::LoggedOut {
                    c.connected_number = None;
                }
            })?
            .ok_or(Error::ClientNotFound)
    }
}
