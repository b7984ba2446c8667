//! Work nobody waits for: when a client goes away, its request's work stops.
//!
//! hyper drops a request's handler future when its client disconnects (an
//! HTTP/1 connection that reaches end of file while a request on it is being
//! answered), and with it everything the handler awaits: execution, resolvers,
//! the upstream calls they make inline. What it cannot drop is work the request
//! *spawned*: the DataLoader runs each batch on a task of its own, and that task
//! made the upstream call and went on to its end, holding a bulkhead permit,
//! whether anyone still waited for it or not (the audit of December 2026,
//! finding 18).
//!
//! [`RequestTasks`] is a spawner for one request's DataLoader: it remembers
//! every task it spawned and aborts those still running when it is dropped,
//! which happens when the request ends, answered or abandoned. Aborting a task
//! drops the upstream call it awaits, which closes that call's connection.
//!
//! A call shared with other requests (single-flight coalescing, in
//! `crate::upstream::coalesce`) runs on a task of the upstream layer's own: a
//! request that leaves only stops waiting for it, and it goes on for the others.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use tokio::task::AbortHandle;

/// The tasks one request spawned; aborted when it is dropped.
#[derive(Default)]
pub struct RequestTasks {
    tasks: Arc<Mutex<Tasks>>,
}

#[derive(Default)]
struct Tasks {
    running: Vec<AbortHandle>,
    /// Set once the request ended: nothing more is spawned for it.
    closed: bool,
}

impl RequestTasks {
    /// A spawner for the request's DataLoader (`DataLoader::with_cache`): it spawns
    /// on the runtime and remembers the task, so that it ends with the request.
    pub fn spawner(&self) -> impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static {
        let tasks = self.tasks.clone();
        move |future| {
            let mut tasks = tasks.lock().unwrap_or_else(PoisonError::into_inner);
            if tasks.closed {
                // The request is gone: nobody waits for this work.
                return;
            }
            tasks.running.retain(|task| !task.is_finished());
            tasks.running.push(tokio::spawn(future).abort_handle());
        }
    }

    /// How many of the request's tasks have not finished.
    #[cfg(test)]
    fn running(&self) -> usize {
        let tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.running.iter().filter(|task| !task.is_finished()).count()
    }
}

impl Drop for RequestTasks {
    fn drop(&mut self) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.closed = true;
        for task in tasks.running.drain(..) {
            task.abort();
        }
    }
}

/// Logs, when dropped before [`Abandoned::answered`], that the client went away
/// before its answer was ready (its work was cancelled).
pub struct Abandoned {
    operation: String,
    started: std::time::Instant,
    answered: bool,
}

impl Abandoned {
    /// Watches the request of `operation` (its metric label).
    pub fn new(operation: &str) -> Self {
        Self {
            operation: operation.to_owned(),
            started: std::time::Instant::now(),
            answered: false,
        }
    }

    /// The answer is ready: nothing to report.
    pub fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for Abandoned {
    fn drop(&mut self) {
        if !self.answered {
            tracing::info!(
                operation = %self.operation,
                after_ms = self.started.elapsed().as_millis() as u64,
                "the client went away before its answer: its execution and upstream calls were cancelled"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn the_tasks_of_a_request_end_with_it() {
        let tasks = RequestTasks::default();
        let spawn = tasks.spawner();
        let (dropped, mut was_dropped) = tokio::sync::oneshot::channel::<()>();
        // A task that would run for an hour; `dropped` goes when it is cancelled.
        spawn(Box::pin(async move {
            let _guard = dropped;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }));
        spawn(Box::pin(async {}));
        tokio::task::yield_now().await;
        assert!(was_dropped.try_recv().is_err(), "still running");
        drop(tasks);
        assert!(was_dropped.await.is_err(), "the task was aborted, its future dropped");

        // Spawned after the request ended: never runs.
        let (ran, did_run) = tokio::sync::oneshot::channel::<()>();
        spawn(Box::pin(async move {
            let _ = ran.send(());
        }));
        assert!(did_run.await.is_err());
    }

    #[tokio::test]
    async fn finished_tasks_are_forgotten() {
        let tasks = RequestTasks::default();
        let spawn = tasks.spawner();
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        spawn(Box::pin(async move {
            let _ = done.send(());
        }));
        finished.await.unwrap();
        // The task sent, then ended: wait for it to be counted as finished.
        while tasks.running() > 0 {
            tokio::task::yield_now().await;
        }
        spawn(Box::pin(std::future::pending()));
        assert_eq!(tasks.running(), 1);
        assert_eq!(
            tasks.tasks.lock().unwrap().running.len(),
            1,
            "the finished one was dropped"
        );
    }
}
