//! First start: an empty store gets the `admin` account.

use super::secrets;
use super::{Error, Shared};
use crate::store::UserInsert;
use crate::store::{Role, UserRecord};
use std::path::Path;

/// File in the data directory holding a generated initial admin password.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Log target whose lines go to the terminal only, never into the in-memory ring that
/// GET /api/logs serves (see app_log).
pub const SECRET_LOG_TARGET: &str = "chattu::secret";

pub(super) fn ensure_admin(shared: &Shared, password: Option<String>) -> Result<(), Error> {
    if shared.store.user_count()? > 0 {
        return Ok(());
    }
    let generated = password.is_none();
    let password = match password {
        Some(p) => p,
        None => secrets::new_password()?,
    };
    let user = UserRecord {
        username: "admin".into(),
        password_hash: shared.hashing.hash(&password)?,
        api_key: secrets::new_api_key()?,
        role: Role::Admin,
        disabled: false,
        max_clients: shared.config.accounts.default_max_clients,
        created_ms: shared.now_ms(),
    };
    if shared.store.insert_user(&user)? == UserInsert::UsernameTaken {
        return Ok(());
    }
    if generated {
        let path = shared.config.storage.data_dir.join(INITIAL_PASSWORD_FILE);
        write_private(&path, &format!("{password}\n"))
            .map_err(|e| Error::Internal(format!("cannot write {}: {e}", path.display())))?;
        log::warn!(
            "created account admin; its generated password is in {} (shown once below)",
            path.display()
        );
        log::warn!(target: SECRET_LOG_TARGET, "initial admin password: {password}");
    } else {
        log::info!("created account admin with the password from CHATTU_ADMIN_PASSWORD");
    }
    Ok(())
}

/// Writes a file readable by its owner only.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}
