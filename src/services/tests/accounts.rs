use super::*;

#[test]
fn first_start_creates_admin_once_with_the_given_password() {
    let h = harness();
    let admin = h.admin();
    assert_eq!(admin.user.role, Role::Admin);
    assert!(admin.is_admin());
    assert!(
        !h.dir.path().join(bootstrap::INITIAL_PASSWORD_FILE).exists(),
        "password was given, no file"
    );
    assert_eq!(h.app.accounts.list_users(&admin).unwrap().len(), 1);
}

#[test]
fn generated_admin_password_is_written_privately_and_works() {
    let dir = TempDir::new();
    let options = OpenOptions {
        clock: Arc::new(SystemClock),
        initial_admin_password: None,
    };
    let app = App::open_with(test_config(&dir), options).unwrap();
    let path = dir.path().join(bootstrap::INITIAL_PASSWORD_FILE);
    let password = std::fs::read_to_string(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(app.accounts.login("admin", password.trim_end()).is_ok());
    drop(app);
    // Reopening does not create a second admin or replace the password.
    let options = OpenOptions {
        clock: Arc::new(SystemClock),
        initial_admin_password: Some("other-password".into()),
    };
    let app = App::open_with(test_config(&dir), options).unwrap();
    assert!(app.accounts.login("admin", password.trim_end()).is_ok());
    assert_eq!(app.accounts.list_users_local().unwrap().len(), 1);
}

#[test]
fn api_keys_authenticate_accounts_and_clients() {
    let h = harness();
    let (bob, bob_key) = h.user("bob");
    assert_eq!(bob.via, AuthVia::AccountKey);
    assert_eq!(bob.user.username, "bob");
    let (view, via_client) = h.client(&bob, "c1");
    assert_eq!(via_client.via, AuthVia::ClientKey("c1".into()));
    assert_eq!(via_client.user.username, "bob");
    assert_ne!(view.api_key, bob_key);
    for bad in [
        "",
        "short",
        &bob_key[..40],
        &format!("{bob_key}0"),
        &bob_key.to_uppercase(),
        &"0".repeat(64),
    ] {
        assert_eq!(
            h.app.accounts.authenticate_api_key(bad),
            Err(Error::AuthFailed),
            "{bad:?}"
        );
    }
}

#[test]
fn disabled_accounts_cannot_authenticate_in_any_way() {
    let h = harness();
    let admin = h.admin();
    let (bob, key) = h.user("bob");
    let (client, _) = h.client(&bob, "c1");
    let (_, token) = h.app.accounts.login("bob", "bob-password").unwrap();
    h.app.accounts.set_disabled(&admin, "bob", true).unwrap();
    assert_eq!(
        h.app.accounts.authenticate_api_key(&key),
        Err(Error::AuthFailed)
    );
    assert_eq!(
        h.app.accounts.authenticate_api_key(&client.api_key),
        Err(Error::AuthFailed)
    );
    assert_eq!(
        h.app.accounts.authenticate_session(&token),
        Err(Error::AuthFailed)
    );
    assert_eq!(
        h.app.accounts.login("bob", "bob-password").map(|_| ()),
        Err(Error::AuthFailed)
    );
    h.app.accounts.set_disabled(&admin, "bob", false).unwrap();
    assert!(h.app.accounts.authenticate_api_key(&key).is_ok());
    assert!(matches!(
        h.app.accounts.set_disabled(&admin, "admin", true),
        Err(Error::Conflict(_))
    ));
}

#[test]
fn sessions_log_in_expire_and_log_out() {
    let h = harness_with(|c| c.accounts.session_ttl_hours = 1);
    h.user("bob");
    assert_eq!(
        h.app.accounts.login("bob", "wrong-password").map(|_| ()),
        Err(Error::AuthFailed)
    );
    assert_eq!(
        h.app.accounts.login("nobody", "bob-password").map(|_| ()),
        Err(Error::AuthFailed)
    );
    let (caller, token) = h.app.accounts.login("bob", "bob-password").unwrap();
    assert_eq!(caller.via, AuthVia::Session);
    assert!(
        secrets::looks_like_key(&token) && token.len() >= 32,
        "at least 128 bits"
    );
    assert_eq!(
        h.app
            .accounts
            .authenticate_session(&token)
            .unwrap()
            .user
            .username,
        "bob"
    );
    h.clock.advance_secs(3599);
    assert!(h.app.accounts.authenticate_session(&token).is_ok());
    h.clock.advance_secs(1);
    assert_eq!(
        h.app.accounts.authenticate_session(&token),
        Err(Error::AuthFailed)
    );

    let (_, token) = h.app.accounts.login("bob", "bob-password").unwrap();
    h.app.accounts.logout(&token).unwrap();
    h.app.accounts.logout(&token).unwrap();
    assert_eq!(
        h.app.accounts.authenticate_session(&token),
        Err(Error::AuthFailed)
    );
    // Session tokens are not API keys and vice versa.
    let (_, token) = h.app.accounts.login("bob", "bob-password").unwrap();
    assert_eq!(
        h.app.accounts.authenticate_api_key(&token),
        Err(Error::AuthFailed)
    );
}

#[test]
fn password_change_ends_sessions_and_verifies() {
    let h = harness();
    let (bob, _) = h.user("bob");
    let (_, token) = h.app.accounts.login("bob", "bob-password").unwrap();
    assert!(h
        .app
        .accounts
        .verify_password(&bob.user, "bob-password")
        .unwrap());
    h.app
        .accounts
        .set_password(&bob, "bob", "new-password")
        .unwrap();
    assert_eq!(
        h.app.accounts.authenticate_session(&token),
        Err(Error::AuthFailed)
    );
    assert!(!h
        .app
        .accounts
        .verify_password(&bob.user, "bob-password")
        .unwrap());
    assert!(h
        .app
        .accounts
        .verify_password(&bob.user, "new-password")
        .unwrap());
    let (carol, _) = h.user("carol");
    assert_eq!(
        h.app.accounts.set_password(&carol, "bob", "hijacked-pw"),
        Err(Error::AccessDenied)
    );
    assert!(matches!(
        h.app.accounts.set_password(&bob, "bob", "short"),
        Err(Error::Validation {
            field: "password",
            ..
        })
    ));
}

#[test]
fn profile_and_key_reset() {
    let h = harness();
    let (bob, key) = h.user("bob");
    let (_, via_client) = h.client(&bob, "c1");
    let profile = h.app.accounts.profile(&bob, None).unwrap();
    assert_eq!(
        serde_json::to_value(&profile).unwrap(),
        serde_json::json!({"username": "bob", "role": "user", "apiKey": key, "clientCount": 1})
    );
    assert_eq!(
        h.app.accounts.profile(&via_client, None),
        Err(Error::AccessDenied),
        "a client key cannot read the account key"
    );

    assert_eq!(
        h.app.accounts.reset_api_key("bob", "0".repeat(64).as_str()),
        Err(Error::AuthFailed)
    );
    assert_eq!(
        h.app.accounts.reset_api_key("admin", &key),
        Err(Error::AuthFailed),
        "key of another account"
    );
    let new_key = h.app.accounts.reset_api_key("bob", &key).unwrap();
    assert_ne!(new_key, key);
    assert_eq!(
        h.app.accounts.authenticate_api_key(&key),
        Err(Error::AuthFailed)
    );
    assert_eq!(
        h.app
            .accounts
            .authenticate_api_key(&new_key)
            .unwrap()
            .user
            .username,
        "bob"
    );
    assert_eq!(
        h.app.accounts.reset_api_key("bob", &key),
        Err(Error::AuthFailed),
        "old key is spent"
    );
}

#[test]
fn admin_operations_need_an_admin_account_not_a_client_key() {
    let h = harness();
    let admin = h.admin();
    let (bob, _) = h.user("bob");
    let (_, admin_client) = h.client(&admin, "admins-client");
    for caller in [&bob, &admin_client] {
        assert_eq!(
            h.app.accounts.list_users(caller).map(|_| ()),
            Err(Error::AccessDenied)
        );
        assert_eq!(
            h.app
                .accounts
                .create_user(caller, "x", Role::User, "password-x")
                .map(|_| ()),
            Err(Error::AccessDenied)
        );
        assert_eq!(
            h.app.accounts.set_plan(caller, "bob", 100).map(|_| ()),
            Err(Error::AccessDenied)
        );
        assert_eq!(
            h.app.accounts.delete_user(caller, "bob"),
            Err(Error::AccessDenied)
        );
        assert_eq!(
            h.app.security.list(caller).map(|_| ()),
            Err(Error::AccessDenied)
        );
        assert_eq!(
            h.app.app_log.recent(caller).map(|_| ()),
            Err(Error::AccessDenied)
        );
    }
    let (user, key) = h
        .app
        .accounts
        .create_user(&admin, "dave", Role::Admin, "dave-password")
        .unwrap();
    assert_eq!(user.role, Role::Admin);
    assert!(h
        .app
        .accounts
        .authenticate_api_key(&key)
        .unwrap()
        .is_admin());
    assert!(matches!(
        h.app
            .accounts
            .create_user(&admin, "dave", Role::User, "password-2"),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        h.app
            .accounts
            .create_user(&admin, "bad name", Role::User, "password-2"),
        Err(Error::Validation {
            field: "username",
            ..
        })
    ));
    assert_eq!(
        h.app
            .accounts
            .set_plan(&admin, "bob", 7)
            .unwrap()
            .max_clients,
        7
    );
    assert_eq!(
        h.app.accounts.set_plan(&admin, "ghost", 7),
        Err(Error::NotFound("User".into()))
    );
    assert!(matches!(
        h.app.accounts.delete_user(&admin, "admin"),
        Err(Error::Conflict(_))
    ));
    h.app.accounts.delete_user(&admin, "dave").unwrap();
    assert!(
        matches!(
            h.app.accounts.delete_user_local("admin"),
            Err(Error::Conflict(_))
        ),
        "last admin stays"
    );
}

#[test]
fn security_events_are_recorded_newest_first() {
    let h = harness();
    let admin = h.admin();
    for kind in ["login_failed", "rate_limited"] {
        let event = SecurityEvent {
            kind: kind.into(),
            ip: Some("192.0.2.1".into()),
            username: None,
            detail: "x".repeat(600),
        };
        h.app.security.record(event).unwrap();
        h.clock.advance_secs(1);
    }
    let events = h.app.security.list(&admin).unwrap();
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["rate_limited", "login_failed"]
    );
    assert_eq!(events[0].detail.len(), 500, "detail is bounded");
    assert_eq!(events[1].at, "2025-10-06T12:00:00Z");
}

/// GET /api/profile is answered from memory for an account key (the key the request carried and
/// the store's client counts); every change that shows in the profile must show at once, and the
/// answer is the same as the one read from the store.
#[test]
fn profile_from_memory_follows_every_change() {
    let h = harness();
    let (bob, key) = h.user("bob");
    let (carol, carol_key) = h.user("carol");
    // (apiKey, clientCount), checked to be the same from memory and from the store.
    let profile = |caller: &Caller, key: &str| {
        let fast = h.app.accounts.profile(caller, Some(key)).unwrap();
        let stored = h.app.accounts.profile(caller, None).unwrap();
        assert_eq!(fast, stored);
        (fast.api_key.into_owned(), fast.client_count)
    };
    let count = |caller: &Caller, key: &str| profile(caller, key).1;
    assert_eq!(profile(&bob, &key).0, key);
    assert_eq!(count(&bob, &key), 0);
    h.client(&bob, "b1");
    h.client(&bob, "b2");
    h.client(&carol, "c1");
    assert_eq!((count(&bob, &key), count(&carol, &carol_key)), (2, 1));
    h.app.clients.delete(&bob, "b1", "bob-password").unwrap();
    assert_eq!((count(&bob, &key), count(&carol, &carol_key)), (1, 1));

    // A session caller is answered from the store.
    let (_, session) = h.app.accounts.login("bob", "bob-password").unwrap();
    let by_session = h.app.accounts.authenticate_session(&session).unwrap();
    assert_eq!(
        h.app
            .accounts
            .profile(&by_session, Some("ignored"))
            .unwrap()
            .api_key,
        key
    );

    // A new key shows in the profile.
    let new_key = h.app.accounts.reset_api_key("bob", &key).unwrap();
    let bob = h.app.accounts.authenticate_api_key(&new_key).unwrap();
    assert_eq!(profile(&bob, &new_key).0, new_key);

    // Deleting an account deletes its clients: a new account of the same name starts at zero.
    let admin = h.admin();
    h.app.accounts.delete_user(&admin, "carol").unwrap();
    let (carol, carol_key) = h.user("carol");
    assert_eq!(count(&carol, &carol_key), 0);
}
