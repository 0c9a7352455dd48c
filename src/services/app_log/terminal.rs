//! The terminal side of the application log: lines are appended to a bounded buffer under a short
//! lock and written out in batches by one background thread, so a request never waits for a
//! write to stderr (one `write` per line, under the stderr lock, used to halve the throughput of
//! the HTTP API). Under load the writer wakes once per batch, not once per line: at most
//! [`BATCH_DELAY`] after a line arrives it is on the terminal; after a quiet spell, at once. A slow or stuck terminal costs lines, not requests: past [`MAX_PENDING_BYTES`]
//! new lines are counted and the count is written once the terminal catches up.
//!
//! [`Terminal::flush`] writes everything pending before it returns: the logger calls it for
//! warnings and errors (so they are on the terminal before anything else can happen) and from
//! `log::Log::flush`.

use std::io::Write;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Most bytes waiting for the terminal; beyond this, lines are dropped and counted.
const MAX_PENDING_BYTES: usize = 256 * 1024;

/// How long the writer lets lines gather after the first one of a batch arrives.
const BATCH_DELAY: Duration = Duration::from_millis(10);

/// Buffers bigger than this after a burst are given back, so a burst does not hold memory.
const KEEP_CAPACITY: usize = 16 * 1024;

/// Lines waiting for the terminal.
#[derive(Default)]
struct Pending {
    text: Vec<u8>,
    /// Lines refused because the buffer was full.
    dropped: u64,
    /// The background writer is running (started on the first line).
    writer_started: bool,
}

/// The sink and the buffer being written; held while writing so batches stay in order.
struct Output {
    sink: Box<dyn Write + Send>,
    batch: Vec<u8>,
}

pub(super) struct Terminal {
    pending: Mutex<Pending>,
    ready: Condvar,
    output: Mutex<Output>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

static STDERR: OnceLock<Terminal> = OnceLock::new();

impl Terminal {
    pub(super) fn new(sink: Box<dyn Write + Send>) -> Terminal {
        Terminal {
            pending: Mutex::new(Pending::default()),
            ready: Condvar::new(),
            output: Mutex::new(Output {
                sink,
                batch: Vec::new(),
            }),
        }
    }

    /// The process's stderr.
    pub(super) fn stderr() -> &'static Terminal {
        STDERR.get_or_init(|| Terminal::new(Box::new(std::io::stderr())))
    }

    /// Queues one complete line (with its newline). Never waits for the terminal.
    pub(super) fn enqueue(&'static self, line: &[u8]) {
        let mut pending = lock(&self.pending);
        if !pending.writer_started {
            pending.writer_started = self.start_writer();
            if !pending.writer_started {
                // No thread to write behind us: write in place rather than lose the line.
                drop(pending);
                let mut output = lock(&self.output);
                let _ = output.sink.write_all(line);
                return;
            }
        }
        if pending.text.len().saturating_add(line.len()) > MAX_PENDING_BYTES {
            pending.dropped = pending.dropped.saturating_add(1);
            return;
        }
        let was_idle = pending.text.is_empty() && pending.dropped == 0;
        pending.text.extend_from_slice(line);
        drop(pending);
        if was_idle {
            self.ready.notify_one();
        }
    }

    fn start_writer(&'static self) -> bool {
        std::thread::Builder::new()
            .name("chattu-log".into())
            .stack_size(64 * 1024)
            .spawn(move || self.write_forever())
            .is_ok()
    }

    fn write_forever(&self) {
        let mut last_write = Instant::now();
        loop {
            {
                let mut pending = lock(&self.pending);
                while pending.text.is_empty() && pending.dropped == 0 {
                    pending = self
                        .ready
                        .wait(pending)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
            // Under load (the previous batch was just written) let a batch gather: a wake-up per
            // batch instead of one per line. A line after a quiet spell is written at once, so the
            // last lines before an exit are not left waiting.
            if last_write.elapsed() < BATCH_DELAY {
                std::thread::sleep(BATCH_DELAY);
            }
            self.flush();
            last_write = Instant::now();
        }
    }

    /// Writes everything queued so far, in order, before returning.
    pub(super) fn flush(&self) {
        let mut output = lock(&self.output);
        let output = &mut *output;
        loop {
            let dropped = {
                let mut pending = lock(&self.pending);
                if pending.text.is_empty() && pending.dropped == 0 {
                    break;
                }
                std::mem::swap(&mut pending.text, &mut output.batch);
                std::mem::take(&mut pending.dropped)
            };
            if dropped > 0 {
                let _ = writeln!(
                    output.batch,
                    "({dropped} log lines dropped: the terminal was not keeping up)"
                );
            }
            let _ = output.sink.write_all(&output.batch);
            output.batch.clear();
            if output.batch.capacity() > KEEP_CAPACITY {
                output.batch.shrink_to(KEEP_CAPACITY);
            }
        }
        let _ = output.sink.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A sink the test can read back; `stall` holds writes until released.
    #[derive(Clone, Default)]
    struct Captured {
        bytes: Arc<Mutex<Vec<u8>>>,
        stall: Arc<Mutex<()>>,
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _held = lock(&self.stall);
            lock(&self.bytes).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn leaked(sink: &Captured) -> &'static Terminal {
        Box::leak(Box::new(Terminal::new(Box::new(sink.clone()))))
    }

    fn text(sink: &Captured) -> String {
        String::from_utf8_lossy(&lock(&sink.bytes)).into_owned()
    }

    #[test]
    fn lines_from_many_threads_all_arrive_in_order_per_thread() {
        let sink = Captured::default();
        let terminal = leaked(&sink);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..500 {
                        terminal.enqueue(format!("t{t} {i}\n").as_bytes());
                    }
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().is_ok());
        }
        terminal.flush();
        let written = text(&sink);
        for t in 0..4 {
            let seen: Vec<usize> = written
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("t{t} ")))
                .filter_map(|n| n.parse().ok())
                .collect();
            assert_eq!(seen, (0..500).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_stuck_terminal_drops_and_counts_lines_instead_of_blocking() {
        let sink = Captured::default();
        let terminal = leaked(&sink);
        let stall = lock(&sink.stall);
        let line = [b'x'; 1023];
        let mut line = line.to_vec();
        line.push(b'\n');
        // Far more than the buffer holds; none of these calls may wait for the stalled sink.
        for _ in 0..(MAX_PENDING_BYTES / 1024) * 3 {
            terminal.enqueue(&line);
        }
        drop(stall);
        terminal.flush();
        let written = text(&sink);
        let kept = written.lines().filter(|l| l.starts_with('x')).count();
        assert!(kept >= MAX_PENDING_BYTES / 1024 - 1, "kept {kept}");
        assert!(kept < (MAX_PENDING_BYTES / 1024) * 3, "kept {kept}");
        let note = written
            .lines()
            .find(|l| l.contains("log lines dropped"))
            .unwrap_or_default()
            .to_string();
        let dropped: usize = note
            .trim_start_matches('(')
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        assert_eq!(kept + dropped, (MAX_PENDING_BYTES / 1024) * 3);
    }
}
