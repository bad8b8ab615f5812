//! End-to-end tests of the `callboard` binary on 127.0.0.1: serve, create topics, send lines from stdin, consume
//! them back in order, restart the server and consume again, split a 4-partition topic between two group
//! consumers, and the errors people see (unknown topic, server unreachable, bad arguments).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[path = "common/serve.rs"]
mod serve;
use serve::{BIN, Serve, terminate, wait_timeout};

/// A running `callboard serve` with TCP and QUIC listeners, killed on drop.
struct Server {
    serve: Serve,
    tcp: String,
    quic: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        let serve = Serve::start(dir, &["tcp", "quic"]);
        let (tcp, quic) = (serve.addr("tcp").to_string(), serve.addr("quic").to_string());
        Server { serve, tcp, quic }
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(self) {
        self.serve.stop();
    }
}

fn cli(server: &Server, args: &[&str]) -> Output {
    server.serve.cli().args(args).args(["--server", &server.tcp]).env("RUST_LOG", "warn").output().expect("run cli")
}

fn ok(server: &Server, args: &[&str]) -> String {
    let out = cli(server, args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

fn send_stdin(server: &Server, args: &[&str], input: &[u8]) -> Output {
    let mut child = server
        .serve
        .cli()
        .arg("send")
        .args(args)
        .args(["--server", &server.tcp])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn send");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("send output");
    writer.join().expect("writer").expect("write stdin");
    out
}

fn lines_input(n: usize) -> (Vec<String>, Vec<u8>) {
    let lines: Vec<String> = (0..n)
        .map(|i| match i % 7 {
            0 => String::new(),
            3 => format!("línea {i} ✓ with spaces"),
            _ => format!("line {i}"),
        })
        .collect();
    let mut input = lines.join("\n").into_bytes();
    input.push(b'\n');
    (lines, input)
}

#[test]
fn send_consume_restart_and_group_split() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    ok(&server, &["topic", "create", "lines", "--partitions", "1"]);

    let (lines, input) = lines_input(10_000);
    let out = send_stdin(&server, &["lines"], &input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "send failed: {stderr}");
    assert!(stderr.contains("sent 10000"), "{stderr}");

    let consumed = ok(&server, &["consume", "lines"]);
    let got: Vec<&str> = consumed.split('\n').collect();
    assert_eq!(got.len(), 10_001, "10 000 lines and the final newline");
    assert_eq!(&got[..10_000], lines.iter().map(String::as_str).collect::<Vec<_>>().as_slice());

    // JSON output carries partition and offset.
    let json = ok(&server, &["consume", "lines", "--count", "2", "--format", "json", "--from", "offset:3"]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["offset"], 3);
    assert_eq!(first["payload"], lines[3].as_str());

    // Restart: everything is still there.
    server.stop();
    let server = Server::start(dir.path());
    let again = ok(&server, &["consume", "lines"]);
    assert_eq!(again, consumed);
    let described = ok(&server, &["topic", "describe", "lines", "--output", "json"]);
    let described: serde_json::Value = serde_json::from_str(&described).unwrap();
    assert_eq!(described["partitions"][0]["log_end"], 10_000);

    // Two group members split a 4-partition topic.
    ok(&server, &["topic", "create", "quad", "--partitions", "4"]);
    let spawn_member = || {
        server
            .serve
            .cli()
            .args(["consume", "quad", "--group", "g", "--follow", "--format", "json", "--server", &server.tcp])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn consumer")
    };
    let mut a = spawn_member();
    let mut b = spawn_member();
    // Drain their output as it comes, or a full pipe would stall them.
    let drain = |child: &mut Child| {
        let mut stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut text = String::new();
            stdout.read_to_string(&mut text).unwrap();
            text
        })
    };
    let readers = [drain(&mut a), drain(&mut b)];
    // Wait until both members hold two partitions each.
    let start = Instant::now();
    loop {
        // The group exists once the first member has joined.
        let out = cli(&server, &["group", "describe", "g", "--output", "json"]);
        let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let members = d["state"]["members"].as_array().cloned().unwrap_or_default();
        if members.len() == 2 && members.iter().all(|m| m["assignment"].as_array().map_or(0, Vec::len) == 2) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "group never settled: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // 250 lines to each partition.
    let (quad_lines, _) = lines_input(1000);
    for (p, chunk) in quad_lines.chunks(250).enumerate() {
        let mut input = chunk.join("\n").into_bytes();
        input.push(b'\n');
        let out = send_stdin(&server, &["quad", "--partition", &p.to_string()], &input);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // Wait for the group to commit everything, then stop both members.
    let start = Instant::now();
    loop {
        let d = ok(&server, &["group", "describe", "g", "--output", "json"]);
        let d: serde_json::Value = serde_json::from_str(&d).unwrap();
        let lag: u64 = d["partitions"].as_array().unwrap().iter().map(|p| p["lag"].as_u64().unwrap()).sum();
        if lag == 0 && d["partitions"].as_array().unwrap().len() == 4 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "group never caught up: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
    for child in [&mut a, &mut b] {
        terminate(child);
        assert!(wait_timeout(child, Duration::from_secs(20)).expect("consumer exits").success());
    }
    let outputs: Vec<String> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let mut all = Vec::new();
    let mut partitions_of = Vec::new();
    for text in &outputs {
        let mut parts = BTreeSet::new();
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            parts.insert(v["partition"].as_u64().unwrap());
            all.push(v["payload"].as_str().unwrap().to_string());
        }
        assert!(!parts.is_empty(), "each member consumed something");
        partitions_of.push(parts);
    }
    assert!(partitions_of[0].is_disjoint(&partitions_of[1]), "{partitions_of:?}");
    let mut expected = quad_lines.clone();
    expected.sort();
    all.sort();
    assert_eq!(all, expected, "every message exactly once across the two members");
    server.stop();
}

#[test]
fn errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let out = cli(&server, &["consume", "nope"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nope") && err.contains("not found"), "{err}");

    let out = cli(&server, &["send", "nope", "--message", "x"]);
    assert!(!out.status.success());

    let out = cli(&server, &["topic", "create", "bad", "--durability", "sometimes"]);
    assert_eq!(out.status.code(), Some(2), "clap rejects bad arguments");

    let out = Command::new(BIN).args(["status", "--server", "127.0.0.1:1"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("could not connect to 127.0.0.1:1"), "{err}");

    // QUIC with the generated certificate works for admin commands.
    let ca = dir.path().join("tls").join("quic-cert.pem");
    let out = server
        .serve
        .cli()
        .args(["topic", "create", "viaquic", "--quic", &server.quic])
        .arg("--ca")
        .arg(&ca)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed = ok(&server, &["topic", "list", "--output", "json"]);
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert!(listed.as_array().unwrap().iter().any(|t| t["name"] == "viaquic"));
    server.stop();
}

/// Runs an example through `cargo run` (built when needed) with the server's address.
fn example(name: &str, server: &Server) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--example", name, "--", &server.tcp])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn")
        .env("CALLBOARD_USER", "admin")
        .env("CALLBOARD_PASSWORD", serve::ADMIN_PASSWORD)
        .output()
        .expect("run cargo");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{name}: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[test]
fn sdk_examples_run_against_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let produced = example("producer", &server);
    assert!(produced.contains("1000 of 1000 messages acknowledged"), "{produced}");
    let consumed = example("consumer", &server);
    assert_eq!(consumed.lines().filter(|l| l.contains("message ")).count(), 1000, "{consumed}");
    // The group committed: a second run reads nothing new.
    let again = example("consumer", &server);
    assert_eq!(again.lines().filter(|l| l.contains("message ")).count(), 0, "{again}");
    server.stop();
}

#[test]
fn bench_scenarios_run_and_report() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let small = ["--message-size", "100", "--messages-per-batch", "10", "--batches", "20", "--warmup", "0s"];
    for (scenario, extra) in [
        ("pinned-producer", vec!["--streams", "2"]),
        ("pinned-consumer", vec!["--streams", "2"]),
        ("pinned-producer-and-consumer", vec!["--partitions", "2", "--in-flight", "2"]),
        ("balanced-consumer-group", vec!["--partitions", "4", "--consumers", "2"]),
        ("end-to-end", vec!["--producers", "1", "--streams", "1", "--rate", "2000", "--in-flight", "4"]),
    ] {
        let mut args = vec!["bench", scenario, "--output", "json"];
        args.extend(small);
        args.extend(extra);
        let out = ok(&server, &args);
        let v: serde_json::Value =
            serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{scenario}: {e}: {out}"));
        assert_eq!(v["scenario"], scenario);
        for field in ["mb_per_s", "msg_per_s", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms"] {
            assert!(v[field].as_f64().is_some_and(|x| x >= 0.0), "{scenario}: {field} in {v}");
        }
        assert!(v["mb_per_s"].as_f64().unwrap() > 0.0, "{scenario}: {v}");
        // Two producers send exactly 20 batches of 10 each.
        if let Some(p) = v.get("producers") {
            assert_eq!(p["messages"], 2 * 20 * 10, "{scenario}: {v}");
        }
        if scenario == "end-to-end" {
            assert_eq!(v["consumers"]["messages"], 20 * 10, "{v}");
        }
    }
    // More consumers than producers: every consumer's stream has a producer, and the run ends by itself.
    let out = ok(
        &server,
        &["bench", "pinned-producer-and-consumer", "--producers", "1", "--consumers", "2"]
            .into_iter()
            .chain(small)
            .chain(["--output", "json"])
            .collect::<Vec<_>>(),
    );
    assert!(out.contains("pinned-producer-and-consumer"), "{out}");
    // A second group run reads the data again (a new group each run).
    let again = ok(
        &server,
        &["bench", "balanced-consumer-group", "--partitions", "4", "--consumers", "2", "--output", "json"]
            .into_iter()
            .chain(small)
            .collect::<Vec<_>>(),
    );
    let again: serde_json::Value = serde_json::from_str(again.trim()).unwrap();
    assert!(again["msg_per_s"].as_f64().unwrap() > 0.0, "{again}");
    // --cleanup removes the streams the tool made.
    ok(&server, &["bench", "pinned-producer", "--batches", "2", "--warmup", "0s", "--cleanup"]);
    let streams = ok(&server, &["stream", "list", "--output", "json"]);
    assert!(!streams.contains("bench-0"), "{streams}");
    server.stop();
}

#[test]
fn counted_and_resumed_consumers_print_every_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    ok(&server, &["topic", "create", "two", "--partitions", "2"]);
    for p in 0..2 {
        let input: String = (0..10).map(|i| format!("p{p}-{i}\n")).collect();
        let out = send_stdin(&server, &["two", "--partition", &p.to_string()], input.as_bytes());
        assert!(out.status.success());
    }
    let all: BTreeSet<String> = (0..2).flat_map(|p| (0..10).map(move |i| format!("p{p}-{i}"))).collect();
    for who in [["--consumer", "c1"], ["--group", "g1"]] {
        // Three bounded runs, then one to the end: together they print each message exactly once.
        let mut seen = Vec::new();
        for count in [Some("3"), Some("12"), Some("1"), None] {
            let mut args = vec!["consume", "two", who[0], who[1]];
            if let Some(c) = count {
                args.extend(["--count", c]);
            }
            let out = ok(&server, &args);
            let lines: Vec<String> = out.lines().map(String::from).collect();
            if let Some(c) = count {
                assert_eq!(lines.len(), c.parse::<usize>().unwrap(), "{who:?} --count {c}: {lines:?}");
            }
            seen.extend(lines);
        }
        assert_eq!(seen.len(), 20, "{who:?}: {seen:?}");
        assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), all, "{who:?}");
    }
    // `--from last` stops, and --from does not combine with --group.
    assert_eq!(ok(&server, &["consume", "two", "--partition", "1", "--from", "last"]).trim(), "p1-9");
    let out = cli(&server, &["consume", "two", "--group", "g2", "--from", "first"]);
    assert!(!out.status.success());
    let out = cli(&server, &["consume", "two", "--partition", "7"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no partition 7"));
    server.stop();
}

#[test]
fn client_commands_are_quiet_unless_asked() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let run = |extra: &[&str]| {
        server
            .serve
            .cli()
            .args(["topic", "list"])
            .args(extra)
            .args(["--server", &server.tcp])
            .env_remove("RUST_LOG")
            .output()
            .expect("run cli")
    };
    let quiet = run(&[]);
    assert!(quiet.status.success());
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert!(!stderr.contains("INFO"), "a client command logged at info without -v: {stderr}");
    let verbose = run(&["-v"]);
    assert!(verbose.status.success());
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    assert!(stderr.contains("INFO"), "-v shows info logs: {stderr}");
    server.stop();
}

#[test]
fn serve_budget_flags_are_range_checked_and_applied() {
    let dir = tempfile::tempdir().unwrap();
    for (flags, expected) in [
        (&["--max-session-bytes", "10"][..], "max_session_bytes 10 is outside"),
        (&["--max-session-bytes", "1048576", "--max-shared-bytes", "65536"][..], "shared byte budget"),
        (&["--max-partitions", "0"][..], "max_partitions 0 is outside"),
    ] {
        let out = Command::new(BIN)
            .args(["serve", "--tcp", "off", "--quic", "off", "--http", "off", "--amqp", "off", "--data-dir"])
            .arg(dir.path().join("refused"))
            .args(flags)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flags:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{flags:?}: {err}");
    }

    let serve = Serve::start_with(
        &dir.path().join("data"),
        &["tcp", "quic"],
        &["--max-partitions", "3", "--max-session-bytes", "1048576", "--max-shared-bytes", "4194304"],
    );
    let server = Server { tcp: serve.addr("tcp").to_string(), quic: serve.addr("quic").to_string(), serve };
    ok(&server, &["topic", "create", "two", "--partitions", "2"]);
    let out = cli(&server, &["topic", "create", "two-more", "--partitions", "2"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("resource limit") && err.contains("partitions"), "{err}");
    // Sessions still work under the small byte budgets.
    ok(&server, &["send", "two", "--message", "fits"]);
    server.stop();
}
