//! A `callboard serve` process for the end-to-end tests: started with the listeners a test asks for on 127.0.0.1:0
//! (the others `off`), its `listening NAME ADDR` lines read until `ready`; stopped with SIGTERM (a clean exit is
//! checked) or killed when dropped. Each test file uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_callboard");
/// The `admin` password every test broker is started with (`CALLBOARD_ADMIN_PASSWORD`).
pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// The `Authorization` header value of the admin for HTTP (Basic).
pub fn admin_basic_auth() -> String {
    use base64::Engine;
    let pair = format!("admin:{ADMIN_PASSWORD}");
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

/// A running `callboard serve`.
pub struct Serve {
    child: Child,
    listeners: Vec<(String, String)>,
}

impl Serve {
    /// Starts `callboard serve --data-dir DIR` with each listener named in `on` (`tcp`, `quic`, `http`, `amqp`) on
    /// port 0 of 127.0.0.1 and the others off; returns once it printed `ready`.
    pub fn start(dir: &Path, on: &[&str]) -> Serve {
        Self::start_with(dir, on, &[])
    }

    /// [`Serve::start`] with more `serve` flags.
    pub fn start_with(dir: &Path, on: &[&str], flags: &[&str]) -> Serve {
        let mut command = Command::new(BIN);
        command.arg("serve").arg("--data-dir").arg(dir).args(flags);
        for name in ["tcp", "quic", "http", "amqp"] {
            command.arg(format!("--{name}")).arg(if on.contains(&name) { "127.0.0.1:0" } else { "off" });
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .env("CALLBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut listeners = Vec::new();
        loop {
            let line = lines.next().expect("serve printed ready").expect("read line");
            match line.split(' ').collect::<Vec<_>>().as_slice() {
                ["ready"] => break,
                ["listening", name, addr] => listeners.push((name.to_string(), addr.to_string())),
                other => panic!("unexpected line {other:?}"),
            }
        }
        let serve = Serve { child, listeners };
        for name in on {
            serve.addr(name);
        }
        serve
    }

    /// A CLI command (`callboard ARGS…`) logged in as the admin.
    pub fn cli(&self) -> Command {
        let mut command = Command::new(BIN);
        command.env("CALLBOARD_USER", "admin").env("CALLBOARD_PASSWORD", ADMIN_PASSWORD);
        command
    }

    /// An SDK configuration for the TCP listener, logged in as the admin.
    pub fn tcp_config(&self) -> callboard_client::ClientConfig {
        callboard_client::ClientConfig::tcp(self.addr("tcp")).with_password("admin", ADMIN_PASSWORD)
    }

    /// The address a listener printed.
    pub fn addr(&self, name: &str) -> &str {
        let found = self.listeners.iter().find(|(n, _)| n == name);
        &found.unwrap_or_else(|| panic!("serve printed no `listening {name}` line")).1
    }

    /// The process id (to send it signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits (at most 20 s) for a clean exit.
    pub fn stop(mut self) {
        terminate(&mut self.child);
        let status = wait_timeout(&mut self.child, Duration::from_secs(20)).expect("serve exits after SIGTERM");
        assert!(status.success(), "serve exited with {status}");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGTERM to a child process.
pub fn terminate(child: &mut Child) {
    let ok = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill");
    assert!(ok.success());
}

/// Waits at most `limit` for a child to exit.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}
