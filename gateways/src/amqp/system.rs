//! [`ActorThread`]: the actix system the AMQP gateway's queue actors run in, on a thread of its own (actix actors
//! cannot start from plain tokio tasks); tokio code talks to them through their `Addr`s.

use std::thread::JoinHandle;

use actix::{ArbiterHandle, System};

/// A running actix system with one arbiter.
#[derive(Debug)]
pub struct ActorThread {
    system: System,
    arbiter: ArbiterHandle,
    thread: Option<JoinHandle<()>>,
}

impl ActorThread {
    /// Starts the thread.
    pub fn start() -> std::io::Result<ActorThread> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new().name("amqp-actors".into()).spawn(move || {
            let system = System::new();
            let _ = tx.send((System::current(), actix::Arbiter::current()));
            if let Err(e) = system.run() {
                tracing::error!(error = %e, "AMQP actor system failed");
            }
        })?;
        let (system, arbiter) =
            rx.recv().map_err(|_| std::io::Error::other("the AMQP actor thread stopped while starting"))?;
        Ok(ActorThread { system, arbiter, thread: Some(thread) })
    }

    /// Where queue actors are started.
    pub fn arbiter(&self) -> &ArbiterHandle {
        &self.arbiter
    }

    /// Stops the system and waits for its thread.
    pub fn stop(&mut self) {
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for ActorThread {
    fn drop(&mut self) {
        self.system.stop();
    }
}
