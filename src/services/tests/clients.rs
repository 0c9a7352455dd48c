use super::*;

#[test]
fn create_and_list_in_the_documented_shape() {
    let h = harness();
    let (bob, _) = h.user("bob");
    let (view, created) = h
        .app
        .clients
        .create(&bob, "client-id", "+9721234567")
        .unwrap();
    assert!(created);
    assert!(secrets::looks_like_key(&view.api_key));
    let listed = h.app.clients.list(&bob).unwrap();
    let json = serde_json::to_value(&listed).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{
            "clientId": "client-id",
            "phoneNumber": "9721234567",
            "apiKey": view.api_key,
            "connectedNumber": "Not Connected",
            "status": "Pending Authentication",
            "webhookUrl": null
        }])
    );
    // The engine reports pairing; the listing follows.
    h.app
        .clients
        .set_status(
            "client-id",
            ClientStatus::Authenticated,
            Some("9721234567@c.us"),
        )
        .unwrap();
    let c = h.app.clients.get(&bob, "client-id").unwrap();
    assert_eq!(
        (c.status.as_str(), c.connected_number.as_str()),
        ("Authenticated", "9721234567@c.us")
    );
    h.app
        .clients
        .set_status("client-id", ClientStatus::LoggedOut, None)
        .unwrap();
    assert_eq!(
        h.app
            .clients
            .get(&bob, "client-id")
            .unwrap()
            .connected_number,
        "Not Connected"
    );
    assert_eq!(
        h.app
            .clients
            .set_status("nope", ClientStatus::Connecting, None)
            .map(|_| ()),
        Err(Error::ClientNotFound)
    );
}

#[test]
fn create_validates_and_is_idempotent_for_the_owner() {
    let h = harness();
    let (bob, _) = h.user("bob");
    let (eve, _) = h.user("eve");
    let (first, _) = h.app.clients.create(&bob, "c1", "9721234567").unwrap();
    let (again, created) = h.app.clients.create(&bob, "c1", "9721234567").unwrap();
    assert!(!created);
    assert_eq!(again, first, "same key, nothing replaced");
    assert!(matches!(
        h.app.clients.create(&eve, "c1", "9721234567"),
        Err(Error::Conflict(_))
    ));
    assert!(matches!(
        h.app.clients.create(&bob, "bad/id", "9721234567"),
        Err(Error::Validation {
            field: "clientId",
            ..
        })
    ));
    assert!(matches!(
        h.app.clients.create(&bob, "c2", "12"),
        Err(Error::Validation {
            field: "phoneNumber",
            ..
        })
    ));
    let (_, via_client) = h.client(&bob, "c3");
    assert_eq!(
        h.app
            .clients
            .create(&via_client, "c4", "9721234567")
            .map(|_| ()),
        Err(Error::AccessDenied)
    );
}

#[test]
fn plan_limit_counts_the_accounts_clients() {
    let h = harness();
    let admin = h.admin();
    let (bob, _) = h.user("bob");
    h.app.accounts.set_plan(&admin, "bob", 2).unwrap();
    h.client(&bob, "a");
    h.client(&bob, "b");
    assert_eq!(
        h.app.clients.create(&bob, "c", "9721234567").map(|_| ()),
        Err(Error::PlanLimitExceeded)
    );
    // Another account's clients do not count against bob.
    let (eve, _) = h.user("eve");
    h.client(&eve, "e");
    h.app.clients.delete(&bob, "a", "bob-password").unwrap();
    assert!(h.app.clients.create(&bob, "c", "9721234567").is_ok());
}

#[test]
fn ownership_rules() {
    let h = harness();
    let (bob, _) = h.user("bob");
    let (eve, _) = h.user("eve");
    let (_, bob_c1) = h.client(&bob, "c1");
    h.client(&bob, "c2");
    h.client(&eve, "e1");
    assert_eq!(h.app.clients.get(&bob, "e1"), Err(Error::AccessDenied));
    assert_eq!(
        h.app.clients.get(&bob, "missing"),
        Err(Error::ClientNotFound)
    );
    assert_eq!(
        h.app.clients.get(&bob_c1, "c2"),
        Err(Error::AccessDenied),
        "a client key reaches only its client"
    );
    assert!(h.app.clients.get(&bob_c1, "c1").is_ok());
    let seen: Vec<String> = h
        .app
        .clients
        .list(&bob_c1)
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(seen, ["c1"]);
    let seen: Vec<String> = h
        .app
        .clients
        .list(&bob)
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(seen, ["c1", "c2"]);
    assert_eq!(
        h.app
            .clients
            .update_webhook(&bob, "e1", "https://8.8.8.8/")
            .map(|_| ()),
        Err(Error::AccessDenied)
    );
    assert_eq!(
        h.app.history.received(&bob, "e1").map(|_| ()),
        Err(Error::AccessDenied)
    );
    assert_eq!(
        h.app.history.calls(&bob_c1, "c2").map(|_| ()),
        Err(Error::AccessDenied)
    );
    assert_eq!(
        h.app.history.calls(&bob, "missing").map(|_| ()),
        Err(Error::ClientNotFound)
    );
}

#[test]
fn delete_needs_the_right_password_and_removes_everything() {
    let h = harness();
    let (bob, _) = h.user("bob");
    let (eve, _) = h.user("eve");
    let (view, _) = h.client(&bob, "c1");
    h.client(&eve, "e1");
    h.app
        .history
        .record_sent("c1", "123", "hello", "sent")
        .unwrap();
    assert_eq!(
        h.app.clients.delete(&bob, "c1", "").map(|_| ()),
        Err(Error::PasswordRequired)
    );
    assert_eq!(
        h.app
            .clients
            .delete(&bob, "c1", "wrong-password")
            .map(|_| ()),
        Err(Error::InvalidPassword)
    );
    assert_eq!(
        h.app.clients.delete(&bob, "e1", "bob-password").map(|_| ()),
        Err(Error::AccessDenied)
    );
    assert_eq!(
        h.app.clients.delete(&bob, "zz", "bob-password").map(|_| ()),
        Err(Error::ClientNotFound)
    );
    let removed = h.app.clients.delete(&bob, "c1", "bob-password").unwrap();
    assert_eq!(removed.client_id, "c1");
    assert_eq!(
        h.app.accounts.authenticate_api_key(&view.api_key),
        Err(Error::AuthFailed)
    );
    assert!(h.app.history.sent(&bob).unwrap().is_empty());
    assert!(h.app.clients.list(&bob).unwrap().is_empty());
}

#[test]
fn webhook_policy_applies_on_update() {
    let h = harness();
    let (bob, _) = h.user("bob");
    h.client(&bob, "c1");
    let set = h
        .app
        .clients
        .update_webhook(&bob, "c1", "https://8.8.8.8/hook")
        .unwrap();
    assert_eq!(set.webhook_url.as_deref(), Some("https://8.8.8.8/hook"));
    for bad in [
        "http://127.0.0.1:9000/",
        "http://localhost/",
        "ftp://8.8.8.8/",
        "http://[::1]/",
        "http://10.0.0.5/",
    ] {
        assert!(
            matches!(
                h.app.clients.update_webhook(&bob, "c1", bad),
                Err(Error::Validation {
                    field: "webhookUrl",
                    ..
                })
            ),
            "{bad}"
        );
    }
    assert_eq!(
        h.app
            .clients
            .record(&bob, "c1")
            .unwrap()
            .webhook_url
            .as_deref(),
        Some("https://8.8.8.8/hook")
    );
    assert_eq!(
        h.app
            .clients
            .update_webhook(&bob, "c1", "")
            .unwrap()
            .webhook_url,
        None,
        "empty clears"
    );

    let lan = harness_with(|c| c.network.allow_private_addresses = true);
    let (bob, _) = lan.user("bob");
    lan.client(&bob, "c1");
    assert!(lan
        .app
        .clients
        .update_webhook(&bob, "c1", "http://127.0.0.1:9000/hook")
        .is_ok());
    assert!(
        lan.app
            .clients
            .update_webhook(&bob, "c1", "ftp://127.0.0.1/")
            .is_err(),
        "scheme rule still holds"
    );
}
