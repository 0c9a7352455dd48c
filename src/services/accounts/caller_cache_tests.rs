//! Every account change empties the cache of authenticated account keys: each test warms the
//! cache, changes the account through `Accounts`, and checks that the next request sees the change.

use crate::services::tests::{harness, Harness};
use crate::services::{AuthVia, Caller, Error};
use crate::store::Role;

/// A new account whose key is in the cache.
fn warm(h: &Harness, name: &str) -> (Caller, String) {
    let (caller, key) = h.user(name);
    h.app.accounts.forget_cached_callers();
    h.app.accounts.authenticate_api_key(&key).unwrap();
    assert_eq!(
        h.app.accounts.cached_callers(),
        1,
        "an account key is cached"
    );
    (caller, key)
}

fn auth(h: &Harness, key: &str) -> Result<Caller, Error> {
    h.app.accounts.authenticate_api_key(key)
}

#[test]
fn cached_callers_are_served_without_the_store() {
    let h = harness();
    let (_, key) = warm(&h, "bob");
    // A change behind Accounts' back is not seen until the cache is emptied: the hit was cached.
    h.app
        .store
        .update_user("bob", |u| u.max_clients = 42)
        .unwrap()
        .unwrap();
    assert_ne!(auth(&h, &key).unwrap().user.max_clients, 42);
    h.app.accounts.forget_cached_callers();
    assert_eq!(auth(&h, &key).unwrap().user.max_clients, 42);
}

#[test]
fn key_reset_ends_the_old_key_at_once() {
    let h = harness();
    let (_, old) = warm(&h, "bob");
    let new = h.app.accounts.reset_api_key("bob", &old).unwrap();
    assert!(matches!(auth(&h, &old), Err(Error::AuthFailed)));
    assert_eq!(auth(&h, &new).unwrap().user.username, "bob");
    // A failed reset (wrong current key) changes nothing and the new key stays cached.
    assert!(h.app.accounts.reset_api_key("bob", &old).is_err());
    assert!(auth(&h, &new).is_ok());
}

#[test]
fn disabling_ends_the_key_at_once_and_enabling_restores_it() {
    let h = harness();
    let admin = h.admin();
    let (_, key) = warm(&h, "bob");
    h.app.accounts.set_disabled(&admin, "bob", true).unwrap();
    assert!(matches!(auth(&h, &key), Err(Error::AuthFailed)));
    assert_eq!(
        h.app.accounts.cached_callers(),
        0,
        "failures are not cached"
    );
    h.app.accounts.set_disabled(&admin, "bob", false).unwrap();
    assert!(!auth(&h, &key).unwrap().user.disabled);
}

#[test]
fn deleting_the_account_ends_the_key_at_once() {
    let h = harness();
    let admin = h.admin();
    let (_, key) = warm(&h, "bob");
    h.app.accounts.delete_user(&admin, "bob").unwrap();
    assert!(matches!(auth(&h, &key), Err(Error::AuthFailed)));
}

#[test]
fn a_plan_change_is_seen_by_the_next_request() {
    let h = harness();
    let admin = h.admin();
    let (before, key) = warm(&h, "bob");
    let plan = before.user.max_clients + 5;
    h.app.accounts.set_plan(&admin, "bob", plan).unwrap();
    assert_eq!(auth(&h, &key).unwrap().user.max_clients, plan);
}

#[test]
fn a_password_change_empties_the_cache_and_keeps_the_key() {
    let h = harness();
    let (caller, key) = warm(&h, "bob");
    h.app
        .accounts
        .set_password(&caller, "bob", "a-new-password-1")
        .unwrap();
    assert_eq!(h.app.accounts.cached_callers(), 0);
    assert_eq!(auth(&h, &key).unwrap().via, AuthVia::AccountKey);
}

#[test]
fn client_keys_are_never_cached_so_deleting_a_client_ends_its_key() {
    let h = harness();
    let (bob, _) = warm(&h, "bob");
    let (view, client) = h.client(&bob, "c1");
    assert_eq!(client.via, AuthVia::ClientKey("c1".into()));
    auth(&h, &view.api_key).unwrap();
    assert_eq!(h.app.accounts.cached_callers(), 1, "only the account key");
    h.app.clients.delete(&bob, "c1", "bob-password").unwrap();
    assert!(matches!(auth(&h, &view.api_key), Err(Error::AuthFailed)));
}

#[test]
fn an_admin_key_keeps_its_role_through_the_cache() {
    let h = harness();
    let admin = h.admin();
    let (_, key) = h
        .app
        .accounts
        .create_user_local("root2", Role::Admin, "root2-password")
        .unwrap();
    for _ in 0..2 {
        assert!(auth(&h, &key).unwrap().is_admin());
    }
    h.app.accounts.delete_user(&admin, "root2").unwrap();
    assert!(auth(&h, &key).is_err());
}
