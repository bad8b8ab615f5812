//! The AMQP gateway against pika (the RabbitMQ Python client), through the real binary: `tests/amqp/pika_check.py`
//! publishes with confirms, consumes with acks, nacks with requeue, uses fanout and topic exchanges, then the server
//! is restarted (SIGTERM, new process on the same data directory) and the durable queue's messages are checked.
//! pika must be installed (`scripts/install-test-deps.sh` installs it); the test fails clearly when it is not.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_callboard");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/amqp/pika_check.py");

struct Serve {
    child: Child,
    amqp: String,
}

impl Serve {
    fn start(dir: &Path) -> Serve {
        let mut child = Command::new(BIN)
            .args(["serve", "--amqp", "127.0.0.1:0", "--tcp", "off", "--quic", "off", "--http", "off"])
            .arg("--data-dir")
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn serve");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut amqp = String::new();
        loop {
            let line = lines.next().expect("serve printed ready").expect("read line");
            if line == "ready" {
                break;
            }
            if let Some(addr) = line.strip_prefix("listening amqp ") {
                amqp = addr.to_string();
            }
        }
        assert!(!amqp.is_empty(), "serve printed no 'listening amqp' line");
        Serve { child, amqp }
    }

    fn stop(mut self) {
        let ok = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().expect("kill");
        assert!(ok.success());
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                assert!(status.success(), "serve exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("serve did not stop within 20 s of SIGTERM");
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_check(phase: &str, addr: &str) {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let mut child = Command::new("python3")
        .args([SCRIPT, phase, host, port])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("pika_check.py {phase} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("pika-check {phase} ok")),
        "pika_check.py {phase} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn pika_publishes_consumes_and_finds_durable_messages_after_a_restart() {
    let probe = Command::new("python3").args(["-c", "import pika"]).output().expect("python3 is needed for this test");
    assert!(
        probe.status.success(),
        "the Python package pika is not installed; run scripts/install-test-deps.sh (or pip install pika)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let serve = Serve::start(dir.path());
    run_check("before", &serve.amqp);
    serve.stop();
    let serve = Serve::start(dir.path());
    run_check("after", &serve.amqp);
    serve.stop();
}
