//! The application log: one `log::Log` implementation that writes every line to stderr and keeps
//! the most recent ones in a bounded in-memory ring for GET /api/logs.
//!
//! Lines look like `2025-11-01T12:00:00.123Z INFO  chattu::http: listening on 127.0.0.1:8080`
//! (the same shape as simplelog's terminal output, plus an RFC 3339 time). Our own targets
//! (`chattu::*`) log at the configured level; dependencies only at warn and above, unless the
//! level is trace. Lines with target [`SECRET_LOG_TARGET`] reach the terminal but never the ring.

pub use super::bootstrap::SECRET_LOG_TARGET;
use super::time::{format_rfc3339_millis, Clock, SystemClock};
use super::{Caller, Error, Shared};
use log::{LevelFilter, Log, Metadata, Record};
use serde::Serialize;
use std::collections::VecDeque;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

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

/// A bounded ring of recent lines.
#[derive(Debug)]
pub struct LogRing {
    capacity: usize,
    lines: Mutex<VecDeque<LogLine>>,
}

impl LogRing {
    pub fn new(capacity: usize) -> LogRing {
        LogRing {
            capacity: capacity.max(1),
            lines: Mutex::new(VecDeque::new()),
        }
    }

    pub fn push(&self, line: LogLine) {
        let mut lines = self
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        while lines.len() >= self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// Oldest first.
    pub fn snapshot(&self) -> Vec<LogLine> {
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        lines.iter().cloned().collect()
    }
}

static RING: OnceLock<Arc<LogRing>> = OnceLock::new();

/// The process-wide ring (created with `capacity` on first use).
pub fn global_ring(capacity: usize) -> Arc<LogRing> {
    RING.get_or_init(|| Arc::new(LogRing::new(capacity)))
        .clone()
}

/// The logger: stderr plus the ring.
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
}

impl Log for ChattuLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        self.allows(metadata.target(), metadata.level())
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let time = format_rfc3339_millis(SystemClock.now_ms());
        let message = record.args().to_string();
        let level = record.level().to_string();
        if self.echo {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{time} {level:<5} {}: {message}",
                record.target()
            );
        }
        if record.target() != SECRET_LOG_TARGET {
            let message = message.chars().take(MAX_LINE_CHARS).collect();
            self.ring.push(LogLine {
                time,
                level,
                target: record.target().to_string(),
                message,
            });
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Installs the logger once per process (later calls only return the ring).
pub fn init(level: LevelFilter, recent_lines: usize) -> Arc<LogRing> {
    let ring = global_ring(recent_lines);
    let logger = ChattuLogger::new(level, ring.clone());
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
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
    fn ring_keeps_only_the_newest_lines() {
        let ring = LogRing::new(3);
        for i in 0..5 {
            ring.push(LogLine {
                time: String::new(),
                level: "INFO".into(),
                target: "t".into(),
                message: i.to_string(),
            });
        }
        let kept: Vec<String> = ring.snapshot().into_iter().map(|l| l.message).collect();
        assert_eq!(kept, ["2", "3", "4"]);
    }

    #[test]
    fn logger_filters_by_target_and_keeps_secrets_out_of_the_ring() {
        let ring = Arc::new(LogRing::new(10));
        let logger = ChattuLogger {
            echo: false,
            ..ChattuLogger::new(LevelFilter::Info, ring.clone())
        };
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
