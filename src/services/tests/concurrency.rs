use super::*;
use std::collections::HashSet;

#[test]
fn concurrent_writers_lose_no_update() {
    let h = harness();
    let admin = h.admin();
    let (bob, _) = h.user("bob");
    h.app.accounts.set_plan(&admin, "bob", 100).unwrap();
    h.client(&bob, "base");
    let app = h.app.clone();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (app, bob) = (app.clone(), bob.clone());
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                app.clients
                    .create(&bob, &format!("t{t}"), "9721234567")
                    .unwrap();
                for i in 0..15 {
                    let s = app.schedules.create(
                        &bob,
                        "base",
                        "9721234567",
                        &format!("{t}-{i}"),
                        "2025-10-07T00:00:00Z",
                    );
                    ids.push(s.unwrap().id);
                }
                ids
            })
        })
        .collect();
    let ids: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let unique: HashSet<u64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 120, "ids are unique");
    assert_eq!(
        h.app.schedules.list(&bob).unwrap().len(),
        120,
        "every schedule is there"
    );
    assert_eq!(h.app.clients.list(&bob).unwrap().len(), 9);
}

#[test]
fn concurrent_adds_cannot_exceed_the_plan() {
    let h = harness();
    let admin = h.admin();
    let (bob, _) = h.user("bob");
    h.app.accounts.set_plan(&admin, "bob", 4).unwrap();
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (app, bob) = (h.app.clone(), bob.clone());
            std::thread::spawn(move || {
                app.clients
                    .create(&bob, &format!("c{i}"), "9721234567")
                    .map(|_| ())
            })
        })
        .collect();
    let results: Vec<Result<(), Error>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 4);
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(()) | Err(Error::PlanLimitExceeded))));
    assert_eq!(h.app.clients.list(&bob).unwrap().len(), 4);
}
