//! The connection layer: accept loop, HTTP/1.1 connections with header and idle timeouts, panic
//! isolation per request, and graceful shutdown with a bounded wait.
//!
//! It knows nothing about routes: it calls a handler `(request, peer) -> response`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::error::ApiError;
use super::response::Body;

/// Timeouts of the connection layer.
#[derive(Debug, Clone, Copy)]
pub struct ServerSettings {
    /// A client must send a complete request head within this time.
    pub header_timeout: Duration,
    /// A keep-alive connection with no request in flight is closed after this time.
    pub idle_timeout: Duration,
    /// On shutdown, in-flight requests get this long to finish before connections are dropped.
    pub shutdown_grace: Duration,
}

/// Header bytes hyper buffers per connection: plenty for real clients, small enough for a Pi.
const MAX_HEAD_BUFFER: usize = 64 * 1024;

/// Runs until `shutdown` resolves, then stops accepting, lets in-flight requests finish (bounded
/// by `shutdown_grace`) and returns.
pub async fn run<H, F>(
    listener: TcpListener,
    settings: ServerSettings,
    handler: H,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let stops = Arc::new(StopSignals::default());
    // Every connection task holds a clone of `alive_tx`; when all are gone, `alive_rx` yields None.
    let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                log::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let (stop_rx, registered) = StopSignals::register(&stops);
        let alive = alive_tx.clone();
        tokio::spawn(async move {
            serve_connection(stream, peer, settings, handler, stop_rx).await;
            drop(registered);
            drop(alive);
        });
    }
    drop(listener);
    stops.stop_all();
    drop(alive_tx);
    if tokio::time::timeout(settings.shutdown_grace, alive_rx.recv())
        .await
        .is_err()
    {
        log::warn!(
            "shutdown: connections still open after {:?}; dropping them",
            settings.shutdown_grace
        );
    }
}

/// The shutdown signal, one channel per connection. A connection's task polls its signal on
/// every wake-up; one channel shared by every connection made each of those polls lock the
/// channel's list of waiters, which all the worker threads contend for.
#[derive(Default)]
struct StopSignals {
    inner: Mutex<Signals>,
}

#[derive(Default)]
struct Signals {
    next_id: u64,
    /// Dropping a sender is the signal: its receiver then resolves.
    senders: HashMap<u64, oneshot::Sender<()>>,
    stopped: bool,
}

/// Removes a connection's sender when its task ends.
struct Registered {
    stops: Arc<StopSignals>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.stops.lock().senders.remove(&self.id);
    }
}

impl StopSignals {
    fn register(stops: &Arc<StopSignals>) -> (oneshot::Receiver<()>, Registered) {
        let (tx, rx) = oneshot::channel();
        let mut signals = stops.lock();
        let id = signals.next_id;
        signals.next_id += 1;
        // After shutdown began the sender is dropped here, so the connection closes at once.
        if !signals.stopped {
            signals.senders.insert(id, tx);
        }
        drop(signals);
        let registered = Registered {
            stops: stops.clone(),
            id,
        };
        (rx, registered)
    }

    fn stop_all(&self) {
        let senders = {
            let mut signals = self.lock();
            signals.stopped = true;
            std::mem::take(&mut signals.senders)
        };
        drop(senders);
    }

    fn lock(&self) -> MutexGuard<'_, Signals> {
        // Every change is one insert, remove or take: a poisoned map is still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the idle watchdog needs to know about a connection.
struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `started` of the last request start or end.
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_deadline(&self, idle: Duration) -> Option<tokio::time::Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let last = self.started + Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        Some(tokio::time::Instant::from_std(last + idle))
    }
}

async fn serve_connection<H, F>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    settings: ServerSettings,
    handler: H,
    mut stop_rx: oneshot::Receiver<()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let activity = Arc::new(Activity {
        started: Instant::now(),
        in_flight: AtomicUsize::new(0),
        last_ms: AtomicU64::new(0),
    });
    let svc_activity = activity.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let activity = svc_activity.clone();
        // No clock read here: while a request is in flight the connection is never idle, and
        // its end is recorded below.
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        // Combinators, not an async block: an async block keeps the request future it awaits
        // twice (captured, then moved to be polled), and hyper moves the whole thing into its
        // slot per request.
        catch_panic(handler(req, peer)).map(move |res| {
            activity.in_flight.fetch_sub(1, Ordering::Relaxed);
            activity.touch();
            Ok::<_, std::convert::Infallible>(res)
        })
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout)
        .keep_alive(true)
        .max_buf_size(MAX_HEAD_BUFFER);
    let mut conn = pin!(builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades());
    let mut closing = false;
    // Made once per connection, not once per wake-up: a fresh sleep would lock the timer wheel,
    // shared by all connections, on every request.
    let mut idle_watch = pin!(tokio::time::sleep(settings.idle_timeout));
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    log::debug!("connection from {peer} ended: {e}");
                }
                return;
            }
            _ = &mut stop_rx, if !closing => {
                // The server is going away (its sender was dropped).
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = idle_watch.as_mut(), if !closing => {
                // The watch fires at most once per idle period; requests since then move it on.
                let now = tokio::time::Instant::now();
                match activity.idle_deadline(settings.idle_timeout) {
                    Some(deadline) if deadline <= now => {
                        closing = true;
                        conn.as_mut().graceful_shutdown();
                    }
                    Some(deadline) => idle_watch.as_mut().reset(deadline),
                    None => idle_watch.as_mut().reset(now + settings.idle_timeout),
                }
            }
        }
    }
}

/// Turns a panic while polling a handler into a 500 JSON answer, so one bad request can neither
/// kill the server nor hang its connection. Not an `async fn`, which would hold `handler` twice.
pub fn catch_panic<F: Future<Output = Response<Body>>>(
    handler: F,
) -> impl Future<Output = Response<Body>> {
    AssertUnwindSafe(handler)
        .catch_unwind()
        .map(|caught| match caught {
            Ok(res) => res,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                log::error!("request handler panicked: {what}");
                ApiError::internal().into_response()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_becomes_a_500_json_answer() {
        let fut = catch_panic(async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            ApiError::route_not_found().into_response()
        });
        let res = fut.await;
        assert_eq!(res.status(), hyper::StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(res.headers()["content-type"], "application/json");
    }
}
