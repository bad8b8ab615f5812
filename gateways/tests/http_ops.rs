//! The HTTP gateway's operational side: long polls answered when data arrives, base64 round trips of binary
//! payloads, Prometheus metrics after produce/poll/group activity, `/health` and `/ready`, the console fallback,
//! the OpenAPI document, and a graceful stop.

#![allow(clippy::unwrap_used)]

mod http_common;

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use callboard_actors::JoinRequest;
use callboard_gateways::HttpConfig;
use http_common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_poll_returns_when_data_arrives() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "live", 1).await;
    let started = Instant::now();
    let poll = Req::new("GET", s.url("/api/v1/streams/default/topics/live/partitions/0/messages?wait_ms=20000")).send();
    let poll = tokio::spawn(poll);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!poll.is_finished(), "the poll answered before any data");
    let r = post(&s, "/api/v1/streams/default/topics/live/messages", json!({"messages": [{"payload": "wake"}]})).await;
    assert_eq!(r.status, 201);
    let r = tokio::time::timeout(Duration::from_secs(10), poll).await.unwrap().unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["messages"][0]["payload"], "wake");
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());

    // Without data it waits about as long as asked, then answers empty.
    let started = Instant::now();
    let r = get(&s, "/api/v1/streams/default/topics/live/partitions/0/messages?from=offset:1&wait_ms=300").await;
    assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
    assert_eq!(r.json()["messages"], json!([]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_ms_is_capped() {
    let config = HttpConfig { max_wait: Duration::from_millis(300), ..HttpConfig::default() };
    let s = Server::start(config).await;
    topic(&s, "default", "idle", 1).await;
    let started = Instant::now();
    let r = get(&s, "/api/v1/streams/default/topics/idle/partitions/0/messages?wait_ms=600000").await;
    assert_eq!(r.status, 200);
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_payloads_round_trip_in_base64() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "bin", 1).await;
    let payload: Vec<u8> = (0..=255u8).rev().collect();
    let key = vec![0xff, 0x00, 0x80];
    let header = vec![0xc3, 0x28];
    let body = json!({"encoding": "base64", "partitioning": {"key": STANDARD.encode(&key)}, "messages": [
        {"payload": STANDARD.encode(&payload), "key": STANDARD.encode(&key), "headers": {"raw": STANDARD.encode(&header)}},
        {"payload": STANDARD.encode("plain text")}]});
    let r = post(&s, "/api/v1/streams/default/topics/bin/messages", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    // Stored as bytes.
    let polled = s
        .broker
        .poll("default", "bin", 0, callboard_actors::PollRequest::new(callboard_actors::PollingStrategy::First))
        .await
        .unwrap();
    assert_eq!(&polled.messages[0].payload[..], &payload[..]);
    assert_eq!(polled.messages[0].key.as_deref(), Some(&key[..]));
    assert_eq!(&polled.messages[0].headers[0].1[..], &header[..]);
    // Read back in base64: everything is base64.
    let r = get(&s, "/api/v1/streams/default/topics/bin/partitions/0/messages?encoding=base64").await.json();
    let m = &r["messages"];
    assert_eq!(STANDARD.decode(m[0]["payload"].as_str().unwrap()).unwrap(), payload);
    assert_eq!(STANDARD.decode(m[0]["key"].as_str().unwrap()).unwrap(), key);
    assert_eq!(STANDARD.decode(m[0]["headers"]["raw"].as_str().unwrap()).unwrap(), header);
    assert_eq!(m[1]["payload"], STANDARD.encode("plain text"));
    // Read back as text: the binary message is base64 and flagged, the text one is text.
    let r = get(&s, "/api/v1/streams/default/topics/bin/partitions/0/messages").await.json();
    let m = &r["messages"];
    assert_eq!(m[0]["binary"], true);
    assert_eq!(STANDARD.decode(m[0]["payload"].as_str().unwrap()).unwrap(), payload);
    assert_eq!(m[1]["payload"], "plain text");
    assert!(m[1].get("binary").is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_field_makes_the_whole_message_base64_under_text() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "mixed", 1).await;
    // A binary payload with a key and a header value that are valid UTF-8 and happen to look like base64.
    let body = json!({"encoding": "base64", "messages": [
        {"payload": STANDARD.encode([0xffu8, 0x00]), "key": STANDARD.encode("QUJD"), "headers": {"h": STANDARD.encode("aGk=")}},
        {"payload": STANDARD.encode("text"), "key": STANDARD.encode([0x80u8]), "headers": {"h": STANDARD.encode("plain")}}]});
    let r = post(&s, "/api/v1/streams/default/topics/mixed/messages", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = get(&s, "/api/v1/streams/default/topics/mixed/partitions/0/messages").await.json();
    let m = &r["messages"];
    // `binary` covers the message: every field decodes from base64 to what was stored.
    let decode = |v: &serde_json::Value| STANDARD.decode(v.as_str().unwrap()).unwrap();
    assert_eq!(m[0]["binary"], true, "{r}");
    assert_eq!(decode(&m[0]["payload"]), vec![0xff, 0x00]);
    assert_eq!(decode(&m[0]["key"]), b"QUJD", "{r}");
    assert_eq!(decode(&m[0]["headers"]["h"]), b"aGk=", "{r}");
    assert_eq!(m[1]["binary"], true, "{r}");
    assert_eq!(decode(&m[1]["payload"]), b"text", "{r}");
    assert_eq!(decode(&m[1]["key"]), vec![0x80]);
    assert_eq!(decode(&m[1]["headers"]["h"]), b"plain", "{r}");
    s.stop().await;
}

/// The value of the first sample of `series` whose line contains every `labels` fragment.
fn sample(text: &str, series: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| l.starts_with(series) && !l.starts_with('#'))
        .filter(|l| l[series.len()..].starts_with('{') || l[series.len()..].starts_with(' '))
        .find(|l| labels.iter().all(|f| l.contains(f)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_show_traffic_latency_lag_and_connections() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "metered", 2).await;
    let body =
        json!({"partitioning": {"partition": 1}, "messages": [{"payload": "a"}, {"payload": "b"}, {"payload": "c"}]});
    assert_eq!(post(&s, "/api/v1/streams/default/topics/metered/messages", body).await.status, 201);
    let r = get(&s, "/api/v1/streams/default/topics/metered/partitions/1/messages?count=2").await;
    assert_eq!(r.json()["messages"].as_array().unwrap().len(), 2);
    let member = s.broker.join_group("default", "billing", JoinRequest::new("m", &["metered"])).await.unwrap();
    s.broker.leave_group("default", "billing", &member.member_id).await.unwrap();
    let r = post(
        &s,
        "/api/v1/streams/default/groups/billing/reset-offsets",
        json!({"topic": "metered", "to": {"offset": 1}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let r = get(&s, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/plain"), "{}", r.content_type);
    let text = r.text();
    let tp = ["stream=\"default\"", "topic=\"metered\"", "partition=\"1\""];
    assert_eq!(sample(&text, "callboard_messages_in_total", &tp), Some(3.0), "{text}");
    assert!(sample(&text, "callboard_bytes_in_total", &tp).unwrap() > 0.0);
    assert_eq!(sample(&text, "callboard_messages_out_total", &tp), Some(2.0), "{text}");
    assert!(sample(&text, "callboard_bytes_out_total", &tp).unwrap() > 0.0);
    // Latencies are histograms.
    assert!(text.contains("# TYPE callboard_append_seconds histogram"), "{text}");
    assert!(
        sample(&text, "callboard_append_seconds_count", &["stream=\"default\"", "topic=\"metered\""]).unwrap() >= 1.0
    );
    // HTTP requests are counted by matched route.
    let produced = ["gateway=\"http\"", "api=\"/api/v1/streams/{stream}/topics/{topic}/messages\""];
    // At least this test's one produce: the other tests of this binary share the process-wide recorder.
    assert!(sample(&text, "callboard_gateway_requests_total", &produced).is_some_and(|n| n >= 1.0), "{text}");
    assert!(text.contains("# TYPE callboard_http_request_seconds histogram"), "{text}");
    assert!(sample(&text, "callboard_append_seconds_bucket", &["le=\"+Inf\""]).is_some());
    assert!(text.contains("# TYPE callboard_storage_append_seconds histogram"), "{text}");
    // Lag per stream/group/topic/partition: partition 1 has 3 messages, the group committed 1.
    let lag = ["stream=\"default\"", "group=\"billing\"", "topic=\"metered\"", "partition=\"1\""];
    assert_eq!(sample(&text, "callboard_group_lag", &lag), Some(2.0), "{text}");
    assert_eq!(sample(&text, "callboard_group_lag", &["group=\"billing\"", "partition=\"0\""]), Some(0.0));
    // Connections per gateway, partitions by state, restarts.
    assert!(sample(&text, "callboard_gateway_connections", &["gateway=\"http\""]).unwrap() >= 1.0, "{text}");
    // Two of `metered` and the audit topic's one.
    assert_eq!(sample(&text, "callboard_partitions", &["state=\"online\""]), Some(3.0));
    assert_eq!(sample(&text, "callboard_broker_restarts_total", &[]), Some(0.0));
    // The group goes away: so does its lag.
    assert_eq!(delete(&s, "/api/v1/streams/default/groups/billing").await.status, 204);
    let text = get(&s, "/metrics").await.text();
    assert_eq!(sample(&text, "callboard_group_lag", &["group=\"billing\""]), None, "{text}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let s = Server::start(HttpConfig::default()).await;
    let r = get(&s, "/health").await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "up"})));
    let r = get(&s, "/ready").await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "ready"})));
    s.node.set_ready(false);
    get(&s, "/ready").await.assert_error(503, "not_ready");
    assert_eq!(get(&s, "/health").await.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_paths_and_openapi_document() {
    let s = Server::start(HttpConfig::default()).await;
    // Whatever the console provides is served as it says, uncached; what it does not is the JSON 404.
    for path in ["/", "/index.html", "/app.js", "/style.css"] {
        let r = get(&s, path).await;
        match callboard_console::asset(path) {
            Some(asset) => {
                assert_eq!(r.status, 200, "{path}");
                assert_eq!(r.content_type, asset.content_type, "{path}");
                assert_eq!(r.cache_control.as_deref(), Some("no-cache"), "{path}");
                assert_eq!(r.body, asset.bytes, "{path}");
            }
            None => r.assert_error(404, "not_found"),
        }
    }
    let r = get(&s, "/api/v1/openapi.json").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/streams", "post"),
        ("/api/v1/streams/{stream}/topics/{topic}/messages", "post"),
        ("/api/v1/streams/{stream}/topics/{topic}/partitions/{partition}/messages", "get"),
        ("/api/v1/streams/{stream}/topics/{topic}/partitions/{partition}/consumers/{consumer}", "put"),
        ("/api/v1/streams/{stream}/groups/{group}/reset-offsets", "post"),
        ("/api/v1/status", "get"),
        ("/metrics", "get"),
    ] {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} missing");
        for status in ["403", "500"] {
            assert!(op["responses"][status].is_object(), "{method} {path} does not document {status}");
        }
    }
    // The security routes: login, whoami, users, grants, tokens.
    for (path, method) in [
        ("/api/v1/login", "post"),
        ("/api/v1/whoami", "get"),
        ("/api/v1/users/{name}", "patch"),
        ("/api/v1/users/{name}/grants", "delete"),
        ("/api/v1/tokens/{id}", "delete"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} missing");
    }
    // Every route but the probes answers 401 without credentials, and the document says how to send them.
    assert!(paths["/api/v1/streams"]["get"]["responses"]["401"].is_object());
    assert!(paths["/health"]["get"]["responses"]["401"].is_null());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["components"]["securitySchemes"]["basic"]["scheme"], "basic");
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}, {"basic": []}]));
    assert_eq!(paths["/health"]["get"]["security"], serde_json::json!([{}]));
    assert_eq!(paths.len(), 23, "{:?}", paths.keys().collect::<Vec<_>>());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_listening() {
    let s = Server::start(HttpConfig::default()).await;
    assert_eq!(get(&s, "/health").await.status, 200);
    let addr = s.addr;
    s.stop().await;
    let refused =
        tokio::task::spawn_blocking(move || std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)));
    assert!(refused.await.unwrap().is_err(), "still listening after shutdown");
}
