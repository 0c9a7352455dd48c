//! The phone number ↔ LID mapping of each client (§8.1, §12): learnt from usync `<lid>`, from
//! history sync `phoneNumberToLidMappings`, and from message attributes (`sender_lid`,
//! `participant_pn`, …). Both directions are kept so either side is one lookup. Values are user
//! parts only (digits), never device JIDs.

use redb::{Database, ReadableTable, TableDefinition, TableError, WriteTransaction};

use super::StoreError;

/// (namespace = client id, phone number) → LID user.
const LID_BY_PN: TableDefinition<(&str, &str), &str> = TableDefinition::new("lid_by_pn");
/// (namespace, LID user) → phone number.
const PN_BY_LID: TableDefinition<(&str, &str), &str> = TableDefinition::new("pn_by_lid");

/// Records that `pn` and `lid` (user parts) are the same account, inside the caller's
/// transaction. Returns true when this changed what was known. Empty parts are ignored.
pub fn put_mapping_in(
    txn: &WriteTransaction,
    namespace: &str,
    pn: &str,
    lid: &str,
) -> Result<bool, StoreError> {
    if pn.is_empty() || lid.is_empty() {
        return Ok(false);
    }
    let mut by_pn = txn.open_table(LID_BY_PN)?;
    let known = by_pn.get((namespace, pn))?.map(|v| v.value().to_string());
    if known.as_deref() == Some(lid) {
        return Ok(false);
    }
    by_pn.insert((namespace, pn), lid)?;
    let mut by_lid = txn.open_table(PN_BY_LID)?;
    if let Some(old) = known {
        // The number moved to a new LID: the old LID no longer names it.
        by_lid.remove((namespace, old.as_str()))?;
    }
    by_lid.insert((namespace, lid), pn)?;
    Ok(true)
}

/// The LID of phone number `pn`, read inside the caller's write transaction.
pub fn lid_of_in(
    txn: &WriteTransaction,
    namespace: &str,
    pn: &str,
) -> Result<Option<String>, StoreError> {
    let table = txn.open_table(LID_BY_PN)?;
    let found = table.get((namespace, pn))?.map(|v| v.value().to_string());
    Ok(found)
}

/// The phone number of LID user `lid`, read inside the caller's write transaction.
pub fn pn_of_in(
    txn: &WriteTransaction,
    namespace: &str,
    lid: &str,
) -> Result<Option<String>, StoreError> {
    let table = txn.open_table(PN_BY_LID)?;
    let found = table.get((namespace, lid))?.map(|v| v.value().to_string());
    Ok(found)
}

fn lookup(
    db: &Database,
    def: TableDefinition<(&str, &str), &str>,
    namespace: &str,
    key: &str,
) -> Result<Option<String>, StoreError> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(def) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let found = table.get((namespace, key))?.map(|v| v.value().to_string());
    Ok(found)
}

/// The LID of phone number `pn`, if known.
pub fn lid_of(db: &Database, namespace: &str, pn: &str) -> Result<Option<String>, StoreError> {
    lookup(db, LID_BY_PN, namespace, pn)
}

/// The phone number of LID user `lid`, if known.
pub fn pn_of(db: &Database, namespace: &str, lid: &str) -> Result<Option<String>, StoreError> {
    lookup(db, PN_BY_LID, namespace, lid)
}

/// Records one mapping in its own transaction.
pub fn put_mapping(
    db: &Database,
    namespace: &str,
    pn: &str,
    lid: &str,
) -> Result<bool, StoreError> {
    let txn = db.begin_write()?;
    let changed = put_mapping_in(&txn, namespace, pn, lid)?;
    txn.commit()?;
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_dir::TempDir;

    #[test]
    fn both_directions_and_a_moved_number() {
        let dir = TempDir::new();
        let db = Database::create(dir.path().join("lid.redb")).unwrap();
        assert_eq!(lid_of(&db, "c1", "15550001111").unwrap(), None);
        assert!(put_mapping(&db, "c1", "15550001111", "101").unwrap());
        assert!(!put_mapping(&db, "c1", "15550001111", "101").unwrap());
        assert_eq!(
            lid_of(&db, "c1", "15550001111").unwrap().as_deref(),
            Some("101")
        );
        assert_eq!(
            pn_of(&db, "c1", "101").unwrap().as_deref(),
            Some("15550001111")
        );
        // Another client knows nothing of it.
        assert_eq!(pn_of(&db, "c2", "101").unwrap(), None);
        // The number got a new LID: the old one is forgotten.
        assert!(put_mapping(&db, "c1", "15550001111", "202").unwrap());
        assert_eq!(pn_of(&db, "c1", "101").unwrap(), None);
        assert_eq!(
            pn_of(&db, "c1", "202").unwrap().as_deref(),
            Some("15550001111")
        );
        assert!(!put_mapping(&db, "c1", "", "303").unwrap());
    }
}
