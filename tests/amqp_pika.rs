//! The AMQP gateway against pika (the RabbitMQ Python client), through the real binary: `tests/amqp/pika_check.py`
//! publishes with confirms, consumes with acks, nacks with requeue, uses fanout and topic exchanges, then the server
//! is restarted (SIGTERM, new process on the same data directory) and the durable queue's messages are checked.
//! pika must be installed (`scripts/install-test-deps.sh` installs it); the test fails clearly when it is not.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/amqp/pika_check.py");

#[path = "common/serve.rs"]
mod serve;
use serve::Serve;

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
    let serve = Serve::start(dir.path(), &["amqp"]);
    run_check("before", serve.addr("amqp"));
    serve.stop();
    let serve = Serve::start(dir.path(), &["amqp"]);
    run_check("after", serve.addr("amqp"));
    serve.stop();
}
