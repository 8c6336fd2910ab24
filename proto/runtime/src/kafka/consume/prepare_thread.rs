//! The thread a reading-ahead loop prepares its batches on
//! ([`super::BatchHandler::prepare`]): one per loop, for as long as the
//! loop runs, instead of whichever thread of tokio's blocking pool is free.
//! A batch's rows are made on this thread and freed on the loop's once
//! inserted; mimalloc gives such blocks back to the thread that made them,
//! and only that thread reuses them when it next allocates. Spread over the
//! pool's threads, each kept a batch's worth of freed memory while it idled
//! (the sink at 10,000-row batches: 30-50 MB more resident,
//! `benches/README.md`, sink memory); one thread reuses it for the next
//! batch.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::mpsc;

type Job = Box<dyn FnOnce() + Send>;

/// Runs jobs one after the other on its own thread, which ends when this is dropped.
pub(super) struct PrepareThread {
    jobs: mpsc::Sender<Job>,
}

impl PrepareThread {
    /// Starts the thread, named after the loop's topic.
    pub(super) fn spawn(topic: &str) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("prepare {topic}"))
            .spawn(move || {
                for job in queue {
                    job();
                }
            })?;
        Ok(Self { jobs })
    }

    /// What `work` returns, computed on the thread; `None` if the thread
    /// is gone. A panic in `work` resumes here.
    pub(super) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The loop may have stopped waiting (shutdown): nobody to tell.
            let _ = done.send(catch_unwind(AssertUnwindSafe(work)));
        });
        self.jobs.send(job).ok()?;
        match result.await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(panic)) => resume_unwind(panic),
            Err(_gone) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PrepareThread;

    #[tokio::test]
    async fn jobs_run_on_the_same_thread_and_panics_come_back() {
        let thread = PrepareThread::spawn("t").unwrap();
        let first = thread.run(|| std::thread::current().id()).await;
        let second = thread.run(|| std::thread::current().id()).await;
        assert_eq!(first, second);
        assert_ne!(first, Some(std::thread::current().id()));
        let panicked = tokio::spawn(async move { thread.run(|| panic!("boom")).await }).await;
        assert!(panicked.unwrap_err().is_panic());
    }
}
