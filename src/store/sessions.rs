//! Dashboard login sessions (by SHA-256 of the token) and security events.

use super::{
    decode, encode, get_json, next_id, tables, SecurityEventRecord, SessionRecord, Store,
    StoreResult,
};
use redb::{ReadableTable, ReadableTableMetadata};

impl Store {
    pub fn insert_session(
        &self,
        token_digest: &[u8; 32],
        session: &SessionRecord,
    ) -> StoreResult<()> {
        let txn = self.db.begin_write()?;
        {
            let mut sessions = txn.open_table(tables::SESSIONS)?;
            sessions.insert(token_digest.as_slice(), encode(session)?.as_slice())?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn session(&self, token_digest: &[u8; 32]) -> StoreResult<Option<SessionRecord>> {
        let txn = self.db.begin_read()?;
        let sessions = txn.open_table(tables::SESSIONS)?;
        get_json(&sessions, token_digest.as_slice())
    }

    /// Returns whether a session was removed.
    pub fn delete_session(&self, token_digest: &[u8; 32]) -> StoreResult<bool> {
        let txn = self.db.begin_write()?;
        let removed = {
            let mut sessions = txn.open_table(tables::SESSIONS)?;
            let removed = sessions.remove(token_digest.as_slice())?.is_some();
            removed
        };
        txn.commit()?;
        Ok(removed)
    }

    /// Removes the sessions of one account (password change, disable).
    pub fn delete_sessions_of(&self, username: &str) -> StoreResult<()> {
        let txn = self.db.begin_write()?;
        {
            let mut sessions = txn.open_table(tables::SESSIONS)?;
            sessions.retain(|_, value| {
                serde_json::from_slice::<SessionRecord>(value)
                    .map(|s| s.username != username)
                    .unwrap_or(false)
            })?;
        }
        txn.commit()?;
        Ok(())
    }

    /// Removes expired sessions; returns how many went.
    pub fn prune_sessions(&self, now_ms: i64) -> StoreResult<u64> {
        let txn = self.db.begin_write()?;
        let removed;
        {
            let mut sessions = txn.open_table(tables::SESSIONS)?;
            let before = sessions.len()?;
            sessions.retain(|_, value| {
                serde_json::from_slice::<SessionRecord>(value)
                    .map(|s| s.expires_ms > now_ms)
                    .unwrap_or(false)
            })?;
            removed = before - sessions.len()?;
        }
        txn.commit()?;
        Ok(removed)
    }

    /// Records a security event (id assigned here); keeps at most `max_rows`.
    pub fn insert_security_event(
        &self,
        mut event: SecurityEventRecord,
        max_rows: u64,
    ) -> StoreResult<SecurityEventRecord> {
        let txn = self.db.begin_write()?;
        {
            event.id = next_id(&txn, "seq:security_events")?;
            let mut events = txn.open_table(tables::SECURITY_EVENTS)?;
            events.insert(event.id, encode(&event)?.as_slice())?;
            while events.len()? > max_rows {
                if events.pop_first()?.is_none() {
                    break;
                }
            }
        }
        txn.commit()?;
        Ok(event)
    }

    /// The newest `limit` security events, newest first.
    pub fn security_events(&self, limit: usize) -> StoreResult<Vec<SecurityEventRecord>> {
        let txn = self.db.begin_read()?;
        let events = txn.open_table(tables::SECURITY_EVENTS)?;
        let mut out = Vec::new();
        for entry in events.iter()?.rev().take(limit) {
            let (_, value) = entry?;
            out.push(decode(value.value())?);
        }
        Ok(out)
    }

    /// Removes security events older than `cutoff_ms`.
    pub fn prune_security_events(&self, cutoff_ms: i64) -> StoreResult<u64> {
        let txn = self.db.begin_write()?;
        let mut removed = 0;
        {
            let mut events = txn.open_table(tables::SECURITY_EVENTS)?;
            loop {
                let first = events
                    .first()?
                    .map(|(k, v)| (k.value(), decode::<SecurityEventRecord>(v.value())));
                let Some((id, event)) = first else { break };
                if event?.at_ms >= cutoff_ms {
                    break;
                }
                events.remove(id)?;
                removed += 1;
            }
        }
        txn.commit()?;
        Ok(removed)
    }
}
