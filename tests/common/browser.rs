//! The console test's browser harness: the processes it starts (killed on every exit path), Chromium driven through
//! chromedriver by a small synchronous W3C WebDriver client over `ureq`, and polling helpers.
#![allow(dead_code)]

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

/// How long any one UI condition may take to appear.
pub const UI_WAIT: Duration = Duration::from_secs(15);
pub const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Every process the test started; killed on every exit path (the WebDriver session is closed first so Chromium
/// exits with it; chromedriver runs in its own process group, which is killed as a whole).
#[derive(Default)]
pub struct Processes {
    pub server: Option<Child>,
    pub chromedriver: Option<Child>,
    pub session: Option<(String, String)>,
}

impl Processes {
    pub fn kill_server(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        if let Some((base, id)) = self.session.take() {
            let quick: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .into();
            let _ = quick.delete(&format!("{base}/session/{id}")).call();
        }
        if let Some(mut child) = self.chromedriver.take() {
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.kill();
            let _ = child.wait();
        }
        self.kill_server();
    }
}

pub fn tool(env: &str, default: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var(env).unwrap_or_else(|_| default.to_string()));
    assert!(
        path.is_file(),
        "{} not found: the console's browser test needs Chromium and chromedriver (Debian: chromium, \
         chromium-driver; run scripts/install-test-deps.sh) or {env} set to its path",
        path.display()
    );
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port").local_addr().expect("local addr").port()
}

/// Polls `probe` every 100 ms until it gives a value, panicking with `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A W3C WebDriver session.
pub struct WebDriver {
    pub agent: ureq::Agent,
    pub base: String,
    pub session: String,
}

impl WebDriver {
    pub fn start(procs: &mut Processes, profile: &Path) -> WebDriver {
        let chromium = tool("CALLBOARD_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = tool("CALLBOARD_CHROMEDRIVER", "/usr/bin/chromedriver");
        let port = free_port();
        let child = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        procs.chromedriver = Some(child);
        let base = format!("http://127.0.0.1:{port}");
        let agent = agent();
        wait_for("chromedriver to answer /status", Duration::from_secs(20), || {
            let mut res = agent.get(&format!("{base}/status")).call().ok()?;
            let v: Value = res.body_mut().read_json().ok()?;
            v["value"]["ready"].as_bool().filter(|r| *r)
        });
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,800",
            "--hide-scrollbars",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            "timeouts": {"implicit": 0, "pageLoad": 20000, "script": 10000},
        }}});
        let mut res = agent.post(&format!("{base}/session")).send_json(&caps).expect("new WebDriver session");
        let v: Value = res.body_mut().read_json().expect("session JSON");
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver could not start Chromium: {v}"))
            .to_string();
        procs.session = Some((base.clone(), session.clone()));
        WebDriver { agent, base, session }
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let res = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).send_json(body.unwrap_or_else(|| json!({}))),
        };
        let mut res = res.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = res.status();
        let v: Value = res.body_mut().with_config().limit(64 << 20).read_json().expect("WebDriver JSON");
        assert!(status.is_success(), "WebDriver {method} {path}: {status} {v}");
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
    }

    /// Sizes the window so that the page's viewport is `width` × `height`.
    pub fn set_viewport(&self, width: i64, height: i64) {
        let (mut w, mut h) = (width, height);
        for _ in 0..3 {
            self.call("POST", "/window/rect", Some(json!({"width": w, "height": h})));
            let inner = self.script("return [window.innerWidth, window.innerHeight]", vec![]);
            let (iw, ih) = (inner[0].as_i64().unwrap_or(width), inner[1].as_i64().unwrap_or(height));
            if (iw, ih) == (width, height) {
                return;
            }
            w += width - iw;
            h += height - ih;
        }
    }

    /// Runs a script in the page (`arguments[0..]` are `args`) and returns its result.
    pub fn script(&self, script: &str, args: Vec<Value>) -> Value {
        self.call("POST", "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// The element matching a CSS selector, once it is there.
    pub fn find(&self, css: &str) -> String {
        wait_for(&format!("element {css}"), UI_WAIT, || {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let mut res = self.agent.post(&url).send_json(json!({"using": "css selector", "value": css})).ok()?;
            if !res.status().is_success() {
                return None;
            }
            let v: Value = res.body_mut().read_json().ok()?;
            v["value"][ELEMENT_KEY].as_str().map(str::to_string)
        })
    }

    /// The element, scrolled to the middle of the window (WebDriver scrolls to the top edge, under the sticky bar).
    pub fn visible(&self, css: &str) -> String {
        let id = self.find(css);
        self.script("arguments[0].scrollIntoView({block: 'center'})", vec![json!({ ELEMENT_KEY: id })]);
        id
    }

    pub fn click(&self, css: &str) {
        let id = self.visible(css);
        self.call("POST", &format!("/element/{id}/click"), None);
    }

    pub fn fill(&self, css: &str, text: &str) {
        let id = self.visible(css);
        self.call("POST", &format!("/element/{id}/clear"), None);
        self.call("POST", &format!("/element/{id}/value"), Some(json!({ "text": text })));
    }

    /// Picks the option with this value in a `<select>` (by clicking it, as a user would).
    pub fn choose(&self, select_css: &str, value: &str) {
        self.click(&format!("{select_css} option[value=\"{value}\"]"));
        let chosen = self.script("return document.querySelector(arguments[0]).value", vec![json!(select_css)]);
        assert_eq!(chosen, json!(value), "{select_css} is set to {value}");
    }

    /// The text of the element matching `css`, or None when there is none.
    pub fn text(&self, css: &str) -> Option<String> {
        let v = self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            vec![json!(css)],
        );
        v.as_str().map(str::to_string)
    }

    /// Waits until the text of `css` satisfies `ok`, and returns it.
    pub fn wait_text(&self, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut last = None;
        let found = {
            let start = Instant::now();
            loop {
                let t = self.text(css);
                if let Some(t) = t.as_deref().filter(|t| ok(t)) {
                    break Some(t.to_string());
                }
                last = t;
                if start.elapsed() > UI_WAIT {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        found.unwrap_or_else(|| panic!("timed out waiting for {what} ({css}); its text was {last:?}"))
    }

    /// Runs a Chrome DevTools Protocol command (chromedriver's `goog/cdp/execute`).
    pub fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call("POST", "/goog/cdp/execute", Some(json!({ "cmd": cmd, "params": params })))
    }

    pub fn screenshot(&self, path: &Path) {
        let png = self.call("GET", "/screenshot", None);
        let bytes = BASE64.decode(png.as_str().expect("base64 screenshot")).expect("decode screenshot");
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}
