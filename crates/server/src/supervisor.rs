//! The server's lifecycle: every long-running task runs under one [`Supervisor`], which stops
//! them in order and notices when one dies.
//!
//! Modelled on mini-redis: a watch channel says "stop" ([`Shutdown`]), every task selects on it
//! between steps, and the supervisor waits for all of them. A task that ends while the server
//! is not stopping has failed, whether it returned an error, returned at all or panicked: the
//! supervisor logs it with its name and reason and reports it from [`Supervisor::watch`], and
//! `fleetward serve` then stops everything and exits non-zero with that message. No task dies
//! silently.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// The stop signal every task listens to. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
    /// Keeps the sender of a [`Shutdown::never`] alive, so it never fires.
    _never: Option<std::sync::Arc<watch::Sender<bool>>>,
}

impl Shutdown {
    /// A signal that never fires, for tasks started outside a supervisor (tests, tools).
    pub fn never() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            rx,
            _never: Some(std::sync::Arc::new(tx)),
        }
    }

    /// Whether the stop was requested.
    pub fn is_stopping(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once the stop is requested (at once if it already was).
    pub async fn wait(&mut self) {
        // A dropped sender means the supervisor is gone: stop too.
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

/// A task that ended while the server was not stopping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// The task's name.
    pub task: &'static str,
    /// Why it ended: its error, "returned", or the panic message.
    pub reason: String,
}

impl std::fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} task stopped: {}", self.task, self.reason)
    }
}

type TaskResult = (&'static str, Result<(), String>);

/// Owns the server's tasks.
pub struct Supervisor {
    stop: watch::Sender<bool>,
    tasks: JoinSet<TaskResult>,
    names: std::collections::HashMap<tokio::task::Id, &'static str>,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new()
    }
}

impl Supervisor {
    /// A supervisor with no tasks.
    pub fn new() -> Supervisor {
        let (stop, _) = watch::channel(false);
        Supervisor {
            stop,
            tasks: JoinSet::new(),
            names: std::collections::HashMap::new(),
        }
    }

    /// The stop signal, for a task to select on.
    pub fn shutdown(&self) -> Shutdown {
        Shutdown {
            rx: self.stop.subscribe(),
            _never: None,
        }
    }

    /// Runs `task` under the supervisor. It should return when its [`Shutdown`] fires, after
    /// finishing the step it is in; returning earlier, with `Ok` or `Err`, is a failure.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let handle = self.tasks.spawn(async move { (name, task.await) });
        self.names.insert(handle.id(), name);
    }

    /// Waits for the first task to end before a stop was requested, and returns why. Never
    /// returns while every task is healthy (nor when there are none).
    pub async fn watch(&mut self) -> TaskFailure {
        loop {
            match self.tasks.join_next_with_id().await {
                None => std::future::pending::<()>().await,
                Some(joined) => {
                    let failure = self.failure(joined);
                    tracing::error!(task = failure.task, reason = %failure.reason, "a server task stopped");
                    return failure;
                }
            }
        }
    }

    /// Requests the stop and waits up to `grace` for every task to finish its step and return.
    /// Returns the tasks that failed on the way (an error while stopping) or did not finish in
    /// time (aborted).
    pub async fn stop(mut self, grace: Duration) -> Vec<TaskFailure> {
        let _ = self.stop.send(true);
        let mut failures = Vec::new();
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(None) => break,
                Ok(Some(Ok((_, (_, Ok(())))))) => {}
                Ok(Some(joined)) => failures.push(self.failure(joined)),
                Err(_) => {
                    let left = self.tasks.len();
                    tracing::error!(tasks = left, "tasks did not stop within the grace period");
                    failures.push(TaskFailure {
                        task: "supervisor",
                        reason: format!("{left} task(s) did not stop within {grace:?}; aborted"),
                    });
                    self.tasks.abort_all();
                    while self.tasks.join_next().await.is_some() {}
                    break;
                }
            }
        }
        failures
    }
}

impl Supervisor {
    fn failure(
        &mut self,
        joined: Result<(tokio::task::Id, TaskResult), tokio::task::JoinError>,
    ) -> TaskFailure {
        match joined {
            Ok((id, (task, result))) => {
                self.names.remove(&id);
                TaskFailure {
                    task,
                    reason: match result {
                        Ok(()) => "it returned while the server was running".to_owned(),
                        Err(e) => e,
                    },
                }
            }
            Err(e) => {
                let task = self.names.remove(&e.id()).unwrap_or("unnamed");
                let reason = if e.is_panic() {
                    let p = e.into_panic();
                    p.downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| p.downcast_ref::<String>().cloned())
                        .map_or_else(|| "panicked".to_owned(), |m| format!("panicked: {m}"))
                } else {
                    "cancelled".to_owned()
                };
                TaskFailure { task, reason }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stop_waits_for_every_task_to_finish_its_step() {
        let mut sup = Supervisor::new();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for _ in 0..3 {
            let mut stop = sup.shutdown();
            let done = done.clone();
            sup.spawn("worker", async move {
                stop.wait().await;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            });
        }
        assert!(sup.stop(Duration::from_secs(5)).await.is_empty());
        assert_eq!(done.load(std::sync::atomic::Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_task_that_ends_early_is_reported_with_its_reason() {
        let mut sup = Supervisor::new();
        let mut stop = sup.shutdown();
        sup.spawn("healthy", async move {
            stop.wait().await;
            Ok(())
        });
        sup.spawn("broken", async { Err("disk full".to_owned()) });
        let f = sup.watch().await;
        assert_eq!(f.task, "broken");
        assert_eq!(f.to_string(), "the broken task stopped: disk full");
        assert!(sup.stop(Duration::from_secs(5)).await.is_empty());
    }

    #[tokio::test]
    async fn a_panicking_task_is_named() {
        let mut sup = Supervisor::new();
        sup.spawn("fragile", async { panic!("boom") });
        let f = sup.watch().await;
        assert_eq!((f.task, f.reason.as_str()), ("fragile", "panicked: boom"));
    }

    #[tokio::test]
    async fn a_task_that_ignores_the_stop_is_aborted_and_named() {
        let mut sup = Supervisor::new();
        sup.spawn("stuck", std::future::pending());
        let failures = sup.stop(Duration::from_millis(50)).await;
        assert_eq!(failures.len(), 1);
        assert!(failures[0].reason.contains("did not stop"), "{failures:?}");
    }
}
