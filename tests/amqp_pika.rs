//! The AMQP gateway against pika (the RabbitMQ Python client), through the real binary: `tests/amqp/pika_check.py`
//! publishes with confirms, consumes with acks, nacks with requeue, uses fanout and topic exchanges, then the server
//! is restarted (SIGTERM, new process on the same data directory) and the durable queue's messages are checked.
//! pika logs in as the admin (PLAIN, the test broker's known password); a user created through the SDK with `read`
//! only on the default stream reads a message but is refused (403) when it publishes or declares, and guest/guest or
//! a wrong password do not log in.
//! pika must be installed (`scripts/install-test-deps.sh` installs it); the test fails clearly when it is not.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use callboard_client::{Client, ClientConfig};
use callboard_protocol::model::{Access, Grants, Permission};
use callboard_protocol::wire::CreateUser;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/amqp/pika_check.py");

#[path = "common/serve.rs"]
mod serve;
use serve::Serve;

/// A user with `read` on the default stream only, made for the reader phase.
const READER: &str = "pika-reader";
const READER_PASSWORD: &str = "pika-reader-password";

/// Runs one phase of the script logged in as `user`.
fn run_check(phase: &str, addr: &str, (user, password): (&str, &str)) {
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    let mut child = Command::new("python3")
        .args([SCRIPT, phase, host, port])
        .env("CALLBOARD_USER", user)
        .env("CALLBOARD_PASSWORD", password)
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
    let admin = ("admin", serve::ADMIN_PASSWORD);
    let serve = Serve::start(dir.path(), &["amqp", "tcp"]);
    run_check("before", serve.addr("amqp"), admin);
    create_reader(serve.addr("tcp"));
    run_check("reader", serve.addr("amqp"), (READER, READER_PASSWORD));
    serve.stop();
    let serve = Serve::start(dir.path(), &["amqp"]);
    run_check("after", serve.addr("amqp"), admin);
    serve.stop();
}

/// Creates [`READER`] through the SDK as the admin.
fn create_reader(tcp: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let config = ClientConfig::tcp(tcp).with_password("admin", serve::ADMIN_PASSWORD);
        let client = Client::connect(config).await.expect("SDK login as the admin");
        let mut grants = Grants::default();
        grants.grant(&Access::Stream { stream: "default".into(), permission: Permission::Read });
        let request = CreateUser { name: READER.into(), password: READER_PASSWORD.into(), grants };
        client.call(&request).await.expect("create the reader");
    });
}
