//! Runs the `embedded` example (through `cargo run`, which builds it when needed) on a fresh data directory and
//! checks that it exits successfully and reports that the topic, the messages and the consumer's offsets survived
//! the restart. The example checks its own invariants (each message consumed exactly once over both runs) and fails
//! with a non-zero exit code when one does not hold.

use std::process::Command;

#[test]
fn embedded_example_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--example", "embedded", "--"])
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit status {}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    for line in [
        format!("data directory: {}", dir.path().display()),
        "created topic default/orders with 3 partitions".to_string(),
        "produced 8 messages".to_string(),
        "consumer billing read 6 messages before the restart".to_string(),
        "broker restarted on the same directory".to_string(),
        "topic default/orders persisted: 3 partitions".to_string(),
        "consumer billing resumed from its stored offsets and read 2 messages after the restart".to_string(),
        "consumer billing read 8 of 8 messages, each exactly once".to_string(),
        "broker stopped; done".to_string(),
    ] {
        assert!(stdout.contains(&line), "missing {line:?} in stdout:\n{stdout}\nstderr:\n{stderr}");
    }
    // The data stayed where the example was told to put it.
    assert!(dir.path().join("metadata.json").exists(), "no metadata.json in {}", dir.path().display());
}
