//! The firing loop: a tokio task that runs [`Scheduler`] steps on the blocking pool and sleeps
//! until the wheel's next deadline (at most the poll interval, so new schedules are noticed).

use super::runner::Scheduler;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// After a store error, wait this long before reloading.
const ERROR_BACKOFF: Duration = Duration::from_secs(1);

/// Controls a running scheduler task.
pub struct SchedulerHandle {
    wake: Arc<Notify>,
    stop: Arc<Notify>,
    task: JoinHandle<()>,
}

impl SchedulerHandle {
    /// Looks at the store now instead of at the next deadline or poll (after creating a
    /// schedule due very soon, or after moving a test clock).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Stops after the step in progress; sends in flight finish first.
    pub async fn shutdown(self) {
        self.stop.notify_one();
        if let Err(e) = self.task.await {
            log::error!("scheduler task ended badly: {e}");
        }
    }
}

/// Starts the loop. `poll` bounds every sleep (new schedules are seen within it).
pub(super) fn spawn(scheduler: Scheduler, poll: Duration) -> SchedulerHandle {
    let wake = Arc::new(Notify::new());
    let stop = Arc::new(Notify::new());
    let task = tokio::spawn(run(scheduler, poll, wake.clone(), stop.clone()));
    SchedulerHandle { wake, stop, task }
}

async fn run(scheduler: Scheduler, poll: Duration, wake: Arc<Notify>, stop: Arc<Notify>) {
    let mut scheduler = Some(scheduler);
    loop {
        let Some(mut current) = scheduler.take() else {
            return;
        };
        let step = tokio::task::spawn_blocking(move || {
            let result = current.tick();
            (current, result)
        });
        let wait = match step.await {
            Ok((current, result)) => {
                let wait = match result {
                    Ok(report) => {
                        if report != Default::default() {
                            log::debug!("scheduler: {report:?}");
                        }
                        current
                            .next_wake_ms()
                            .map(|at| {
                                let ms = at.saturating_sub(current.now_ms());
                                Duration::from_millis(u64::try_from(ms).unwrap_or(0))
                            })
                            .map_or(poll, |d| d.min(poll))
                    }
                    Err(e) => {
                        log::error!("{e}; reloading in {ERROR_BACKOFF:?}");
                        ERROR_BACKOFF
                    }
                };
                scheduler = Some(current);
                wait
            }
            Err(e) => {
                // A panic inside a step: the scheduler's state is gone; nothing is lost in
                // redb, but without the state we cannot continue safely in this process.
                log::error!("scheduler stopped: {e}");
                return;
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
            _ = stop.notified() => break,
        }
    }
    if let Some(current) = scheduler {
        let flushed = tokio::task::spawn_blocking(move || current.persist()).await;
        if !matches!(flushed, Ok(Ok(()))) {
            log::warn!("scheduler: final flush failed; outcomes will be reconciled at start");
        }
    }
}
