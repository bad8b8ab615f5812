//! The actix system behind an embedded broker: its own thread running the system arbiter (metadata and topic
//! actors), plus one worker arbiter per core for partition actors. Any async runtime can talk to the actors through
//! their addresses.

use std::io;
use std::sync::mpsc;
use std::thread::JoinHandle;

use actix::{Arbiter, ArbiterHandle, System};

/// Running actor threads.
pub(crate) struct ActorThreads {
    system: System,
    control: ArbiterHandle,
    workers: Vec<ArbiterHandle>,
    thread: Option<JoinHandle<()>>,
}

impl ActorThreads {
    /// Starts the system thread and `workers` worker arbiters.
    pub(crate) fn start(workers: usize) -> io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new().name("callboard-actors".into()).spawn(move || {
            let runner = System::new();
            let system = System::current();
            let arbiters: Vec<Arbiter> = (0..workers.max(1)).map(|_| Arbiter::new()).collect();
            let handles = arbiters.iter().map(Arbiter::handle).collect::<Vec<_>>();
            let _ = tx.send((system.clone(), system.arbiter().clone(), handles));
            if let Err(e) = runner.run() {
                tracing::error!(error = %e, "the actor system stopped with an error");
            }
            // Join every worker so all partition logs are closed before the data directory's lock is released.
            for arbiter in arbiters {
                arbiter.stop();
                let _ = arbiter.join();
            }
        })?;
        let (system, control, workers) = rx.recv().map_err(|_| io::Error::other("the actor system failed to start"))?;
        Ok(ActorThreads { system, control, workers, thread: Some(thread) })
    }

    /// The arbiter of the metadata and topic actors.
    pub(crate) fn control(&self) -> &ArbiterHandle {
        &self.control
    }

    /// The worker arbiters, for partition actors.
    pub(crate) fn workers(&self) -> Vec<ArbiterHandle> {
        self.workers.clone()
    }

    /// Stops the system and waits for its thread.
    pub(crate) fn stop(&mut self) {
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ActorThreads {
    /// A broker dropped without `shutdown` still stops its threads before the data directory's lock is released, so
    /// no partition log is open when another broker takes the directory.
    fn drop(&mut self) {
        self.stop();
    }
}
