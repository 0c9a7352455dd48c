//! The baseline for scripts/bench-http.sh: a bare hyper 1 HTTP/1.1 server answering every request
//! with a small JSON body, on the same runtime and connection settings as `chattu serve`.
//!
//! `cargo run --release --example bare_hyper -- 127.0.0.1:0` prints `listening on <addr>`.
//! With a second argument `chattu-server`, the same hello-world handler runs on chattu's own
//! connection layer (`chattu::http::server::run`: timeouts, panic isolation, graceful shutdown),
//! which separates the connection layer's cost from the request pipeline's.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on {}", listener.local_addr()?);
    if std::env::args().nth(2).as_deref() == Some("chattu-server") {
        let settings = chattu::http::server::ServerSettings {
            header_timeout: std::time::Duration::from_secs(10),
            idle_timeout: std::time::Duration::from_secs(60),
            shutdown_grace: std::time::Duration::from_secs(1),
        };
        let handler = |_req: Request<hyper::body::Incoming>, _peer| async { hello() };
        chattu::http::server::run(listener, settings, handler, std::future::pending::<()>()).await;
        return Ok(());
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(hello())
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn hello() -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from_static(br#"{"hello":"world"}"#)));
    res.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    res
}
