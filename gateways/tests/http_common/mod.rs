//! Helpers of the HTTP gateway tests: a broker and an HTTP gateway on 127.0.0.1:0 (with the Prometheus recorder
//! installed once per test process), and a blocking ureq client run off the async runtime. Requests log in as the
//! broker's `admin` (basic auth with [`ADMIN_PASSWORD`]) unless they carry their own `Authorization` or are
//! [`Req::anonymous`].

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use callboard_actors::{Broker, BrokerConfig};
use callboard_gateways::http::LATENCY_BUCKETS;
use callboard_gateways::{HttpConfig, HttpGateway, Node};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::Value;

/// The password of the `admin` user of every test broker.
pub const ADMIN_PASSWORD: &str = "test-admin-password";

/// `Basic` credentials for `user` and `password`.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// `Bearer` credentials.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The process-wide Prometheus recorder.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().set_buckets(LATENCY_BUCKETS).unwrap().install_recorder().unwrap())
        .clone()
}

/// A running gateway with its broker.
pub struct Server {
    pub broker: Broker,
    pub gateway: Option<HttpGateway>,
    pub node: Node,
    pub addr: SocketAddr,
    pub _dir: tempfile::TempDir,
}

impl Server {
    /// A broker in a temporary directory and an HTTP gateway on 127.0.0.1:0, ready.
    pub async fn start(config: HttpConfig) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let broker_config = BrokerConfig {
            admin_password: Some(callboard_actors::auth::Secret::new(ADMIN_PASSWORD)),
            ..BrokerConfig::with_data_dir(dir.path().join("data"))
        };
        let broker = Broker::start(broker_config).await.unwrap();
        let node = Node::new();
        let gateway =
            HttpGateway::bind("127.0.0.1:0".parse().unwrap(), broker.clone(), config, node.clone(), Some(prometheus()))
                .await
                .unwrap();
        let addr = gateway.local_addr();
        node.add_listener("http", addr, Some(gateway.connections()));
        node.set_ready(true);
        Server { broker, gateway: Some(gateway), node, addr, _dir: dir }
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Stops the gateway and the broker.
    pub async fn stop(mut self) {
        if let Some(gw) = self.gateway.take() {
            gw.shutdown(Duration::from_secs(5)).await;
        }
        self.broker.shutdown().await.unwrap();
    }
}

/// An answer: status, content type, headers of interest and body.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub allow: Option<String>,
    pub cache_control: Option<String>,
    /// Every `WWW-Authenticate` value.
    pub challenges: Vec<String>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the one error shape with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        assert!(self.content_type.starts_with("application/json"), "{}", self.content_type);
        let body = self.json();
        assert_eq!(body["code"], code, "{body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    }
}

/// One request: method, URL, extra headers, body (sent as is).
#[derive(Debug, Clone, Default)]
pub struct Req {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Sent without the default admin credentials.
    pub anonymous: bool,
}

impl Req {
    pub fn new(method: &str, url: String) -> Req {
        Req { method: method.into(), url, ..Req::default() }
    }

    /// Without the default admin credentials.
    pub fn anonymous(mut self) -> Req {
        self.anonymous = true;
        self
    }

    /// With these `Authorization` credentials instead of the admin's.
    pub fn auth(self, credentials: &str) -> Req {
        self.header("authorization", credentials)
    }

    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A JSON body with its content type.
    pub fn json(self, body: &Value) -> Req {
        self.raw("application/json", serde_json::to_vec(body).unwrap())
    }

    pub fn raw(mut self, content_type: &str, body: Vec<u8>) -> Req {
        self.headers.push(("content-type".into(), content_type.into()));
        self.body = Some(body);
        self
    }

    /// Sends it on a blocking thread (ureq, no redirects, errors as answers).
    pub async fn send(self) -> Reply {
        tokio::time::timeout(Duration::from_secs(60), tokio::task::spawn_blocking(move || self.send_blocking()))
            .await
            .expect("request timed out")
            .unwrap()
    }

    pub fn send_blocking(self) -> Reply {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .allow_non_standard_methods(true)
            .timeout_global(Some(Duration::from_secs(45)))
            .build()
            .into();
        let mut builder = ureq::http::Request::builder().method(self.method.as_str()).uri(self.url.as_str());
        for (k, v) in &self.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        if !self.anonymous && !self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization")) {
            builder = builder.header("authorization", basic("admin", ADMIN_PASSWORD));
        }
        let request = builder.body(self.body.unwrap_or_default()).unwrap();
        let mut response = agent.run(request).unwrap();
        let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_string());
        let content_type = header("content-type").unwrap_or_default();
        let allow = header("allow");
        let cache_control = header("cache-control");
        let challenges =
            response.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
        Reply { status, content_type, allow, cache_control, challenges, body }
    }
}

pub async fn get(s: &Server, path: &str) -> Reply {
    Req::new("GET", s.url(path)).send().await
}

pub async fn post(s: &Server, path: &str, body: Value) -> Reply {
    Req::new("POST", s.url(path)).json(&body).send().await
}

pub async fn put(s: &Server, path: &str, body: Value) -> Reply {
    Req::new("PUT", s.url(path)).json(&body).send().await
}

pub async fn delete(s: &Server, path: &str) -> Reply {
    Req::new("DELETE", s.url(path)).send().await
}

/// Creates stream `stream` and topic `topic` with `partitions` partitions, fsync left to the OS.
pub async fn topic(s: &Server, stream: &str, topic: &str, partitions: u32) {
    if stream != "default" {
        let r = post(s, "/api/v1/streams", serde_json::json!({"name": stream})).await;
        assert!(r.status == 201 || r.status == 409, "{}", r.text());
    }
    let body = serde_json::json!({"name": topic, "partitions": partitions, "durability": "never"});
    let r = post(s, &format!("/api/v1/streams/{stream}/topics"), body).await;
    assert_eq!(r.status, 201, "{}", r.text());
}
