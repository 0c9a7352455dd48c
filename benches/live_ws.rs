//! /ws figures (docs/benchmarks.md, "Live events"): server memory per open socket, measured on the
//! real binary's RSS, and fan-out throughput of the live bus to open sockets, in-process.
//!
//! `cargo bench --bench live_ws` (prints figures; no assertions).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;

const ADMIN_PASSWORD: &str = "bench-admin-password-1";
const USERS: usize = 16;
const SOCKETS_PER_USER: usize = 16;

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chattu-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn login(addr: SocketAddr, username: &str, password: &str) -> String {
    let res = ureq::post(&format!("http://{addr}/login"))
        .send_json(json!({"username": username, "password": password}))
        .expect("login");
    res.header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_string()
}

fn open_socket(addr: SocketAddr, cookie: &str) -> tungstenite::WebSocket<TcpStream> {
    let mut req = format!("ws://{addr}/ws")
        .into_client_request()
        .expect("request");
    req.headers_mut()
        .insert("cookie", HeaderValue::from_str(cookie).expect("cookie"));
    let stream = TcpStream::connect(addr).expect("connect");
    let (mut ws, _) = tungstenite::client::client(req, stream).expect("handshake");
    let _hello = ws.read().expect("hello");
    ws
}

/// RSS of `chattu serve` before and after opening USERS × SOCKETS_PER_USER sockets.
fn memory_per_socket() {
    let data = temp_dir("ws-rss");
    let mut child = Command::new(env!("CARGO_BIN_EXE_chattu"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("CHATTU_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("CHATTU_LOG_LEVEL", "info")
        .env("CHATTU_RATE_LIMITS_API_PER_15MIN", "100000")
        .env("CHATTU_RATE_LIMITS_SENSITIVE_PER_HOUR", "100000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chattu");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("listening line").expect("read");
        if let Some(a) = line.split("listening on ").nth(1) {
            break a.trim().parse().expect("address");
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let fresh = rss_kib(child.id());
    let admin = login(addr, "admin", ADMIN_PASSWORD);
    let mut cookies = Vec::new();
    for i in 0..USERS {
        let name = format!("user{i}");
        let password = format!("{name}-password-1");
        ureq::post(&format!("http://{addr}/api/admin/users"))
            .set("cookie", &admin)
            .send_json(json!({"username": name, "password": password, "role": "user"}))
            .expect("create user");
        cookies.push(login(addr, &name, &password));
    }
    // Warm up: one socket open and closed, so lazily built state is in the baseline.
    drop(open_socket(addr, &cookies[0]));
    std::thread::sleep(Duration::from_millis(300));
    let before = rss_kib(child.id());
    let mut sockets = Vec::new();
    for cookie in &cookies {
        for _ in 0..SOCKETS_PER_USER {
            sockets.push(open_socket(addr, cookie));
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_kib(child.id());
    let n = sockets.len() as u64;
    println!(
        "live_ws: server RSS {fresh} KiB at start, {before} KiB after {} logins and user creations",
        2 * USERS + 1
    );
    println!(
        "live_ws: server RSS {before} KiB idle, {after} KiB with {n} open /ws sockets: {:.1} KiB per socket",
        after.saturating_sub(before) as f64 / n as f64
    );
    drop(sockets);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
}

/// Events per second from `app.live.publish` to every open socket of the owner, in-process.
fn fan_out(sockets: usize, events: usize) {
    use chattu::services::live::LiveEvent;
    use chattu::services::{App, ClientStatus, OpenOptions};

    let data = temp_dir("ws-fan");
    let mut env = std::collections::HashMap::new();
    env.insert("CHATTU_DATA_DIR".to_string(), data.display().to_string());
    let config = chattu::config::Config::load_with(
        None,
        &env,
        &[std::path::PathBuf::from("/nonexistent/chattu.toml")],
    )
    .expect("config");
    let options = OpenOptions {
        initial_admin_password: Some(ADMIN_PASSWORD.into()),
        ..OpenOptions::default()
    };
    let app = App::open_with(config, options).expect("app");
    let (_, token) = app.accounts.login("admin", ADMIN_PASSWORD).expect("login");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(chattu::http::serve_on(listener, app.clone(), async {
            let _ = stop_rx.await;
        }));
        // Each reader counts frames; the publisher keeps at most BATCH events in flight (the ring
        // holds 256), so the figure is the sustained rate, not the lag cut-off.
        const BATCH: usize = 128;
        let counters: Vec<Arc<AtomicUsize>> =
            (0..sockets).map(|_| Arc::new(AtomicUsize::new(0))).collect();
        let mut readers = Vec::new();
        for counter in &counters {
            let mut req = format!("ws://{addr}/ws").into_client_request().expect("request");
            let cookie = format!("chattu_session={token}");
            req.headers_mut()
                .insert("cookie", HeaderValue::from_str(&cookie).expect("cookie"));
            let (mut ws, _) = tokio_tungstenite::connect_async(req).await.expect("connect");
            let _hello = ws.next().await;
            let counter = counter.clone();
            readers.push(tokio::spawn(async move {
                while counter.load(Ordering::Relaxed) < events {
                    match ws.next().await {
                        Some(Ok(tungstenite::Message::Text(_))) => {
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
            }));
        }
        let started = Instant::now();
        let mut published = 0;
        while published < events {
            let slowest = counters.iter().map(|c| c.load(Ordering::Relaxed)).min();
            if published - slowest.unwrap_or(0) >= BATCH {
                tokio::task::yield_now().await;
                continue;
            }
            app.live.publish(LiveEvent::client_status(
                "admin",
                "c1",
                ClientStatus::Authenticated,
                None,
                published as i64,
            ));
            published += 1;
        }
        for r in readers {
            let _ = r.await;
        }
        let delivered: usize = counters.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "live_ws: {events} events to {sockets} sockets: {delivered} frames in {:.2} s = {:.0} frames/s",
            secs,
            delivered as f64 / secs
        );
        let _ = stop_tx.send(());
        let _ = server.await;
    });
    let _ = std::fs::remove_dir_all(&data);
}

fn main() {
    memory_per_socket();
    fan_out(1, 20_000);
    fan_out(16, 5_000);
}
