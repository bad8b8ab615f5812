//! TLS end to end against a `callboard serve` process: the SDK over `--tcp-tls` with a password (produce and poll)
//! and the CLI's `--tls`, a plaintext client refused with a clear error, HTTPS with `curl --cacert`, `openssl
//! s_client` seeing the configured certificate on the TCP and AMQPS listeners, the certificate replaced on disk and
//! reloaded on SIGHUP (new connections get the new one, an open connection goes on), and bad TLS settings refused at
//! start with clear errors.
//!
//! curl and openssl must be installed (`scripts/install-test-deps.sh` installs them); the test fails clearly when
//! they are not.

#![allow(clippy::unwrap_used)]

#[path = "common/serve.rs"]
mod serve;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use callboard_client::{
    Client, ClientConfig, DurabilityPolicy, Message, Partitioning, PollingStrategy, TopicConfig, Transport,
};
use serve::{ADMIN_PASSWORD, BIN, Serve};

/// A self-signed certificate for `localhost` and `127.0.0.1` with common name `cn`, as `cn.pem` and `cn.key`.
fn certificate(dir: &Path, cn: &str) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.join(format!("{cn}.pem")), dir.join(format!("{cn}.key")));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path)
}

/// Replaces `to` with a copy of `from` in one rename, so the server never reads half a file.
fn replace(from: &Path, to: &Path) {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

/// An SDK client over TLS to `addr` trusting `ca`, logged in as the admin.
async fn tls_client(addr: &str, ca: &Path) -> callboard_client::Result<Client> {
    Client::connect(ClientConfig::tls(addr, Some(ca.to_path_buf())).with_password("admin", ADMIN_PASSWORD)).await
}

/// Runs a tool, failing clearly when it is not installed.
fn tool(name: &str) -> Command {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().unwrap();
    assert!(found.status.success(), "{name} is not installed; run scripts/install-test-deps.sh");
    Command::new(name)
}

/// What `openssl s_client` prints about the certificate `addr` serves, verified against `ca`.
fn s_client(addr: &str, ca: &Path) -> String {
    let out = tool("openssl")
        .args(["s_client", "-connect", addr, "-servername", "localhost", "-CAfile"])
        .arg(ca)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_and_cli_over_tls_and_plaintext_refused() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(dir.path(), &["tcp"], &["--tcp-tls"]);
    let addr = serve.addr("tcp").to_string();
    // No --tls-cert: the self-signed certificate QUIC uses.
    let ca = dir.path().join("tls").join("quic-cert.pem");

    let client = tls_client(&addr, &ca).await.unwrap();
    let config = TopicConfig { partitions: 1, durability: DurabilityPolicy::Never, ..TopicConfig::default() };
    client.create_topic("default", "secure", config).await.unwrap();
    let messages = [Message::new("over"), Message::new("tls")];
    client.send("default", "secure", Partitioning::Partition(0), &messages).await.unwrap();
    let polled = client.poll("default", "secure", 0, PollingStrategy::First, 10, Duration::ZERO, None).await.unwrap();
    assert_eq!(polled.messages.iter().map(|m| m.payload.clone()).collect::<Vec<_>>(), vec!["over", "tls"]);

    // A plaintext SDK client is told the port speaks TLS.
    let plain = Client::connect(ClientConfig::tcp(&addr).with_password("admin", ADMIN_PASSWORD)).await;
    let Err(err) = plain else { panic!("plaintext accepted") };
    let err = err.to_string();
    assert!(err.contains("speaks TLS"), "{err}");
    // The server name is checked: the certificate names localhost and 127.0.0.1, not this.
    let mut wrong = ClientConfig::tls(&addr, Some(ca.clone()));
    if let Transport::Tls { server_name, .. } = &mut wrong.transport {
        *server_name = "elsewhere.example".into();
    }
    let Err(err) = Client::connect(wrong).await else { panic!("wrong server name accepted") };
    let err = err.to_string();
    assert!(err.contains("not valid for name"), "{err}");

    // The CLI: plaintext is refused with the reason; --tls --ca connects and logs in.
    let out = serve.cli().args(["stream", "list", "--server", &addr]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("speaks TLS"), "{out:?}");
    let out = serve.cli().args(["stream", "list", "--server", &addr, "--tls", "--ca"]).arg(&ca).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("default"), "{out:?}");
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_curl_and_the_configured_certificate_on_every_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path(), "callboard-e2e-one");
    let (cert_s, key_s) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let flags = ["--tls-cert", cert_s, "--tls-key", key_s, "--tcp-tls", "--http-tls", "--amqps", "127.0.0.1:0"];
    let serve = Serve::start_with(&dir.path().join("data"), &["tcp", "http"], &flags);
    let port = serve.addr("http").rsplit_once(':').unwrap().1.to_string();

    let url = format!("https://localhost:{port}/health");
    let out = tool("curl").args(["-sS", "--fail", "--cacert", cert_s, &url]).output().unwrap();
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("up"), "{out:?}");
    // Without the CA curl refuses the certificate (exit code 60), and plain HTTP gets no answer.
    let out = tool("curl").args(["-sS", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(60), "{out:?}");
    let out = tool("curl").args(["-sS", "--fail", &format!("http://localhost:{port}/health")]).output().unwrap();
    assert!(!out.status.success(), "{out:?}");

    for listener in ["tcp", "amqps"] {
        let shown = s_client(serve.addr(listener), &cert);
        assert!(shown.contains("callboard-e2e-one"), "{listener}: {shown}");
        assert!(shown.contains("Verify return code: 0 (ok)"), "{listener}: {shown}");
    }
    serve.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (one, one_key) = certificate(dir.path(), "one");
    let (two, two_key) = certificate(dir.path(), "two");
    let (cert, key) = (dir.path().join("server.pem"), dir.path().join("server.key"));
    replace(&one, &cert);
    replace(&one_key, &key);
    let (cert_s, key_s) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let serve =
        Serve::start_with(&dir.path().join("data"), &["tcp"], &["--tls-cert", cert_s, "--tls-key", key_s, "--tcp-tls"]);
    let addr = serve.addr("tcp").to_string();

    let open = tls_client(&addr, &one).await.unwrap();
    open.create_stream("before").await.unwrap();
    assert!(tls_client(&addr, &two).await.is_err(), "certificate two is not served yet");

    replace(&two, &cert);
    replace(&two_key, &key);
    let pid = serve.pid().to_string();
    assert!(Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    // The reload runs asynchronously: new connections see certificate two as soon as it is in service.
    let deadline = Instant::now() + Duration::from_secs(20);
    let fresh = loop {
        match tls_client(&addr, &two).await {
            Ok(client) => break client,
            Err(e) => assert!(Instant::now() < deadline, "certificate two never served: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(tls_client(&addr, &one).await.is_err(), "certificate one is no longer served");
    // The connection opened before the reload goes on (the same TLS session, no reconnect).
    open.create_stream("after").await.unwrap();
    let names: Vec<String> = fresh.streams().await.unwrap().into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"before".to_string()) && names.contains(&"after".to_string()), "{names:?}");
    serve.stop();
}

#[test]
fn bad_tls_settings_are_clear_start_up_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (one, _) = certificate(dir.path(), "one");
    let (_, two_key) = certificate(dir.path(), "two");
    let start = |extra: &[&str]| {
        let out = Command::new(BIN)
            .args(["serve", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--tcp", "127.0.0.1:0", "--quic", "off", "--http", "off", "--amqp", "off"])
            .args(extra)
            .env("CALLBOARD_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let missing = dir.path().join("missing.pem");
    let (one_s, two_key_s, missing_s) = (one.to_str().unwrap(), two_key.to_str().unwrap(), missing.to_str().unwrap());
    let err = start(&["--tcp-tls", "--tls-cert", missing_s, "--tls-key", two_key_s]);
    assert!(err.contains("does not exist") && err.contains("missing.pem"), "{err}");
    let err = start(&["--tcp-tls", "--tls-cert", one_s, "--tls-key", two_key_s]);
    assert!(err.contains("does not match"), "{err}");
    let err = start(&["--tcp-tls", "--tls-cert", one_s]);
    assert!(err.contains("--tls-key"), "{err}");
    let err = start(&["--amqps", "nowhere"]);
    assert!(err.contains("--amqps"), "{err}");
    let err = start(&["--http-tls"]);
    assert!(err.contains("--http-tls needs an HTTP listener"), "{err}");
}
