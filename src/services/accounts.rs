//! Accounts: API key and session authentication, profile, key reset, and account administration.
//!
//! Every change to an account record goes through this file and empties the [`CallerCache`]
//! afterwards: code elsewhere that changes an account in the store must call
//! [`Accounts::forget_cached_callers`] too.

mod caller_cache;
#[cfg(test)]
mod caller_cache_tests;

use caller_cache::CallerCache;

use super::{secrets, validate};
use super::{AuthVia, Caller, Error, Shared, User};
use crate::store::{digest, UserInsert};
use crate::store::{Role, SessionRecord, UserRecord};
use serde::Serialize;
use std::borrow::Cow;

/// GET /api/profile. Borrows what the caller already holds: API clients poll this route, and
/// copying the name and key cost an allocation each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile<'a> {
    pub username: Cow<'a, str>,
    pub role: Role,
    pub api_key: Cow<'a, str>,
    pub client_count: u64,
}

/// One row of the admin user list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSummary {
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub max_clients: u32,
    pub client_count: u64,
    pub created_at: String,
}

pub struct Accounts {
    shared: Shared,
    /// Account keys that authenticated since the last account change (see caller_cache.rs).
    callers: CallerCache,
}

impl Accounts {
    pub(super) fn new(shared: Shared) -> Accounts {
        Accounts {
            shared,
            callers: CallerCache::new(caller_cache::CAPACITY),
        }
    }

    /// Resolves an `x-api-key` (account or client key). Unknown, malformed or disabled → AuthFailed.
    pub fn authenticate_api_key(&self, key: &str) -> Result<Caller, Error> {
        // Only keys that authenticated before are cached, so the cache is asked first and the
        // shape of a key is checked only on its way to the store.
        if let Some(caller) = self.callers.get(key) {
            return Ok(caller);
        }
        if !secrets::looks_like_key(key) {
            return Err(Error::AuthFailed);
        }
        let seen = self.callers.generation();
        let key_digest = digest(key);
        // One read transaction for key, account and client (this runs on every API request).
        let Some((record, client)) = self.shared.store.key_holder(&key_digest)? else {
            return Err(Error::AuthFailed);
        };
        let (stored_key, via) = match client {
            None => (record.api_key.as_str(), AuthVia::AccountKey),
            Some(ref client) => (
                client.api_key.as_str(),
                AuthVia::ClientKey(client.client_id.clone()),
            ),
        };
        // The digest matched; comparing the keys themselves guards against a stale index entry.
        if !secrets::constant_time_eq(stored_key.as_bytes(), key.as_bytes()) || record.disabled {
            return Err(Error::AuthFailed);
        }
        let caller = Caller {
            user: User::from(&record),
            via,
        };
        self.callers.insert(seen, key, &caller);
        Ok(caller)
    }

    /// Empties the cache of authenticated account keys. Every account change in this file calls
    /// it after writing; call it after changing an account record anywhere else.
    pub fn forget_cached_callers(&self) {
        self.callers.clear();
    }

    /// Account keys currently cached (for tests and diagnostics).
    pub fn cached_callers(&self) -> usize {
        self.callers.len()
    }

    /// Checks a username and password and opens a session; returns the caller and the token
    /// for the `chattu_session` cookie (256 random bits; only its SHA-256 is stored).
    pub fn login(&self, username: &str, password: &str) -> Result<(Caller, String), Error> {
        let record = match self.shared.store.user(username)? {
            Some(record) => record,
            None => {
                self.shared.hashing.burn(password);
                return Err(Error::AuthFailed);
            }
        };
        if !self.shared.hashing.verify(password, &record.password_hash) || record.disabled {
            return Err(Error::AuthFailed);
        }
        let token = secrets::new_session_token()?;
        let now = self.shared.now_ms();
        let ttl_ms = i64::try_from(self.shared.config.accounts.session_ttl_hours)
            .unwrap_or(i64::MAX / 3_600_000)
            .saturating_mul(3_600_000);
        let session = SessionRecord {
            username: record.username.clone(),
            created_ms: now,
            expires_ms: now.saturating_add(ttl_ms),
        };
        self.shared
            .store
            .insert_session(&digest(&token), &session)?;
        Ok((
            Caller {
                user: User::from(&record),
                via: AuthVia::Session,
            },
            token,
        ))
    }

    /// Resolves a session cookie; expired, unknown, or belonging to a disabled account → AuthFailed.
    pub fn authenticate_session(&self, token: &str) -> Result<Caller, Error> {
        if !secrets::looks_like_key(token) {
            return Err(Error::AuthFailed);
        }
        let key = digest(token);
        let session = self.shared.store.session(&key)?.ok_or(Error::AuthFailed)?;
        if session.expires_ms <= self.shared.now_ms() {
            self.shared.store.delete_session(&key)?;
            return Err(Error::AuthFailed);
        }
        let user = self.active_user(&session.username)?;
        Ok(Caller {
            user,
            via: AuthVia::Session,
        })
    }

    /// Ends a session (unknown tokens are ignored: logging out twice is fine).
    pub fn logout(&self, token: &str) -> Result<(), Error> {
        if secrets::looks_like_key(token) {
            self.shared.store.delete_session(&digest(token))?;
            // Open /ws sockets of this session close now rather than at their next check.
            self.shared.live.recheck_credentials();
        }
        Ok(())
    }

    /// Whether `password` is the account's current password (for confirmations).
    pub fn verify_password(&self, user: &User, password: &str) -> Result<bool, Error> {
        let record = self
            .shared
            .store
            .user(&user.username)?
            .ok_or(Error::AuthFailed)?;
        Ok(self.shared.hashing.verify(password, &record.password_hash))
    }

    /// GET /api/profile: the caller's own account (account keys and sessions, not client keys).
    ///
    /// `presented_key` is the x-api-key the request carried. For a caller authenticated by its
    /// account key it is that account's key, just checked, so the profile is answered from
    /// memory (with the store's cached client count); otherwise the account is read.
    pub fn profile<'a>(
        &self,
        caller: &'a Caller,
        presented_key: Option<&'a str>,
    ) -> Result<Profile<'a>, Error> {
        caller.require_account()?;
        let username = &caller.user.username;
        if let (AuthVia::AccountKey, Some(key)) = (&caller.via, presented_key) {
            return Ok(Profile {
                username: Cow::Borrowed(username),
                role: caller.user.role,
                api_key: Cow::Borrowed(key),
                client_count: self.shared.store.client_count(username)?,
            });
        }
        let (record, client_count) = self
            .shared
            .store
            .user_with_client_count(username)?
            .ok_or(Error::AuthFailed)?;
        Ok(Profile {
            username: Cow::Owned(record.username),
            role: record.role,
            api_key: Cow::Owned(record.api_key),
            client_count,
        })
    }

    /// POST /api/reset-api-key: the account's current key proves the request; returns the new key.
    pub fn reset_api_key(&self, username: &str, current_key: &str) -> Result<String, Error> {
        let record = self.shared.store.user(username)?.ok_or(Error::AuthFailed)?;
        if record.disabled
            || !secrets::constant_time_eq(record.api_key.as_bytes(), current_key.as_bytes())
        {
            return Err(Error::AuthFailed);
        }
        let new_key = secrets::new_api_key()?;
        let replaced = self.shared.store.update_user(username, |user| {
            // Only replace the key that was proven; a concurrent reset wins otherwise.
            if secrets::constant_time_eq(user.api_key.as_bytes(), current_key.as_bytes()) {
                user.api_key = new_key.clone();
                true
            } else {
                false
            }
        })?;
        self.callers.clear();
        match replaced {
            Some(true) => {
                self.shared.live.recheck_credentials();
                Ok(new_key)
            }
            _ => Err(Error::AuthFailed),
        }
    }

    pub fn list_users(&self, caller: &Caller) -> Result<Vec<UserSummary>, Error> {
        caller.require_admin()?;
        self.list_users_local()
    }

    /// Creates an account (admin only); returns it with its API key.
    pub fn create_user(
        &self,
        caller: &Caller,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<(User, String), Error> {
        caller.require_admin()?;
        self.create_user_local(username, role, password)
    }

    pub fn set_disabled(
        &self,
        caller: &Caller,
        username: &str,
        disabled: bool,
    ) -> Result<User, Error> {
        caller.require_admin()?;
        if disabled && username == caller.user.username {
            return Err(Error::Conflict(
                "You cannot disable your own account.".into(),
            ));
        }
        let user = self.shared.store.update_user(username, |u| {
            u.disabled = disabled;
            User::from(&*u)
        });
        self.callers.clear();
        let user = user?.ok_or_else(|| Error::NotFound("User".into()))?;
        if disabled {
            self.shared.store.delete_sessions_of(username)?;
            self.shared.live.recheck_credentials();
        }
        Ok(user)
    }

    pub fn set_plan(
        &self,
        caller: &Caller,
        username: &str,
        max_clients: u32,
    ) -> Result<User, Error> {
        caller.require_admin()?;
        self.set_plan_local(username, max_clients)
    }

    /// Sets a password: admins for anyone, other accounts for themselves (via session or key).
    pub fn set_password(
        &self,
        caller: &Caller,
        username: &str,
        password: &str,
    ) -> Result<(), Error> {
        caller.require_account()?;
        if !caller.is_admin() && caller.user.username != username {
            return Err(Error::AccessDenied);
        }
        self.set_password_local(username, password)
    }

    pub fn delete_user(&self, caller: &Caller, username: &str) -> Result<(), Error> {
        caller.require_admin()?;
        if username == caller.user.username {
            return Err(Error::Conflict(
                "You cannot delete your own account.".into(),
            ));
        }
        self.delete_user_local(username)
    }

    // ---- Local administration (the `chattu user ...` commands, which own the data directory) ----

    pub fn list_users_local(&self) -> Result<Vec<UserSummary>, Error> {
        let clients = self.shared.store.clients()?;
        let users = self.shared.store.users()?;
        Ok(users
            .into_iter()
            .map(|u| UserSummary {
                client_count: clients.iter().filter(|c| c.owner == u.username).count() as u64,
                created_at: super::time::format_rfc3339(u.created_ms),
                username: u.username,
                role: u.role,
                disabled: u.disabled,
                max_clients: u.max_clients,
            })
            .collect())
    }

    pub fn create_user_local(
        &self,
        username: &str,
        role: Role,
        password: &str,
    ) -> Result<(User, String), Error> {
        validate::username(username)?;
        validate::password(password)?;
        let record = UserRecord {
            username: username.to_string(),
            password_hash: self.shared.hashing.hash(password)?,
            api_key: secrets::new_api_key()?,
            role,
            disabled: false,
            max_clients: self.shared.config.accounts.default_max_clients,
            created_ms: self.shared.now_ms(),
        };
        match self.shared.store.insert_user(&record)? {
            UserInsert::Inserted => Ok((User::from(&record), record.api_key)),
            UserInsert::UsernameTaken => {
                Err(Error::Conflict(format!("User {username} already exists.")))
            }
        }
    }

    pub fn set_plan_local(&self, username: &str, max_clients: u32) -> Result<User, Error> {
        let updated = self.shared.store.update_user(username, |u| {
            u.max_clients = max_clients;
            User::from(&*u)
        });
        // A cached caller carries the plan (max_clients): forget it.
        self.callers.clear();
        updated?.ok_or_else(|| Error::NotFound("User".into()))
    }

    /// Sets a password and ends the account's sessions.
    pub fn set_password_local(&self, username: &str, password: &str) -> Result<(), Error> {
        validate::password(password)?;
        let hash = self.shared.hashing.hash(password)?;
        let updated = self
            .shared
            .store
            .update_user(username, |u| u.password_hash = hash);
        // The key stays valid, but a password change is when an owner reacts to a leak: every
        // request re-reads the account from now on.
        self.callers.clear();
        updated?.ok_or_else(|| Error::NotFound("User".into()))?;
        self.shared.store.delete_sessions_of(username)?;
        self.shared.live.recheck_credentials();
        Ok(())
    }

    /// Deletes an account with its clients, their history and schedules. The last admin stays.
    pub fn delete_user_local(&self, username: &str) -> Result<(), Error> {
        let users = self.shared.store.users()?;
        let target = users
            .iter()
            .find(|u| u.username == username)
            .ok_or_else(|| Error::NotFound("User".into()))?;
        if target.role == Role::Admin && users.iter().filter(|u| u.role == Role::Admin).count() <= 1
        {
            return Err(Error::Conflict(
                "The last admin account cannot be deleted.".into(),
            ));
        }
        let deleted = self.shared.store.delete_user(username);
        self.callers.clear();
        deleted?;
        self.shared.live.recheck_credentials();
        Ok(())
    }

    fn active_user(&self, username: &str) -> Result<User, Error> {
        let record = self.shared.store.user(username)?.ok_or(Error::AuthFailed)?;
        if record.disabled {
            return Err(Error::AuthFailed);
        }
        Ok(User::from(&record))
    }
}
