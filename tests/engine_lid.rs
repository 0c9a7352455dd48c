//! Phone number ↔ LID end to end: the engine learns its own LID at login, a sender's LID from the
//! `sender_lid` the server puts on its messages (the event then carries both identities), and a
//! LID it was asked to send to from usync; a send addressed to a LID reaches the account's phone
//! under its phone number, an unknown LID is refused, and the mapping survives a restart.

mod companion_support;

use chattu::engine::messaging::EngineEvent;
use chattu::engine::send::SendError;
use chattu::protocol::jid::Jid;
use chattu::simulator::Simulator;
use companion_support::*;
use tokio::net::TcpListener;

#[tokio::test]
async fn sends_take_a_lid_and_events_carry_both_identities() {
    let sim = Simulator::start(TcpListener::bind("127.0.0.1:0").await.unwrap()).unwrap();
    let (ana, ben, cyd) = ("15550302001", "15550302002", "15550302003");
    let store = TempStore::new("lid");
    let (engine, creds) = paired_engine(&sim, ana, "Ana", &store, "lid").await;
    create_phone(&sim, ben, "Ben").await;
    create_phone(&sim, cyd, "Cyd").await;
    let (ana_lid, ben_lid, cyd_lid) = (
        lid_of(&sim, ana).await,
        lid_of(&sim, ben).await,
        lid_of(&sim, cyd).await,
    );
    // Our own mapping comes from the login.
    assert_eq!(engine.lid_of_phone(ana), Some(ana_lid));
    // Nobody has told the engine about Ben or Cyd yet.
    assert_eq!(engine.phone_of_lid(&ben_lid), None);
    assert_eq!(engine.lid_of_phone(cyd), None);

    // A send to Ben's LID: resolved through usync, delivered to Ben's phone.
    let sent = engine
        .send_text(&Jid::lid(ben_lid.clone()), "to your lid")
        .await
        .unwrap();
    assert_eq!(sent.to, Jid::phone(ben));
    let base = sim.http_base();
    let got = eventually("Ben's phone decrypts it", || async {
        let (_, body) = http("GET", format!("{base}/sim/phones/{ben}/messages"), None).await;
        body["received"]
            .as_array()
            .and_then(|all| all.iter().find(|m| m["id"] == sent.id.as_str()).cloned())
    })
    .await;
    assert_eq!(got["text"], "to your lid");
    assert_eq!(got["from"], format!("{ana}:1@s.whatsapp.net"));
    assert_eq!(engine.phone_of_lid(&ben_lid).as_deref(), Some(ben));
    // Known now: the next send needs no lookup and goes the same way.
    let again = engine
        .send_text(&Jid::lid(ben_lid.clone()), "again")
        .await
        .unwrap();
    assert_eq!(again.to, Jid::phone(ben));

    // A LID no account has is refused before anything is encrypted.
    let unknown = engine.send_text(&Jid::lid("999999999999999"), "hi").await;
    assert!(
        matches!(unknown, Err(SendError::BadRecipient(_))),
        "{unknown:?}"
    );

    // Cyd writes: the server names Cyd's LID on the message; the event carries both.
    let mut events = engine.events().unwrap();
    let id = phone_sends(&sim, cyd, ana, "hello Ana").await;
    let received = match next_event(
        &mut events,
        |e| matches!(e, EngineEvent::MessageReceived(m) if m.id == id),
    )
    .await
    {
        EngineEvent::MessageReceived(m) => m,
        _ => unreachable!(),
    };
    assert_eq!(received.chat, Jid::phone(cyd));
    assert_eq!(received.sender_pn, Some(Jid::phone(cyd)));
    assert_eq!(received.sender_lid, Some(Jid::lid(cyd_lid.clone())));
    assert_eq!(engine.lid_of_phone(cyd), Some(cyd_lid.clone()));

    // The mapping is in the store: a restarted engine still knows it.
    engine.shutdown().await;
    let engine = messaging_engine(
        &sim,
        &creds,
        &store,
        "lid",
        std::sync::Arc::new(chattu::engine::messaging::NoSink),
    );
    connected(&engine).await;
    assert_eq!(engine.phone_of_lid(&cyd_lid).as_deref(), Some(cyd));
    assert_eq!(engine.phone_of_lid(&ben_lid).as_deref(), Some(ben));
    engine.shutdown().await;
    sim.shutdown().await;
}
