//! The connection layer: accept loop, HTTP/1.1 connections with header and idle timeouts, panic
//! isolation per request, and graceful shutdown with a bounded wait.
//!
//! It knows nothing about routes: it calls a handler `(request, peer) -> response`.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::FutureExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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

/// What the watchdog needs to know about a connection. Kept with counters and flags only: the
/// request path reads no clock and arms no timer for it.
struct Activity {
    /// Requests being answered.
    in_flight: AtomicUsize,
    /// Requests answered so far.
    answered: AtomicU64,
    /// Bytes of a request head arrived (or the connection is new) and the request has not
    /// started yet.
    head_pending: AtomicBool,
    /// Writes to the socket so far: an answer still going out (a large body to a slow reader)
    /// is activity, even after its handler returned.
    writes: AtomicU64,
}

impl Activity {
    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_pending.store(false, Ordering::Relaxed);
    }

    fn request_answered(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.answered.fetch_add(1, Ordering::Relaxed);
    }

    fn wrote(&self, polled: &Poll<std::io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn bytes_arrived(&self) {
        // Bytes while a request is being answered belong to that request's body or to a
        // pipelined one; only bytes on an idle connection start the head clock.
        if self.in_flight.load(Ordering::Relaxed) == 0 {
            self.head_pending.store(true, Ordering::Relaxed);
        }
    }
}

/// The socket, telling the watchdog when bytes arrive.
struct WatchedStream {
    stream: tokio::net::TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for WatchedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write(cx, buf);
        self.activity.wrote(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.activity.wrote(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The watchdog's view between two of its ticks.
struct Watch {
    tick: Duration,
    answered: u64,
    writes: u64,
    /// How long the connection has been quiet (nothing in flight, no head arriving).
    quiet: Duration,
    /// How long a request head has been arriving.
    head: Duration,
}

/// What the watchdog decides at a tick.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    KeepOpen,
    /// A head took longer than the header timeout, or the connection was idle too long; nothing
    /// is being answered or written, so the connection is dropped.
    Close,
}

impl Watch {
    /// Ticks at half the shorter timeout: a timeout is acted on within half of it.
    fn new(settings: &ServerSettings) -> Watch {
        let shorter = settings.header_timeout.min(settings.idle_timeout);
        Watch {
            tick: (shorter / 2).max(Duration::from_millis(50)),
            answered: 0,
            writes: 0,
            quiet: Duration::ZERO,
            head: Duration::ZERO,
        }
    }

    fn tick(&mut self, activity: &Activity, settings: &ServerSettings) -> Verdict {
        let answered = activity.answered.load(Ordering::Relaxed);
        let writes = activity.writes.load(Ordering::Relaxed);
        let moved_on = answered != self.answered;
        let writing = writes != self.writes;
        self.answered = answered;
        self.writes = writes;
        if activity.in_flight.load(Ordering::Relaxed) > 0 || writing {
            self.quiet = Duration::ZERO;
            self.head = Duration::ZERO;
            return Verdict::KeepOpen;
        }
        if activity.head_pending.load(Ordering::Relaxed) {
            self.quiet = Duration::ZERO;
            self.head += self.tick;
            return match self.head >= settings.header_timeout {
                true => Verdict::Close,
                false => Verdict::KeepOpen,
            };
        }
        self.head = Duration::ZERO;
        self.quiet = match moved_on {
            true => Duration::ZERO,
            false => self.quiet + self.tick,
        };
        match self.quiet >= settings.idle_timeout {
            true => Verdict::Close,
            false => Verdict::KeepOpen,
        }
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
    // A new connection owes its first request head within the header timeout.
    let activity = Arc::new(Activity {
        in_flight: AtomicUsize::new(0),
        answered: AtomicU64::new(0),
        head_pending: AtomicBool::new(true),
        writes: AtomicU64::new(0),
    });
    let svc_activity = activity.clone();
    let service = service_fn(move |req: Request<Incoming>| {
        let activity = svc_activity.clone();
        activity.request_started();
        // Combinators, not an async block: an async block keeps the request future it awaits
        // twice (captured, then moved to be polled), and hyper moves the whole thing into its
        // slot per request.
        catch_panic(handler(req, peer)).map(move |res| {
            activity.request_answered();
            Ok::<_, std::convert::Infallible>(res)
        })
    });
    // Both timeouts are the watchdog's below. hyper's own header timeout would arm a timer for
    // every request, and it also ran while a keep-alive connection waited for its next
    // request, so idle connections were closed at the header timeout, not the idle timeout.
    let mut builder = http1::Builder::new();
    builder
        .header_read_timeout(None)
        .keep_alive(true)
        .max_buf_size(MAX_HEAD_BUFFER);
    let io = WatchedStream {
        stream,
        activity: activity.clone(),
    };
    let mut conn = pin!(builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades());
    let mut watch = Watch::new(&settings);
    // One timer per connection, moved on at each tick: never one per request.
    let mut ticker = pin!(tokio::time::sleep(watch.tick));
    let mut closing = false;
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
            () = ticker.as_mut(), if !closing => {
                if watch.tick(&activity, &settings) == Verdict::Close {
                    // Nothing in flight and nothing written for a tick: no answer is cut off.
                    // (hyper's graceful shutdown would wait for a head that never completes.)
                    log::debug!("closing connection from {peer}: timed out");
                    return;
                }
                ticker.as_mut().reset(tokio::time::Instant::now() + watch.tick);
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

    fn settings(header_ms: u64, idle_ms: u64) -> ServerSettings {
        ServerSettings {
            header_timeout: Duration::from_millis(header_ms),
            idle_timeout: Duration::from_millis(idle_ms),
            shutdown_grace: Duration::from_secs(1),
        }
    }

    fn activity(in_flight: usize, answered: u64, head_pending: bool) -> Activity {
        Activity {
            in_flight: AtomicUsize::new(in_flight),
            answered: AtomicU64::new(answered),
            head_pending: AtomicBool::new(head_pending),
            writes: AtomicU64::new(0),
        }
    }

    /// Ticks until the watch closes; `None` if it keeps the connection for `max` ticks.
    fn ticks_to_close(
        watch: &mut Watch,
        a: &Activity,
        s: &ServerSettings,
        max: u32,
    ) -> Option<u32> {
        (1..=max).find(|_| watch.tick(a, s) == Verdict::Close)
    }

    #[test]
    fn the_watch_closes_slow_heads_at_the_header_timeout_and_idle_ones_at_the_idle_timeout() {
        let s = settings(1000, 3000);
        // Ticks at half the shorter timeout.
        assert_eq!(Watch::new(&s).tick, Duration::from_millis(500));
        // A head arriving (or a new, silent connection): two ticks.
        let mut watch = Watch::new(&s);
        assert_eq!(
            ticks_to_close(&mut watch, &activity(0, 0, true), &s, 20),
            Some(2)
        );
        // Idle after an answer: the tick that sees the answer, then six quiet ones.
        let mut watch = Watch::new(&s);
        assert_eq!(
            ticks_to_close(&mut watch, &activity(0, 1, false), &s, 20),
            Some(7)
        );
        // A request in flight keeps the connection, however long it takes.
        let mut watch = Watch::new(&s);
        assert_eq!(
            ticks_to_close(&mut watch, &activity(1, 0, false), &s, 50),
            None
        );
        // Answers between ticks keep resetting the quiet time.
        let mut watch = Watch::new(&s);
        let busy = activity(0, 0, false);
        for answered in 1..50 {
            busy.answered.store(answered, Ordering::Relaxed);
            assert_eq!(watch.tick(&busy, &s), Verdict::KeepOpen);
        }
        // A head that started after some quiet time gets the header timeout, from then.
        let mut watch = Watch::new(&s);
        let later = activity(0, 0, false);
        for _ in 0..4 {
            assert_eq!(watch.tick(&later, &s), Verdict::KeepOpen);
        }
        later.bytes_arrived();
        assert_eq!(ticks_to_close(&mut watch, &later, &s, 20), Some(2));
        // An answer still being written (its handler returned) keeps the connection.
        let mut watch = Watch::new(&s);
        let sending = activity(0, 1, false);
        for _ in 0..50 {
            sending.wrote(&Poll::Ready(Ok(1)));
            assert_eq!(watch.tick(&sending, &s), Verdict::KeepOpen);
        }
        // Once the writes stop, the quiet time counts from there.
        assert_eq!(ticks_to_close(&mut watch, &sending, &s, 20), Some(6));
        // Bytes while a request is in flight do not start the head clock.
        let answering = activity(1, 0, false);
        answering.bytes_arrived();
        assert!(!answering.head_pending.load(Ordering::Relaxed));
        answering.request_answered();
        answering.request_started();
        assert!(!answering.head_pending.load(Ordering::Relaxed));
    }

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
