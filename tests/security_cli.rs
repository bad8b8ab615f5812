//! The security commands of the `callboard` CLI against a real `callboard serve`: the zero-configuration login with
//! the broker's own admin-credentials file, users and grants (`user create|grant|revoke|passwd|disable|delete`),
//! personal access tokens (`token create|list|revoke`, `--token`, `CALLBOARD_TOKEN`) and `login` / `logout` /
//! `whoami` with the per-server credentials file.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

#[path = "common/serve.rs"]
mod serve;
use serve::{ADMIN_PASSWORD, BIN, Serve};

/// A CLI command with no credentials from the environment and a private config directory.
fn bare(config: &Path) -> Command {
    let mut command = Command::new(BIN);
    for var in ["CALLBOARD_USER", "CALLBOARD_PASSWORD", "CALLBOARD_TOKEN", "CALLBOARD_DATA_DIR", "CALLBOARD_SERVER"] {
        command.env_remove(var);
    }
    command.env("XDG_CONFIG_HOME", config).env("HOME", config).env("RUST_LOG", "warn").stdin(Stdio::null());
    command
}

/// [`bare`], logged in as the admin through the environment.
fn admin(config: &Path) -> Command {
    let mut command = bare(config);
    command.env("CALLBOARD_USER", "admin").env("CALLBOARD_PASSWORD", ADMIN_PASSWORD);
    command
}

fn run(mut command: Command, args: &[&str], server: &str) -> Output {
    command.args(args).args(["--server", server]).output().expect("run cli")
}

#[track_caller]
fn ok(out: Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf8")
}

#[track_caller]
fn refused(out: Output, expected: &str) {
    assert!(!out.status.success(), "succeeded: {}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(expected), "expected {expected:?} in: {err}");
}

/// `callboard serve` started in `cwd` with no admin password given (so it writes `callboard-data/admin-credentials`),
/// TCP only, logging at info into `log`; returns the child and its TCP address.
fn serve_zero_config(cwd: &Path, log: &Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--tcp", "127.0.0.1:0", "--quic", "off", "--http", "off", "--amqp", "off"])
        .current_dir(cwd)
        .env_remove("CALLBOARD_ADMIN_PASSWORD")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("spawn serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut tcp = None;
    loop {
        let line = lines.next().expect("serve printed ready").expect("line");
        match line.split(' ').collect::<Vec<_>>().as_slice() {
            ["ready"] => break,
            ["listening", "tcp", addr] => tcp = Some(addr.to_string()),
            _ => {}
        }
    }
    (child, tcp.expect("tcp address"))
}

#[test]
fn a_cli_on_the_brokers_machine_logs_in_with_the_admin_credentials_file() {
    let dir = tempfile::tempdir().unwrap();
    let (work, elsewhere) = (dir.path().join("work"), dir.path().join("elsewhere"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let log = dir.path().join("serve.log");
    let (mut child, tcp) = serve_zero_config(&work, &log);

    let file = work.join("callboard-data").join("admin-credentials");
    let text = std::fs::read_to_string(&file).unwrap();
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("password = \"").and_then(|p| p.strip_suffix('"')))
        .expect("password line")
        .to_string();
    assert!(text.contains("user = \"admin\""), "{text}");
    assert!(password.len() >= 16, "a random password: {password}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // In the directory holding callboard-data, no credentials are needed: the README's zero-configuration flow.
    let mut here = bare(dir.path());
    here.current_dir(&work);
    let whoami = ok(run(here, &["whoami", "--output", "json"], &tcp));
    let whoami: serde_json::Value = serde_json::from_str(&whoami).unwrap();
    assert_eq!(whoami["name"], "admin");

    // Anywhere else the broker refuses, and the CLI says how to log in.
    let mut there = bare(dir.path());
    there.current_dir(&elsewhere);
    refused(run(there, &["topic", "list"], &tcp), "needs a login");
    let mut there = bare(dir.path());
    there.current_dir(&elsewhere).env("CALLBOARD_DATA_DIR", work.join("callboard-data"));
    ok(run(there, &["topic", "list"], &tcp));

    // The broker logged where the password is, never the password.
    serve::terminate(&mut child);
    assert!(serve::wait_timeout(&mut child, std::time::Duration::from_secs(20)).is_some_and(|s| s.success()));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("admin-credentials"), "{logged}");
    assert!(!logged.contains(&password), "the admin password was logged");
}

#[test]
fn users_get_exactly_what_they_were_granted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(&dir.path().join("data"), &["tcp"]);
    let tcp = server.addr("tcp").to_string();
    let config = dir.path().join("config");
    let admin = || admin(&config);
    let bob = |password: &str| {
        let mut c = bare(&config);
        c.env("CALLBOARD_USER", "bob").env("CALLBOARD_PASSWORD", password);
        c
    };
    ok(run(admin(), &["topic", "create", "orders"], &tcp));
    ok(run(admin(), &["topic", "create", "payments"], &tcp));
    ok(run(admin(), &["send", "orders", "--message", "o1"], &tcp));

    // The new user's password is read from standard input when not given (prompted on a terminal).
    let mut create = admin()
        .args(["user", "create", "bob", "--server", &tcp])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create.stdin.take().unwrap().write_all(b"bob-password-1\n").unwrap();
    ok(create.wait_with_output().unwrap());
    refused(run(admin(), &["user", "create", "bob", "--new-password", "another-one"], &tcp), "exists");
    refused(run(admin(), &["user", "create", "carol", "--new-password", "short"], &tcp), "8");

    // No grants yet: bob logs in but sees nothing and reads nothing.
    let listed = ok(run(bob("bob-password-1"), &["topic", "list", "--output", "json"], &tcp));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&listed).unwrap(), serde_json::json!([]));
    refused(run(bob("bob-password-1"), &["consume", "orders", "--count", "1"], &tcp), "forbidden");
    refused(run(bob("wrong-password"), &["whoami"], &tcp), "wrong user name or password");

    // read on the stream: consume yes, send no; write on one topic only.
    ok(run(admin(), &["user", "grant", "bob", "--permission", "read"], &tcp));
    let got = ok(run(bob("bob-password-1"), &["consume", "orders", "--count", "1"], &tcp));
    assert!(got.contains("o1"), "{got}");
    refused(run(bob("bob-password-1"), &["send", "orders", "--message", "x"], &tcp), "forbidden");
    ok(run(admin(), &["user", "grant", "bob", "--topic", "payments", "--permission", "write"], &tcp));
    ok(run(bob("bob-password-1"), &["send", "payments", "--message", "p1"], &tcp));
    refused(run(bob("bob-password-1"), &["send", "orders", "--message", "x"], &tcp), "forbidden");
    // The topic grant wins over the stream's: payments is now write-only for bob.
    refused(run(bob("bob-password-1"), &["consume", "payments", "--count", "1"], &tcp), "forbidden");
    refused(run(bob("bob-password-1"), &["topic", "create", "mine"], &tcp), "forbidden");
    refused(run(bob("bob-password-1"), &["user", "list"], &tcp), "forbidden");
    let shown = ok(run(admin(), &["user", "show", "bob", "--output", "json"], &tcp));
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(shown["grants"]["streams"]["default"], serde_json::json!(["read"]));
    assert_eq!(shown["grants"]["topics"]["default"]["payments"], serde_json::json!(["write"]));

    ok(run(admin(), &["user", "revoke", "bob", "--permission", "read"], &tcp));
    refused(run(bob("bob-password-1"), &["consume", "orders", "--count", "1"], &tcp), "forbidden");
    refused(run(admin(), &["user", "grant", "bob", "--permission", "fly"], &tcp), "unknown permission");

    // A user changes their own password; a disabled user cannot log in; a deleted one is gone.
    ok(run(bob("bob-password-1"), &["user", "passwd", "bob", "--new-password", "bob-password-2"], &tcp));
    refused(run(bob("bob-password-1"), &["whoami"], &tcp), "wrong user name or password");
    ok(run(bob("bob-password-2"), &["whoami"], &tcp));
    ok(run(admin(), &["user", "disable", "bob"], &tcp));
    refused(run(bob("bob-password-2"), &["whoami"], &tcp), "refused");
    ok(run(admin(), &["user", "enable", "bob"], &tcp));
    ok(run(bob("bob-password-2"), &["whoami"], &tcp));
    ok(run(admin(), &["user", "delete", "bob"], &tcp));
    refused(run(bob("bob-password-2"), &["whoami"], &tcp), "refused");
    refused(run(admin(), &["user", "delete", "admin"], &tcp), "manage_users");
    server.stop();
}

#[test]
fn tokens_login_and_logout() {
    let dir = tempfile::tempdir().unwrap();
    let server = Serve::start(&dir.path().join("data"), &["tcp"]);
    let tcp = server.addr("tcp").to_string();
    let config = dir.path().join("config");
    let admin = || admin(&config);

    // A personal access token: printed once, works with --token and CALLBOARD_TOKEN, listed, revoked.
    let created = ok(run(admin(), &["token", "create", "ci", "--expires-in", "1h", "--output", "json"], &tcp));
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    let id = created["info"]["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("cbt_"), "{token}");
    ok(run(bare(&config), &["whoami", "--token", &token], &tcp));
    let mut by_env = bare(&config);
    by_env.env("CALLBOARD_TOKEN", &token);
    ok(run(by_env, &["topic", "list"], &tcp));
    let listed = ok(run(admin(), &["token", "list", "--output", "json"], &tcp));
    assert!(listed.contains(&id) && !listed.contains(&token), "ids listed, never secrets: {listed}");
    ok(run(admin(), &["token", "revoke", &id], &tcp));
    refused(run(bare(&config), &["whoami", "--token", &token], &tcp), "revoked");

    // login keeps a token for this server in a private file; commands then need no credentials; logout revokes it.
    refused(run(bare(&config), &["whoami"], &tcp), "needs a login");
    let login = ok(run(bare(&config), &["login", "--user", "admin", "--password", ADMIN_PASSWORD], &tcp));
    assert!(login.contains("logged in"), "{login}");
    let file = config.join("callboard").join("credentials.toml");
    let stored = std::fs::read_to_string(&file).unwrap();
    assert!(stored.contains(&format!("[servers.\"{tcp}\"]")), "{stored}");
    assert!(!stored.contains(ADMIN_PASSWORD), "the password is not stored");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let whoami = ok(run(bare(&config), &["whoami", "--output", "json"], &tcp));
    assert_eq!(serde_json::from_str::<serde_json::Value>(&whoami).unwrap()["name"], "admin");
    let stored_token = stored.lines().find_map(|l| l.strip_prefix("token = \"")).unwrap().trim_end_matches('"');
    ok(run(bare(&config), &["logout"], &tcp));
    refused(run(bare(&config), &["whoami"], &tcp), "needs a login");
    refused(run(bare(&config), &["whoami", "--token", stored_token], &tcp), "revoked");
    refused(run(bare(&config), &["logout"], &tcp), "not logged in");
    server.stop();
}
