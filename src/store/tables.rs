//! Every redb table of the application (the Signal tables live in signal.rs).

use super::StoreResult;
use redb::{TableDefinition, WriteTransaction};

type Json = &'static [u8];

/// meta: schema version and id counters (`seq:<name>`).
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub const SCHEMA_VERSION_KEY: &str = "schema_version";

/// username → UserRecord.
pub const USERS: TableDefinition<&str, Json> = TableDefinition::new("users");
/// SHA-256(api key) → KeyOwner, for account and client keys alike.
pub const API_KEYS: TableDefinition<&[u8], Json> = TableDefinition::new("api_keys");
/// client id → ClientRecord.
pub const CLIENTS: TableDefinition<&str, Json> = TableDefinition::new("clients");
/// SHA-256(session token) → SessionRecord.
pub const SESSIONS: TableDefinition<&[u8], Json> = TableDefinition::new("sessions");

/// History: id → record, plus (client id, id) → () so one client's rows are a key range.
pub const SENT: TableDefinition<u64, Json> = TableDefinition::new("sent_messages");
pub const SENT_BY_CLIENT: TableDefinition<(&str, u64), ()> = TableDefinition::new("sent_by_client");
pub const RECEIVED: TableDefinition<u64, Json> = TableDefinition::new("received_messages");
pub const RECEIVED_BY_CLIENT: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("received_by_client");
pub const CALLS: TableDefinition<u64, Json> = TableDefinition::new("calls");
pub const CALLS_BY_CLIENT: TableDefinition<(&str, u64), ()> =
    TableDefinition::new("calls_by_client");

/// id → ScheduleRecord, and (due ms, id) → () for the pending ones only.
pub const SCHEDULES: TableDefinition<u64, Json> = TableDefinition::new("scheduled_messages");
pub const SCHEDULES_DUE: TableDefinition<(i64, u64), ()> = TableDefinition::new("schedules_due");

/// client id → engine DeviceCreds (private keys; see device_creds.rs).
pub const DEVICE_CREDS: TableDefinition<&str, Json> = TableDefinition::new("device_creds");

/// id → SecurityEventRecord.
pub const SECURITY_EVENTS: TableDefinition<u64, Json> = TableDefinition::new("security_events");

/// Opening a table in a write transaction creates it; doing it once at start means readers
/// never meet a missing table.
pub fn create_all(txn: &WriteTransaction) -> StoreResult<()> {
    txn.open_table(META)?;
    txn.open_table(USERS)?;
    txn.open_table(API_KEYS)?;
    txn.open_table(CLIENTS)?;
    txn.open_table(SESSIONS)?;
    txn.open_table(SENT)?;
    txn.open_table(SENT_BY_CLIENT)?;
    txn.open_table(RECEIVED)?;
    txn.open_table(RECEIVED_BY_CLIENT)?;
    txn.open_table(CALLS)?;
    txn.open_table(CALLS_BY_CLIENT)?;
    txn.open_table(SCHEDULES)?;
    txn.open_table(SCHEDULES_DUE)?;
    txn.open_table(SECURITY_EVENTS)?;
    txn.open_table(DEVICE_CREDS)?;
    Ok(())
}
