//! A value that every request reads and almost nothing changes (cached callers, client counts),
//! readable without a lock.
//!
//! Behind a mutex, such a value makes the runtime's worker threads take turns on one cache line
//! for every request: the lock word moves between cores twice per read, and under load the
//! threads spin and sleep on it. Here each thread keeps its own handle to the current version
//! and only checks an atomic version number, which stays in every core's cache until a writer
//! changes it. Writers are serialised by a mutex and publish a new version; a reader that sees a
//! newer version takes the lock once to pick it up.
//!
//! A write is visible to every read that starts after the write returned.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Handles a thread keeps at most (one per `ReadMostly` it reads); beyond this the oldest is
/// let go. An appliance has a handful; tests make many and drop them.
const VIEWS_PER_THREAD: usize = 8;

/// Tells instances apart in the per-thread list (never reused).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// One thread's handle to one instance's value.
struct View {
    owner: u64,
    version: u64,
    /// Taken out while the thread reads through it, so a nested read finds it missing and goes
    /// through the lock instead of failing.
    value: Option<Arc<dyn Any + Send + Sync>>,
}

thread_local! {
    static VIEWS: RefCell<Vec<View>> = const { RefCell::new(Vec::new()) };
}

pub struct ReadMostly<T> {
    id: u64,
    /// Moves on with every write, after the new value is in place.
    version: AtomicU64,
    current: Mutex<(u64, Arc<T>)>,
}

impl<T: Send + Sync + 'static> ReadMostly<T> {
    pub fn new(value: T) -> ReadMostly<T> {
        ReadMostly {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            version: AtomicU64::new(0),
            current: Mutex::new((0, Arc::new(value))),
        }
    }

    /// Calls `f` with the current value.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        let version = self.version.load(Ordering::Acquire);
        let held = VIEWS
            .try_with(|views| {
                let mut views = views.try_borrow_mut().ok()?;
                let view = views
                    .iter_mut()
                    .find(|v| v.owner == self.id && v.version == version)?;
                view.value.take()
            })
            .ok()
            .flatten();
        let (version, value) = match held.map(Arc::downcast::<T>) {
            Some(Ok(value)) => (version, value),
            // No current handle on this thread (or it is in use further up this stack).
            _ => self.snapshot(),
        };
        let result = f(&value);
        self.keep(version, value);
        result
    }

    /// Replaces the value with what `change` returns, if it returns one; `change` runs under the
    /// writers' lock with the current value, so read-check-write sequences are atomic.
    pub fn update(&self, change: impl FnOnce(&T) -> Option<T>) {
        let mut current = self.lock();
        if let Some(next) = change(&current.1) {
            let version = current.0.wrapping_add(1);
            *current = (version, Arc::new(next));
            self.version.store(version, Ordering::Release);
        }
    }

    fn snapshot(&self) -> (u64, Arc<T>) {
        let current = self.lock();
        (current.0, current.1.clone())
    }

    /// Keeps `value` as this thread's handle, if it is still the current version.
    fn keep(&self, version: u64, value: Arc<T>) {
        if self.version.load(Ordering::Acquire) != version {
            return;
        }
        let _ = VIEWS.try_with(|views| {
            let Ok(mut views) = views.try_borrow_mut() else {
                return;
            };
            let value: Arc<dyn Any + Send + Sync> = value;
            match views.iter_mut().find(|v| v.owner == self.id) {
                Some(view) => {
                    view.version = version;
                    view.value = Some(value);
                }
                None => {
                    if views.len() >= VIEWS_PER_THREAD {
                        views.remove(0);
                    }
                    views.push(View {
                        owner: self.id,
                        version,
                        value: Some(value),
                    });
                }
            }
        });
    }

    fn lock(&self) -> MutexGuard<'_, (u64, Arc<T>)> {
        self.current.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_every_write_that_returned_before_them() {
        let shared = Arc::new(ReadMostly::new(0u64));
        // Warm this thread's handle, then write from another thread.
        assert_eq!(shared.read(|v| *v), 0);
        let writer = shared.clone();
        std::thread::spawn(move || writer.update(|_| Some(7)))
            .join()
            .ok();
        assert_eq!(shared.read(|v| *v), 7);
        shared.update(|v| Some(v + 1));
        assert_eq!(shared.read(|v| *v), 8);
        // A change that declines leaves the value alone.
        shared.update(|_| None);
        assert_eq!(shared.read(|v| *v), 8);
    }

    #[test]
    fn concurrent_updates_lose_nothing_and_readers_never_go_back() {
        let shared = Arc::new(ReadMostly::new(0u64));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let mut last = 0;
                    for _ in 0..500 {
                        shared.update(|v| Some(v + 1));
                        let seen = shared.read(|v| *v);
                        assert!(seen >= last, "went back from {last} to {seen}");
                        last = seen;
                    }
                })
            })
            .collect();
        for thread in threads {
            assert!(thread.join().is_ok());
        }
        assert_eq!(shared.read(|v| *v), 2000);
    }

    #[test]
    fn nested_reads_and_many_instances_on_one_thread_work() {
        let outer = ReadMostly::new(String::from("outer"));
        let inner = ReadMostly::new(String::from("inner"));
        let both = outer.read(|o| {
            // The same instance again, while its handle is in use.
            let again = outer.read(|o2| o2.clone());
            format!("{o}/{again}/{}", inner.read(|i| i.clone()))
        });
        assert_eq!(both, "outer/outer/inner");
        let many: Vec<ReadMostly<usize>> = (0..3 * VIEWS_PER_THREAD).map(ReadMostly::new).collect();
        for _ in 0..2 {
            for (i, m) in many.iter().enumerate() {
                assert_eq!(m.read(|v| *v), i);
            }
        }
        let kept = VIEWS.with(|views| views.borrow().len());
        assert!(kept <= VIEWS_PER_THREAD, "{kept} handles kept");
    }
}
