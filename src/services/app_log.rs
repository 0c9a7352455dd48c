//! The application log: one `log::Log` implementation that writes every line to stderr and keeps
//! the most recent ones in a bounded in-memory ring for GET /api/logs.
//!
//! Lines look like `2025-11-01T12:00:00.123Z INFO  chattu::http: listening on 127.0.0.1:8080`
//! (the same shape as simplelog's terminal output, plus an RFC 3339 time). Our own targets
//! (`chattu::*`) log at the configured level; dependencies only at warn and above, unless the
//! level is trace. Lines with target [`SECRET_LOG_TARGET`] reach the terminal but never the ring.

pub use super::bootstrap::SECRET_LOG_TARGET;
use super::time::{
    format_rfc3339_millis, push_rfc3339_millis, push_zero_padded, Clock, SystemClock,
};
use super::{Caller, Error, Shared};
use log::{LevelFilter, Log, Metadata, Record};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use terminal::Terminal;

mod terminal;

/// Longest message kept in the ring (characters), so one huge line cannot hold much memory.
const MAX_LINE_CHARS: usize = 2000;

/// One remembered log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub time: String,
    pub level: String,
    pub target: String,
    pub message: String,
}

/// A ring slot: the time and level as values, target and message in one string whose
/// allocation is reused when the slot is recycled, so a full ring allocates nothing per line.
#[derive(Debug)]
struct Slot {
    time_ms: i64,
    level: log::Level,
    target_len: usize,
    text: String,
}

/// A bounded ring of recent lines.
#[derive(Debug)]
pub struct LogRing {
    capacity: usize,
    lines: Mutex<VecDeque<Slot>>,
}

impl LogRing {
    pub fn new(capacity: usize) -> LogRing {
        LogRing {
            capacity: capacity.max(1),
            lines: Mutex::new(VecDeque::new()),
        }
    }

    /// Remembers one line (the message cut to [`MAX_LINE_CHARS`] characters).
    pub fn push(&self, time_ms: i64, level: log::Level, target: &str, message: &str) {
        // A message of at most MAX_LINE_CHARS bytes has at most that many characters: no scan.
        let message = match message.len() > MAX_LINE_CHARS {
            false => message,
            true => match message.char_indices().nth(MAX_LINE_CHARS) {
                Some((end, _)) => &message[..end],
                None => message,
            },
        };
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut slot = Slot {
            time_ms,
            level,
            target_len: target.len(),
            text: String::new(),
        };
        while lines.len() >= self.capacity {
            if let Some(oldest) = lines.pop_front() {
                slot.text = oldest.text;
            }
        }
        slot.text.clear();
        slot.text.push_str(target);
        slot.text.push_str(message);
        lines.push_back(slot);
    }

    /// Oldest first.
    pub fn snapshot(&self) -> Vec<LogLine> {
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        lines
            .iter()
            .map(|slot| {
                let (target, message) = slot
                    .text
                    .split_at_checked(slot.target_len)
                    .unwrap_or(("", slot.text.as_str()));
                LogLine {
                    time: format_rfc3339_millis(slot.time_ms),
                    level: slot.level.as_str().to_string(),
                    target: target.to_string(),
                    message: message.to_string(),
                }
            })
            .collect()
    }
}

static RING: OnceLock<Arc<LogRing>> = OnceLock::new();

/// The process-wide ring (created with `capacity` on first use).
pub fn global_ring(capacity: usize) -> Arc<LogRing> {
    RING.get_or_init(|| Arc::new(LogRing::new(capacity)))
        .clone()
}

thread_local! {
    /// Each thread formats its lines here, so a line costs no allocation once warmed up.
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
    /// The last second this thread formatted, and its `YYYY-MM-DDTHH:MM:SS.` text: under load
    /// most lines share their second with the one before.
    static LAST_SECOND: RefCell<Memo<i64>> = const { RefCell::new(Memo::new()) };
}

/// A thread's copy of a piece of text and the key it was made for (see [`push_memoized`]).
pub struct Memo<K> {
    key: Option<K>,
    text: String,
}

impl<K> Memo<K> {
    pub const fn new() -> Memo<K> {
        Memo {
            key: None,
            text: String::new(),
        }
    }
}

impl<K> Default for Memo<K> {
    fn default() -> Memo<K> {
        Memo::new()
    }
}

/// Appends this thread's text for `key` from `memo`, which `make` writes first when the memo
/// holds another key: for parts of log lines that change rarely from one line to the next (the
/// date and time of day, the client's address). Returns false when nothing was appended, because
/// `make` declined to keep its text (returned false) or the memo is out of reach (the thread is
/// ending, or a message being formatted further up this stack logs again); the caller then
/// writes the part itself.
pub fn push_memoized<K: PartialEq + Copy + 'static>(
    memo: &'static std::thread::LocalKey<RefCell<Memo<K>>>,
    key: K,
    line: &mut String,
    make: impl FnOnce(&mut String) -> bool,
) -> bool {
    let pushed = memo.try_with(|memo| {
        let Ok(mut memo) = memo.try_borrow_mut() else {
            return false;
        };
        if memo.key != Some(key) {
            memo.text.clear();
            let kept = make(&mut memo.text);
            memo.key = kept.then_some(key);
            if !kept {
                return false;
            }
        }
        line.push_str(&memo.text);
        true
    });
    matches!(pushed, Ok(true))
}

/// Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` for `time_ms`, reusing the date and time of day when the
/// second is the one this thread formatted last.
fn push_log_time(time_ms: i64, line: &mut String) {
    let second = time_ms.div_euclid(1000);
    let reused = push_memoized(&LAST_SECOND, second, line, |text| {
        push_rfc3339_millis(time_ms, text);
        // Only the usual 24-character form (years 0 to 9999) is kept, up to the milliseconds.
        let usual = text.len() == 24;
        text.truncate(20);
        usual
    });
    if reused {
        let millis = u32::try_from(time_ms.rem_euclid(1000)).unwrap_or(0);
        push_zero_padded(line, millis, 3);
        line.push('Z');
    } else {
        push_rfc3339_millis(time_ms, line);
    }
}

/// The logger: stderr (written behind the caller's back, see [`terminal`]) plus the ring.
pub struct ChattuLogger {
    level: LevelFilter,
    ring: Arc<LogRing>,
    /// Write to stderr (off in unit tests, which check the ring only).
    echo: bool,
}

impl ChattuLogger {
    pub fn new(level: LevelFilter, ring: Arc<LogRing>) -> ChattuLogger {
        ChattuLogger {
            level,
            ring,
            echo: true,
        }
    }

    fn allows(&self, target: &str, level: log::Level) -> bool {
        let ours = target == "chattu" || target.starts_with("chattu::");
        let limit = if ours || self.level == LevelFilter::Trace {
            self.level
        } else {
            self.level.min(LevelFilter::Warn)
        };
        level <= limit
    }

    /// Formats `time LEVEL target: message\n` into `line` and hands it on; `message` appends
    /// the message.
    fn emit(
        &self,
        level: log::Level,
        target: &str,
        line: &mut String,
        message: impl FnOnce(&mut String),
    ) {
        let time_ms = SystemClock.now_ms();
        line.clear();
        push_log_time(time_ms, line);
        line.push(' ');
        let level_name = level.as_str();
        line.push_str(level_name);
        for _ in level_name.len()..5 {
            line.push(' ');
        }
        line.push(' ');
        line.push_str(target);
        line.push_str(": ");
        let message_start = line.len();
        message(line);
        line.push('\n');
        if self.echo {
            let terminal = Terminal::stderr();
            terminal.enqueue(line.as_bytes());
            if level <= log::Level::Warn {
                terminal.flush();
            }
        }
        if target != SECRET_LOG_TARGET {
            let message = line.get(message_start..line.len() - 1).unwrap_or_default();
            self.ring.push(time_ms, level, target, message);
        }
    }

    /// Runs `emit` in this thread's line buffer (or a fresh one when it is in use further up the
    /// stack, by a message whose formatting logs again).
    fn emit_reusing(&self, level: log::Level, target: &str, message: impl FnOnce(&mut String)) {
        let mut message = Some(message);
        let _ = LINE.try_with(|line| {
            if let Ok(mut line) = line.try_borrow_mut() {
                if let Some(message) = message.take() {
                    self.emit(level, target, &mut line, message);
                }
            }
        });
        // Still here when the buffer was not available.
        if let Some(message) = message {
            self.emit(level, target, &mut String::new(), message);
        }
    }
}

/// The logger [`init`] installed, for [`write_line`].
static INSTALLED: OnceLock<&'static ChattuLogger> = OnceLock::new();

/// Logs one line whose message `message` appends to the line, without the `log` macros'
/// formatting machinery: for the access log, one line per request. Before [`init`] (a program
/// that embeds the server with a logger of its own) the line goes through `log` as usual.
pub fn write_line(level: log::Level, target: &str, message: impl FnOnce(&mut String)) {
    match INSTALLED.get() {
        Some(logger) => {
            if logger.allows(target, level) {
                logger.emit_reusing(level, target, message);
            }
        }
        None => {
            if log::log_enabled!(target: target, level) {
                let mut line = String::new();
                message(&mut line);
                log::log!(target: target, level, "{line}");
            }
        }
    }
}

impl Log for ChattuLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.allows(metadata.target(), metadata.level())
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        self.emit_reusing(record.level(), record.target(), |line| {
            match record.args().as_str() {
                Some(text) => line.push_str(text),
                None => {
                    let _ = line.write_fmt(*record.args());
                }
            }
        });
    }

    fn flush(&self) {
        if self.echo {
            Terminal::stderr().flush();
        }
    }
}

/// Installs the logger once per process (later calls only return the ring).
pub fn init(level: LevelFilter, recent_lines: usize) -> Arc<LogRing> {
    let ring = global_ring(recent_lines);
    if INSTALLED.get().is_some() {
        return ring;
    }
    // Lives as long as the process, like any installed logger.
    let logger: &'static ChattuLogger = Box::leak(Box::new(ChattuLogger::new(level, ring.clone())));
    if log::set_logger(logger).is_ok() {
        let _ = INSTALLED.set(logger);
        log::set_max_level(level.max(LevelFilter::Warn));
    }
    ring
}

/// GET /api/logs.
pub struct AppLog {
    shared: Shared,
}

impl AppLog {
    pub(super) fn new(shared: Shared) -> AppLog {
        AppLog { shared }
    }

    /// The recent log lines, oldest first. Admins only: the log names every account's clients.
    pub fn recent(&self, caller: &Caller) -> Result<Vec<LogLine>, Error> {
        caller.require_admin()?;
        Ok(global_ring(self.shared.config.log.recent_lines).snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times_reuse_the_second_and_stay_exact() {
        // Within one second, across a second, a day and a year boundary, and backwards.
        let times = [
            1_759_775_400_000,
            1_759_775_400_001,
            1_759_775_400_999,
            1_759_775_401_000,
            1_759_795_199_999,
            1_759_795_200_000,
            1_767_225_599_999,
            1_767_225_600_000,
            1_759_775_400_500,
            -1,
            0,
            // Year 10000: not the usual 24 characters, so never cached.
            253_402_300_800_000,
            253_402_300_800_001,
            1_759_775_400_002,
        ];
        for ms in times {
            let mut line = String::from("x");
            push_log_time(ms, &mut line);
            assert_eq!(line, format!("x{}", format_rfc3339_millis(ms)), "{ms}");
        }
    }

    /// A logger at info level that fills a ring of 10 lines and writes nothing to stderr.
    fn quiet_logger() -> (Arc<LogRing>, ChattuLogger) {
        let ring = Arc::new(LogRing::new(10));
        let logger = ChattuLogger {
            echo: false,
            ..ChattuLogger::new(LevelFilter::Info, ring.clone())
        };
        (ring, logger)
    }

    #[test]
    fn a_message_written_in_place_reaches_the_ring_even_when_it_logs_again() {
        let (ring, logger) = quiet_logger();
        logger.emit_reusing(log::Level::Info, "chattu::http", |line| {
            // Writing this message logs another line first: it must get a buffer of its own.
            logger.emit_reusing(log::Level::Warn, "chattu::inner", |inner| {
                inner.push_str("nested")
            });
            line.push_str("GET /healthz 200 0ms 127.0.0.1");
        });
        let kept: Vec<String> = ring
            .snapshot()
            .into_iter()
            .map(|l| format!("{} {} {}", l.level, l.target, l.message))
            .collect();
        assert_eq!(
            kept,
            [
                "WARN chattu::inner nested",
                "INFO chattu::http GET /healthz 200 0ms 127.0.0.1"
            ]
        );
    }

    #[test]
    fn ring_keeps_only_the_newest_lines() {
        let ring = LogRing::new(3);
        for i in 0..5 {
            ring.push(0, log::Level::Info, "t", &i.to_string());
        }
        let kept: Vec<String> = ring.snapshot().into_iter().map(|l| l.message).collect();
        assert_eq!(kept, ["2", "3", "4"]);
    }

    #[test]
    fn logger_filters_by_target_and_keeps_secrets_out_of_the_ring() {
        let (ring, logger) = quiet_logger();
        let emit = |target: &str, level: log::Level, text: &str| {
            logger.log(
                &Record::builder()
                    .target(target)
                    .level(level)
                    .args(format_args!("{text}"))
                    .build(),
            );
        };
        emit("chattu::http", log::Level::Info, "listening");
        emit("chattu::http", log::Level::Debug, "too detailed");
        emit("hyper::proto", log::Level::Info, "dependency chatter");
        emit("rustls", log::Level::Warn, "dependency warning");
        emit(SECRET_LOG_TARGET, log::Level::Warn, "password");
        let kept: Vec<String> = ring
            .snapshot()
            .into_iter()
            .map(|l| format!("{} {}", l.target, l.message))
            .collect();
        assert_eq!(
            kept,
            ["chattu::http listening", "rustls dependency warning"]
        );
    }
}
