//! The web console in a real headless browser: starts `callboard serve` with its HTTP listener, then Chromium through
//! chromedriver (W3C WebDriver), and drives the console as an operator would: sees only the sign-in page until it
//! signs in (a wrong password is refused there), creates a topic from the form, sees it
//! listed, opens it, produces messages from the form, reads them back in the message browser (text, JSON and hex
//! views), consumes with the CLI as a group and watches the group's lag on the groups pages change, checks the
//! overview's live figures, shows an API error in the banner, manages users on the Users page (create, grant,
//! disable), signs out (its token is revoked) and in as a read-only user who sees only what was granted, is sent back
//! to the sign-in page when its token is revoked, and the "server went away" banner.
//!
//! Chromium and chromedriver are required (`scripts/install-test-deps.sh` installs them): the test fails, it does not
//! skip, when they are missing. `CALLBOARD_CHROMIUM` and `CALLBOARD_CHROMEDRIVER` override their paths. With
//! `CALLBOARD_SCREENSHOT=path.png` it also saves a 1280×800 screenshot of the overview with live traffic.
//!
//! The browser is driven with a small synchronous WebDriver client over `ureq` (see `WebDriver` below).

#![allow(clippy::print_stderr)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

#[path = "common/browser.rs"]
mod browser;
use browser::*;

const BIN: &str = env!("CARGO_BIN_EXE_callboard");
/// The `admin` password the test broker starts with (`CALLBOARD_ADMIN_PASSWORD`).
const ADMIN_PASSWORD: &str = "test-admin-password";

/// `Authorization` of the admin.
fn admin_auth() -> String {
    format!("Basic {}", BASE64.encode(format!("admin:{ADMIN_PASSWORD}")))
}

/// Starts `callboard serve` on ephemeral ports; returns (http, tcp) addresses.
fn start_server(procs: &mut Processes, data_dir: &Path) -> (String, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--http", "127.0.0.1:0", "--tcp", "127.0.0.1:0", "--quic", "off", "--amqp", "off"])
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .env("CALLBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn callboard serve");
    let stdout = child.stdout.take().expect("stdout");
    procs.server = Some(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                // Keep draining so the server never blocks on a full pipe.
                continue;
            }
        }
    });
    let (mut http, mut tcp) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("callboard serve printed `ready` within 30 s");
        match line.split(' ').collect::<Vec<_>>().as_slice() {
            ["ready"] => break,
            ["listening", "http", addr] => http = Some(addr.to_string()),
            ["listening", "tcp", addr] => tcp = Some(addr.to_string()),
            _ => {}
        }
    }
    let http = http.expect("`callboard serve --http` printed a `listening http ADDR` line");
    let tcp = tcp.expect("`callboard serve --tcp` printed a `listening tcp ADDR` line");
    (http, tcp)
}

/// The REST API as the admin, to check what the UI did and to add traffic.
struct Rest {
    agent: ureq::Agent,
    base: String,
}

impl Rest {
    fn get(&self, path: &str) -> Value {
        let url = format!("{}/api/v1{path}", self.base);
        let mut res = self.agent.get(&url).header("authorization", admin_auth()).call().expect("GET");
        assert!(res.status().is_success(), "GET {path}: {}", res.status());
        res.body_mut().read_json().expect("JSON")
    }

    fn delete(&self, path: &str) {
        let url = format!("{}/api/v1{path}", self.base);
        let res = self.agent.delete(&url).header("authorization", admin_auth()).call().expect("DELETE");
        assert!(res.status().is_success(), "DELETE {path}: {}", res.status());
    }

    fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}/api/v1{path}", self.base);
        let mut res = self.agent.post(&url).header("authorization", admin_auth()).send_json(&body).expect("POST");
        let status = res.status();
        let v: Value = res.body_mut().read_json().unwrap_or(Value::Null);
        assert!(status.is_success(), "POST {path}: {status} {v}");
        v
    }

    fn produce(&self, topic: &str, payloads: &[String]) {
        let messages: Vec<Value> = payloads.iter().map(|p| json!({ "payload": p })).collect();
        self.post(&format!("/streams/default/topics/{topic}/messages"), json!({ "messages": messages }));
    }

    fn group_lag(&self, group: &str) -> u64 {
        let d = self.get(&format!("/streams/default/groups/{group}"));
        d["partitions"].as_array().expect("partitions").iter().map(|p| p["lag"].as_u64().expect("lag")).sum()
    }
}

fn consume_as_group(tcp: &str, topic: &str, group: &str, count: u32) -> String {
    let out = Command::new(BIN)
        .args(["consume", topic, "--server", tcp, "--group", group, "--count", &count.to_string()])
        .env("RUST_LOG", "warn")
        .env("CALLBOARD_USER", "admin")
        .env("CALLBOARD_PASSWORD", ADMIN_PASSWORD)
        .output()
        .expect("run callboard consume");
    assert!(out.status.success(), "consume failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn step(started: Instant, what: &str) {
    eprintln!("[{:>6.2}s] {what}", started.elapsed().as_secs_f64());
}

#[test]
fn console_drives_topics_messages_and_groups() {
    let started = Instant::now();
    let dirs = tempfile::tempdir().expect("temp dir");
    let data_dir = dirs.path().join("data");
    let profile = dirs.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).expect("profile dir");
    let mut procs = Processes::default();

    let (http, tcp) = start_server(&mut procs, &data_dir);
    let origin = format!("http://{http}");
    let rest = Rest { agent: agent(), base: origin.clone() };
    step(started, &format!("server up: http {http}, tcp {tcp}"));
    let wd = WebDriver::start(&mut procs, &profile);
    wd.set_viewport(1280, 800);
    step(started, "browser up");

    // Signed out, the browser sees the sign-in page and nothing else; a wrong password is refused there.
    wd.goto(&format!("{origin}/#/topics"));
    wait_signed_out(&wd);
    assert_eq!(wd.script("return document.getElementById('shell').hidden", vec![]), json!(true));
    assert_eq!(wd.text("[data-testid=current-stream]"), None, "no page was rendered");
    sign_in(&wd, "admin", "not-the-password");
    wd.wait_text("[data-testid=login-error]", "the refused sign-in", |t| t.starts_with("Sign-in refused"));
    sign_in(&wd, "admin", ADMIN_PASSWORD);
    wd.wait_text("[data-testid=whoami]", "the signed-in user", |t| t == "admin");
    let token = wd.script("return JSON.parse(sessionStorage.getItem('callboard.console.session')).token", vec![]);
    assert!(token.as_str().is_some_and(|t| t.starts_with("cbt_")), "the session's token: {token}");
    step(started, "signed in through the sign-in page");

    // Topics page: create a topic from the form.
    wd.wait_text("[data-testid=current-stream]", "the topics page of the default stream", |t| t == "default");
    wd.fill("#topic-name", "orders");
    wd.fill("#topic-partitions", "2");
    wd.choose("#topic-durability", "interval");
    wd.fill("#topic-interval", "50");
    wd.click("#create-topic-submit");
    wd.wait_text("[data-testid=success-banner]", "the created banner", |t| t.contains("Created topic orders"));
    let row = "[data-testid=\"topic-row-orders\"]";
    wd.wait_text(&format!("{row} td:nth-child(2)"), "the new topic's partitions in the list", |t| t == "2");
    wd.wait_text(&format!("{row} td:nth-child(5)"), "its durability in the list", |t| t == "interval 50 ms");
    let made = rest.get("/streams/default/topics/orders");
    assert_eq!(made["partitions"].as_array().map(Vec::len), Some(2));
    assert_eq!(made["topic"]["config"]["durability"], json!({"interval": {"ms": 50}}), "{made}");
    step(started, "topic created from the form and listed");

    // An API error is shown as the API's message in the banner.
    wd.fill("#topic-name", "orders");
    wd.click("#create-topic-submit");
    let error = wd.wait_text("[data-testid=error-banner]", "the error banner", |t| t.contains("HTTP 409"));
    assert!(error.contains("orders"), "the banner quotes the API's message: {error}");
    wd.click("[data-testid=error-banner] button");
    step(started, "duplicate topic refused with the API's message");

    // Topic detail: produce from the form, read back as text, JSON and hex.
    wd.click("[data-testid=\"topic-link-orders\"]");
    wd.wait_text("#topic-title", "the topic page", |t| t == "orders");
    wd.wait_text("[data-testid=\"log-end-1\"]", "partition 1 in the partitions table", |t| t == "0");
    wd.choose("#produce-partitioning", "0");
    wd.fill("#produce-key", "user-1");
    wd.click("#produce-add-header");
    wd.fill("#produce-header-name-0", "source");
    wd.fill("#produce-header-value-0", "console-e2e");
    let payload = r#"{"hello":"world","n":1}"#;
    wd.fill("#produce-payload", payload);
    wd.click("#produce-submit");
    wd.wait_text("#produce-result", "the produce result", |t| t == "Stored in partition 0 at offset 0.");
    wd.wait_text("[data-testid=\"log-end-0\"]", "partition 0's log end after the produce", |t| t == "1");

    wd.choose("#browse-partition", "0");
    wd.choose("#browse-from", "first");
    wd.click("#browse-fetch");
    wd.wait_text("[data-testid=\"payload-0\"]", "the message in the browser", |t| t == payload);
    assert_eq!(wd.text("[data-testid=\"key-0\"]").as_deref(), Some("user-1"));
    let headers = wd.text("[data-testid=\"headers-0\"]").expect("headers shown");
    assert!(headers.contains("source=console-e2e"), "{headers}");
    wd.click("#view-json");
    wd.wait_text("[data-testid=\"payload-0\"]", "the pretty JSON view", |t| t.contains("\n  \"hello\": \"world\""));
    wd.click("#view-hex");
    let hex = wd.wait_text("[data-testid=\"payload-0\"]", "the hex view", |t| t.starts_with("00000000  7b 22 68 65"));
    assert!(hex.contains("|{\"hello\":\"world\"|"), "hex dump with its ASCII column: {hex}");

    // A second message that is not JSON: the browser (showing partition 0) picks it up, the JSON view says so.
    wd.choose("#produce-format", "text");
    wd.fill("#produce-payload", "plain words");
    wd.click("#produce-submit");
    wd.wait_text("#produce-result", "the second produce result", |t| t == "Stored in partition 0 at offset 1.");
    wd.click("#view-text");
    wd.wait_text("[data-testid=\"payload-1\"]", "the second message", |t| t == "plain words");
    wd.click("#view-json");
    wd.wait_text("[data-testid=\"decode-error-1\"]", "the not-JSON error", |t| t.starts_with("Not JSON"));
    step(started, "produced from the form, read back as text, JSON and hex");

    // Consume with the CLI as a group; the groups page shows its lag, then the lag moves.
    rest.produce("orders", &(0..8).map(|i| format!("more-{i}")).collect::<Vec<_>>());
    let printed = consume_as_group(&tcp, "orders", "g", 1);
    assert_eq!(printed.lines().count(), 1, "consume --count 1 printed one message: {printed:?}");
    let lag = rest.group_lag("g");
    assert!(lag > 0 && lag < 10, "after one of ten messages the lag is {lag}");
    wd.click("#nav-groups");
    wd.wait_text("[data-testid=\"group-lag-g\"]", "the group's lag on the groups page", |t| t == lag.to_string());
    step(started, &format!("groups page shows lag {lag}"));
    let printed = consume_as_group(&tcp, "orders", "g", 4);
    assert_eq!(printed.lines().count(), 4, "{printed:?}");
    let lag_after = rest.group_lag("g");
    assert!(lag_after < lag, "consuming four more lowers the lag ({lag} -> {lag_after})");
    wd.wait_text("[data-testid=\"group-lag-g\"]", "the lag after consuming more", |t| t == lag_after.to_string());
    wd.click("[data-testid=\"group-link-g\"]");
    wd.wait_text("#group-title", "the group page", |t| t == "g");
    wd.wait_text("#total-lag", "the group's total lag", |t| t == lag_after.to_string());
    let d = rest.get("/streams/default/groups/g");
    for p in d["partitions"].as_array().expect("partitions") {
        let css = format!("[data-testid=\"lag-{}-{}\"]", p["topic"].as_str().expect("topic"), p["partition"]);
        let want = p["lag"].to_string();
        wd.wait_text(&css, "a partition's lag", |t| t == want);
    }
    step(started, &format!("lag moved to {lag_after} on the groups pages"));

    // Overview: live figures from the server.
    wd.click("#nav-overview");
    // `orders` and the broker's audit log (`default/$audit`).
    wd.wait_text("#stat-topics", "the topic count", |t| t == "2");
    wd.wait_text("[data-testid=\"overview-topic-default-orders\"] td:nth-child(4)", "orders' message count", |t| {
        t == "10"
    });
    wd.wait_text("#stat-partitions-offline", "offline partitions", |t| t == "0");
    wd.find("#chart-messages");
    step(started, "overview shows the topic and broker figures");

    // Leaving a page while its refresh is still in flight (each request slowed to 2 s) is not "lost contact".
    wd.script(
        "window.offlineSeen = false; new MutationObserver(() => { \
           if (document.querySelector('[data-testid=offline-banner]')) window.offlineSeen = true; \
         }).observe(document.getElementById('banners'), {childList: true, subtree: true});",
        vec![],
    );
    wd.cdp("Network.enable", json!({}));
    let slow = json!({"offline": false, "latency": 2000, "downloadThroughput": -1, "uploadThroughput": -1});
    wd.cdp("Network.emulateNetworkConditions", slow);
    for nav in ["#nav-topics", "#nav-groups", "#nav-topics", "#nav-groups"] {
        wd.click(nav);
    }
    wd.wait_text("[data-testid=\"group-lag-g\"]", "the groups page over the slow network", |t| {
        t == lag_after.to_string()
    });
    let fast = json!({"offline": false, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1});
    wd.cdp("Network.emulateNetworkConditions", fast);
    let seen = wd.script("return window.offlineSeen", vec![]);
    assert_eq!(seen, json!(false), "navigating during a refresh showed the offline banner");
    assert_eq!(wd.text("[data-testid=offline-banner]"), None);
    step(started, "navigating during refreshes shows no offline banner");

    if let Ok(path) = std::env::var("CALLBOARD_SCREENSHOT") {
        screenshot_with_traffic(&wd, &rest, &tcp, Path::new(&path));
        step(started, &format!("screenshot saved to {path}"));
    }

    users_and_sessions(&wd, &rest, &origin);
    step(started, "users page, sign-out, a read-only user, a revoked session");

    // The server goes away: the console says so.
    procs.kill_server();
    wd.wait_text("[data-testid=offline-banner]", "the offline banner", |t| t.contains("Lost contact with the broker"));
    wd.wait_text("#live-text", "the live indicator", |t| t == "Offline");
    step(started, "server stopped: the console says so");
    drop(procs);
    step(started, "done");
}

/// Waits until the sign-in page is shown.
fn wait_signed_out(wd: &WebDriver) {
    wait_for("the sign-in page", UI_WAIT, || {
        let shown = wd.script("return document.getElementById('login-page').hidden === false", vec![]);
        (shown == json!(true)).then_some(())
    });
}

/// Fills in and submits the sign-in form.
fn sign_in(wd: &WebDriver, user: &str, password: &str) {
    wd.fill("#login-user", user);
    wd.fill("#login-password", password);
    wd.click("#login-submit");
}

/// The Users page (create a user, grant, disable and enable), signing out (the token is revoked), a read-only user's
/// console, and a revoked session sent back to the sign-in page; ends signed in as the admin on the overview.
fn users_and_sessions(wd: &WebDriver, rest: &Rest, origin: &str) {
    wd.click("#nav-users");
    wd.wait_text("[data-testid=\"user-state-admin\"]", "the admin in the users list", |t| t == "enabled");
    wd.fill("#user-name", "viewer");
    wd.fill("#user-password", "viewer-password");
    wd.click("[data-testid=create-user-submit]");
    wd.wait_text("[data-testid=success-banner]", "the created banner", |t| t.contains("Created user viewer"));
    wd.wait_text("[data-testid=\"user-grants-viewer\"]", "the new user's grants", |t| t == "none");
    wd.choose("#grant-user", "viewer");
    wd.choose("#grant-scope", "topic");
    wd.fill("#grant-stream", "default");
    wd.fill("#grant-topic", "orders");
    wd.choose("#grant-permission", "read");
    wd.click("[data-testid=grant-submit]");
    wd.wait_text("[data-testid=\"user-grants-viewer\"]", "the granted permission", |t| t == "default/orders: read");
    let viewer = rest.get("/users/viewer");
    assert_eq!(viewer["grants"]["topics"]["default"]["orders"], json!(["read"]), "{viewer}");
    wd.click("[data-testid=\"toggle-user-viewer\"]");
    wd.wait_text("[data-testid=\"user-state-viewer\"]", "the disabled user", |t| t == "disabled");
    assert_eq!(rest.get("/users/viewer")["enabled"], json!(false));
    wd.click("[data-testid=\"toggle-user-viewer\"]");
    wd.wait_text("[data-testid=\"user-state-viewer\"]", "the enabled user", |t| t == "enabled");

    // Signing out revokes the session's token.
    assert_eq!(rest.get("/tokens?user=admin").as_array().map(Vec::len), Some(1), "the console's token");
    wd.click("#logout");
    wait_signed_out(wd);
    wait_for("the admin's console token revoked", UI_WAIT, || {
        rest.get("/tokens?user=admin").as_array().is_some_and(Vec::is_empty).then_some(())
    });

    // The read-only user sees what it was granted, and no Users page.
    sign_in(wd, "viewer", "viewer-password");
    wd.wait_text("[data-testid=whoami]", "the viewer signed in", |t| t == "viewer");
    assert_eq!(wd.script("return document.getElementById('nav-users-item').hidden", vec![]), json!(true));
    wd.goto(&format!("{origin}/#/streams/default/topics"));
    wd.wait_text("[data-testid=\"topic-row-orders\"] td:nth-child(2)", "orders for the viewer", |t| t == "2");
    let rows = wd.script("return document.querySelectorAll('[data-testid^=\"topic-row-\"]').length", vec![]);
    assert_eq!(rows, json!(1), "the viewer sees only orders");

    // Its token revoked behind its back, the console goes back to the sign-in page and says why.
    let tokens = rest.get("/tokens?user=viewer");
    let id = tokens[0]["id"].as_str().expect("the viewer's token id").to_string();
    rest.delete(&format!("/tokens/{id}"));
    wd.wait_text("[data-testid=login-error]", "the ended session", |t| t.contains("session ended"));
    wait_signed_out(wd);
    assert_eq!(wd.script("return sessionStorage.getItem('callboard.console.session')", vec![]), Value::Null);

    sign_in(wd, "admin", ADMIN_PASSWORD);
    wd.wait_text("[data-testid=whoami]", "the admin signed in again", |t| t == "admin");
    wd.click("#nav-overview");
    wd.find("#chart-messages");
}

/// Adds topics, traffic that rises and falls, and a consumer group reading along; waits for the overview's chart to
/// show about a minute of it, and saves the screenshot.
fn screenshot_with_traffic(wd: &WebDriver, rest: &Rest, tcp: &str, path: &Path) {
    for (name, partitions) in [("payments", 4), ("audit-log", 1), ("clickstream", 8)] {
        rest.post("/streams/default/topics", json!({"name": name, "partitions": partitions, "durability": "never"}));
    }
    let reader = Command::new(BIN)
        .args(["consume", "clickstream", "--server", tcp, "--group", "analytics", "--follow"])
        .env("RUST_LOG", "warn")
        .env("CALLBOARD_USER", "admin")
        .env("CALLBOARD_PASSWORD", ADMIN_PASSWORD)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a following consumer");
    let mut reader = KillOnDrop(reader);
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let stop = Arc::clone(&stop);
        let rest = Rest { agent: agent(), base: rest.base.clone() };
        std::thread::spawn(move || {
            let start = Instant::now();
            let mut tick = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick += 1;
                // About 600 messages/s on average, swinging by half over 40 s.
                let phase = start.elapsed().as_secs_f64() * std::f64::consts::TAU / 40.0;
                let per_tick = 60.0 * (1.0 + 0.5 * phase.sin());
                for (topic, share) in [("clickstream", 0.5), ("payments", 0.3), ("orders", 0.1), ("audit-log", 0.1)] {
                    let n = (per_tick * share).round() as u64;
                    let batch: Vec<String> =
                        (0..n).map(|i| format!("{{\"tick\":{tick},\"i\":{i},\"topic\":\"{topic}\"}}")).collect();
                    rest.produce(topic, &batch);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    wd.wait_text("#stat-topics", "four topics and the audit log", |t| t == "5");
    // At 2 s per sample, about a minute of history (the chart's axis spans at least a minute).
    let samples = wait_for("29 throughput samples", Duration::from_secs(90), || {
        let n = wd.script(
            "return document.querySelectorAll('#chart-messages path.line').length ? \
             document.querySelector('#chart-messages path.line').getAttribute('d').split('L').length : 0",
            vec![],
        );
        n.as_u64().filter(|n| *n >= 29)
    });
    eprintln!("chart has {samples} points");
    wd.script("window.scrollTo(0, 0)", vec![]);
    wd.screenshot(path);
    stop.store(true, Ordering::Relaxed);
    producer.join().expect("producer thread");
    let _ = reader.0.kill();
}

/// A child process killed when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
