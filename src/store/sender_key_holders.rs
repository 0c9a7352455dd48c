//! Which devices hold our sender key for a group (§7.6), per client: a device listed here got our
//! SKDM and is sent only the `skmsg` next time. Kept in the store so a restart does not send every
//! device the SKDM again. Written in the transaction that creates the SKDM; forgotten for a device
//! whose identity changed and for a whole group when its device list shrank (we rotate the key).

use redb::{Database, ReadableTable, TableDefinition, TableError, WriteTransaction};

use super::StoreError;

/// (namespace = client id, group JID, device JID) → ().
const HOLDERS: TableDefinition<(&str, &str, &str), ()> = TableDefinition::new("sender_key_holders");

/// Devices (JID text) holding our sender key for `group`, read inside the caller's transaction.
pub fn holders_in(
    txn: &WriteTransaction,
    namespace: &str,
    group: &str,
) -> Result<Vec<String>, StoreError> {
    let table = txn.open_table(HOLDERS)?;
    let mut out = Vec::new();
    for entry in table.range((namespace, group, "")..)? {
        let (key, _) = entry?;
        let (ns, g, device) = key.value();
        if ns != namespace || g != group {
            break;
        }
        out.push(device.to_string());
    }
    Ok(out)
}

/// Like [`holders_in`], in a read transaction of its own.
pub fn holders(db: &Database, namespace: &str, group: &str) -> Result<Vec<String>, StoreError> {
    let txn = db.begin_read()?;
    let table = match txn.open_table(HOLDERS) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut out = Vec::new();
    for entry in table.range((namespace, group, "")..)? {
        let (key, _) = entry?;
        let (ns, g, device) = key.value();
        if ns != namespace || g != group {
            break;
        }
        out.push(device.to_string());
    }
    Ok(out)
}

/// Marks `devices` as holding our sender key for `group`.
pub fn add_in(
    txn: &WriteTransaction,
    namespace: &str,
    group: &str,
    devices: &[String],
) -> Result<(), StoreError> {
    let mut table = txn.open_table(HOLDERS)?;
    for device in devices {
        table.insert((namespace, group, device.as_str()), ())?;
    }
    Ok(())
}

/// Unmarks `devices` for `group` (a send that carried their SKDM was refused).
pub fn remove_in(
    txn: &WriteTransaction,
    namespace: &str,
    group: &str,
    devices: &[String],
) -> Result<(), StoreError> {
    let mut table = txn.open_table(HOLDERS)?;
    for device in devices {
        table.remove((namespace, group, device.as_str()))?;
    }
    Ok(())
}

/// Forgets every holder of `group` (the membership changed: the next send distributes afresh).
pub fn clear_group_in(
    txn: &WriteTransaction,
    namespace: &str,
    group: &str,
) -> Result<(), StoreError> {
    let doomed = holders_in(txn, namespace, group)?;
    remove_in(txn, namespace, group, &doomed)
}

/// Forgets the devices whose JID text satisfies `is_gone` in every group of `namespace` (their
/// identity changed, so they lost our sender keys).
pub fn forget_devices_in(
    txn: &WriteTransaction,
    namespace: &str,
    is_gone: impl Fn(&str) -> bool,
) -> Result<(), StoreError> {
    let mut table = txn.open_table(HOLDERS)?;
    table.retain(|(ns, _, device), _| ns != namespace || !is_gone(device))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_dir::TempDir;

    #[test]
    fn holders_per_group_and_forgetting() {
        let dir = TempDir::new();
        let db = Database::create(dir.path().join("holders.redb")).unwrap();
        let (g1, g2) = ("1@g.us", "2@g.us");
        let devices = |d: &[&str]| d.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let txn = db.begin_write().unwrap();
        add_in(
            &txn,
            "c1",
            g1,
            &devices(&["1:1@s.whatsapp.net", "2@s.whatsapp.net"]),
        )
        .unwrap();
        add_in(&txn, "c1", g2, &devices(&["2@s.whatsapp.net"])).unwrap();
        add_in(&txn, "c2", g1, &devices(&["9@s.whatsapp.net"])).unwrap();
        txn.commit().unwrap();
        assert_eq!(
            holders(&db, "c1", g1).unwrap(),
            devices(&["1:1@s.whatsapp.net", "2@s.whatsapp.net"])
        );
        let txn = db.begin_write().unwrap();
        forget_devices_in(&txn, "c1", |d| d.starts_with("2@")).unwrap();
        txn.commit().unwrap();
        assert_eq!(
            holders(&db, "c1", g1).unwrap(),
            devices(&["1:1@s.whatsapp.net"])
        );
        assert!(holders(&db, "c1", g2).unwrap().is_empty());
        let txn = db.begin_write().unwrap();
        clear_group_in(&txn, "c1", g1).unwrap();
        txn.commit().unwrap();
        assert!(holders(&db, "c1", g1).unwrap().is_empty());
        assert_eq!(
            holders(&db, "c2", g1).unwrap(),
            devices(&["9@s.whatsapp.net"])
        );
    }
}
