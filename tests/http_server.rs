//! The connection layer on the real binary: graceful shutdown with a request in flight, the
//! header read timeout, the idle keep-alive timeout, and the access log line.

mod common_http;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common_http::{Server, ADMIN_PASSWORD};

/// Reads until the peer closes or `limit` passes; returns what came and whether it closed.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok();
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or(&[])),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (got, true),
        }
    }
    (got, false)
}

/// A server with the given header and idle timeouts, in seconds.
fn server_with_timeouts(header_secs: &str, idle_secs: &str) -> Server {
    Server::start_with(&[
        ("CHATTU_SERVER_HEADER_TIMEOUT_SECS", header_secs),
        ("CHATTU_SERVER_IDLE_TIMEOUT_SECS", idle_secs),
    ])
}

/// Sends `GET /healthz` on a kept-alive connection and returns what one read gets back.
fn ask_healthz(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).unwrap();
    String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned()
}

#[test]
fn sigterm_lets_the_request_in_flight_finish_then_exits_cleanly() {
    let mut server = Server::start();
    let body = format!(r#"{{"username":"admin","password":"{ADMIN_PASSWORD}"}}"#);
    let mut stream = TcpStream::connect(server.addr).unwrap();
    // Head and half the body, then SIGTERM, then the rest.
    let head = format!("POST /login HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).unwrap();
    let (first, rest) = body.split_at(10);
    stream.write_all(first.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(server.pid().to_string())
        .status();
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(rest.as_bytes()).unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "in-flight request completed: {text}"
    );
    assert!(
        closed,
        "the connection is closed after the answer during shutdown"
    );
    assert!(server.stop(), "exit status 0");
    // New connections are refused once it is gone.
    assert!(TcpStream::connect(server.addr).is_err());
    let log = server.drain_log().join("\n");
    assert!(log.contains("SIGTERM received"), "{log}");
}

/// The two timeouts are separate: a keep-alive connection waiting for its next request is
/// idle, not slow to send a head (it used to be closed at the header timeout).
#[test]
fn an_idle_keep_alive_connection_outlives_the_header_timeout() {
    let server = server_with_timeouts("1", "4");
    // A connection that never sends a byte owes its first head within the header timeout (it
    // is not idle: that would take 4 s).
    let mut silent = TcpStream::connect(server.addr).unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(5));
    assert!(closed, "a silent connection must be dropped");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    let mut idle = TcpStream::connect(server.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(5))).ok();
    assert!(ask_healthz(&mut idle).starts_with("HTTP/1.1 200"));
    // Twice the header timeout later, the same connection still answers.
    std::thread::sleep(Duration::from_secs(2));
    assert!(ask_healthz(&mut idle).starts_with("HTTP/1.1 200"));
    let answered = Instant::now();
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(8));
    assert!(
        closed,
        "an idle connection is closed after the idle timeout"
    );
    let waited = answered.elapsed();
    assert!(
        waited >= Duration::from_millis(3900),
        "closed early: {waited:?}"
    );
}

#[test]
fn slow_request_heads_and_idle_keep_alive_connections_are_closed() {
    let server = server_with_timeouts("1", "1");

    // A head that never completes.
    let mut slow = TcpStream::connect(server.addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5));
    assert!(closed, "incomplete head must be dropped");
    assert!(started.elapsed() < Duration::from_secs(4));

    // A keep-alive connection that answered one request, then goes quiet.
    let mut idle = TcpStream::connect(server.addr).unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut idle, Duration::from_secs(5));
    assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"));
    assert!(closed, "idle keep-alive connection must be closed");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the idle timeout"
    );

    // A connection that keeps working is not cut.
    let mut busy = TcpStream::connect(server.addr).unwrap();
    busy.set_read_timeout(Some(Duration::from_secs(5))).ok();
    for _ in 0..4 {
        assert!(ask_healthz(&mut busy).starts_with("HTTP/1.1 200"));
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn one_log_line_per_request_without_the_query_string() {
    let mut server = Server::start();
    let res = server.get("/api/profile?apiKey=supersecretvalue").send();
    assert_eq!(res.status, 401);
    assert!(server.stop());
    let log = server.drain_log().to_vec();
    let line = log
        .iter()
        .find(|l| l.contains("GET /api/profile 401"))
        .unwrap_or_else(|| panic!("no access line: {log:?}"));
    assert!(line.contains("127.0.0.1"), "client ip: {line}");
    assert!(line.contains("ms"), "duration: {line}");
    assert!(
        !log.iter().any(|l| l.contains("supersecretvalue")),
        "query strings are never logged"
    );
}
