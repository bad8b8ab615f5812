//! The HTTP gateway's errors: one JSON shape with the right status for bad JSON, wrong types, missing fields, bad
//! query and path parameters, unknown streams and topics, oversized bodies, wrong content types, unknown routes,
//! wrong methods, and foreign `Host` and `Origin` headers.

#![allow(clippy::unwrap_used)]

mod http_common;

use callboard_gateways::HttpConfig;
use http_common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_queries_and_paths_are_400() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "t", 1).await;
    let streams = s.url("/api/v1/streams");
    Req::new("POST", streams.clone())
        .raw("application/json", b"{\"name\": ".to_vec())
        .send()
        .await
        .assert_error(400, "invalid_request");
    Req::new("POST", streams.clone())
        .raw("application/json", b"not json".to_vec())
        .send()
        .await
        .assert_error(400, "invalid_request");
    post(&s, "/api/v1/streams", json!({"name": 5})).await.assert_error(400, "invalid_request");
    post(&s, "/api/v1/streams", json!({})).await.assert_error(400, "invalid_request");
    post(&s, "/api/v1/streams", json!({"name": "x", "extra": 1})).await.assert_error(400, "invalid_request");
    post(&s, "/api/v1/streams/default/topics", json!({"name": "u", "partitions": "three"}))
        .await
        .assert_error(400, "invalid_request");
    // An integral float is an integer (JSON Schema's rule), a fractional one is not.
    assert_eq!(post(&s, "/api/v1/streams/default/topics", json!({"name": "u", "partitions": 2.0})).await.status, 201);
    post(&s, "/api/v1/streams/default/topics", json!({"name": "v", "partitions": 2.5}))
        .await
        .assert_error(400, "invalid_request");
    let messages = "/api/v1/streams/default/topics/t/messages";
    post(&s, messages, json!({"messages": [{"payload": "x", "id": "not-a-uuid"}]}))
        .await
        .assert_error(400, "invalid_request");
    post(&s, messages, json!({"encoding": "base64", "messages": [{"payload": "%%%"}]}))
        .await
        .assert_error(400, "invalid_request");
    post(&s, messages, json!({"partitioning": "sideways", "messages": []})).await.assert_error(400, "invalid_request");
    get(&s, "/api/v1/streams/default/topics/t/partitions/zero/messages").await.assert_error(400, "invalid_request");
    get(&s, "/api/v1/streams/default/topics/t/partitions/-1/messages").await.assert_error(400, "invalid_request");
    get(&s, "/api/v1/streams/default/topics/t/partitions/0/messages?count=many")
        .await
        .assert_error(400, "invalid_request");
    get(&s, "/api/v1/streams/default/topics/t/partitions/0/messages?auto_commit=maybe")
        .await
        .assert_error(400, "invalid_request");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_streams_topics_and_routes_are_json_404() {
    let s = Server::start(HttpConfig::default()).await;
    get(&s, "/api/v1/streams/nope").await.assert_error(404, "stream_not_found");
    get(&s, "/api/v1/streams/nope/topics").await.assert_error(404, "stream_not_found");
    get(&s, "/api/v1/streams/default/topics/nope").await.assert_error(404, "topic_not_found");
    post(&s, "/api/v1/streams/default/topics/nope/messages", json!({"messages": [{"payload": "x"}]}))
        .await
        .assert_error(404, "topic_not_found");
    get(&s, "/api/v1/streams/default/topics/nope/partitions/0/messages").await.assert_error(404, "topic_not_found");
    get(&s, "/api/v1/nothing/here").await.assert_error(404, "not_found");
    get(&s, "/api").await.assert_error(404, "not_found");
    get(&s, "/no-such-console-page.html").await.assert_error(404, "not_found");
    post(&s, "/api/v1/unknown", json!({})).await.assert_error(404, "not_found");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_405_with_allow() {
    let s = Server::start(HttpConfig::default()).await;
    let r = Req::new("PATCH", s.url("/api/v1/streams")).send().await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.allow.as_deref(), Some("GET, HEAD, POST"));
    let r = Req::new("PUT", s.url("/api/v1/streams/default")).json(&json!({})).send().await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.allow.as_deref(), Some("GET, HEAD, DELETE"));
    let r = Req::new("POST", s.url("/health")).json(&json!({})).send().await;
    r.assert_error(405, "method_not_allowed");
    assert_eq!(r.allow.as_deref(), Some("GET, HEAD"));
    let r = Req::new("DELETE", s.url("/api/v1/streams/default/topics/t/partitions/0/messages")).send().await;
    assert_eq!(r.allow.as_deref(), Some("GET"));
    r.assert_error(405, "method_not_allowed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_wherever_get_does() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "t", 1).await;
    for path in [
        "/health",
        "/ready",
        "/metrics",
        "/api/v1/status",
        "/api/v1/openapi.json",
        "/api/v1/streams",
        "/api/v1/streams/default",
        "/api/v1/streams/default/topics",
        "/api/v1/streams/default/topics/t",
        "/api/v1/streams/default/groups",
        "/",
    ] {
        let got = get(&s, path).await;
        assert_eq!(got.status, 200, "GET {path}");
        let head = Req::new("HEAD", s.url(path)).send().await;
        assert_eq!(head.status, 200, "HEAD {path}: {}", head.text());
        assert_eq!(head.content_type, got.content_type, "HEAD {path}");
        assert!(head.body.is_empty(), "HEAD {path} has a body");
    }
    // Errors are the same as GET's (without the body).
    let head = Req::new("HEAD", s.url("/api/v1/streams/nope")).send().await;
    assert_eq!((head.status, head.content_type.as_str()), (404, "application/json"));
    // A poll may commit an offset: it stays GET only.
    let r = Req::new("HEAD", s.url("/api/v1/streams/default/topics/t/partitions/0/messages")).send().await;
    assert_eq!((r.status, r.allow.as_deref()), (405, Some("GET")));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413() {
    let config = HttpConfig { max_body_bytes: 1024, ..HttpConfig::default() };
    let s = Server::start(config).await;
    topic(&s, "default", "t", 1).await;
    let big = "x".repeat(4096);
    post(&s, "/api/v1/streams/default/topics/t/messages", json!({"messages": [{"payload": big}]}))
        .await
        .assert_error(413, "payload_too_large");
    // Under the limit it is stored.
    let r = post(&s, "/api/v1/streams/default/topics/t/messages", json!({"messages": [{"payload": "small"}]})).await;
    assert_eq!(r.status, 201);
    // A message over the topic's own limit.
    let body = json!({"name": "tiny", "max_message_bytes": 100, "durability": "never"});
    assert_eq!(post(&s, "/api/v1/streams/default/topics", body).await.status, 201);
    post(&s, "/api/v1/streams/default/topics/tiny/messages", json!({"messages": [{"payload": "y".repeat(500)}]}))
        .await
        .assert_error(413, "message_too_large");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_json_bodies_are_415() {
    let s = Server::start(HttpConfig::default()).await;
    let url = s.url("/api/v1/streams");
    Req::new("POST", url.clone())
        .raw("text/plain", b"{\"name\":\"x\"}".to_vec())
        .send()
        .await
        .assert_error(415, "unsupported_media_type");
    Req::new("POST", url.clone())
        .raw("application/x-www-form-urlencoded", b"name=x".to_vec())
        .send()
        .await
        .assert_error(415, "unsupported_media_type");
    // No content type and no body on a POST that needs one.
    Req::new("POST", url.clone()).send().await.assert_error(415, "unsupported_media_type");
    // A DELETE with a body needs JSON too; without a body it is fine.
    Req::new("DELETE", s.url("/api/v1/streams/nope"))
        .raw("text/plain", b"x".to_vec())
        .send()
        .await
        .assert_error(415, "unsupported_media_type");
    delete(&s, "/api/v1/streams/nope").await.assert_error(404, "stream_not_found");
    // `application/…+json` is JSON.
    let r = Req::new("POST", url).raw("application/vnd.callboard+json", b"{\"name\":\"y\"}".to_vec()).send().await;
    assert_eq!(r.status, 201, "{}", r.text());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_host_and_origin_are_403() {
    let s = Server::start(HttpConfig::default()).await;
    let port = s.addr.port();
    Req::new("GET", s.url("/api/v1/streams"))
        .header("Host", "evil.example")
        .send()
        .await
        .assert_error(403, "forbidden_origin");
    Req::new("GET", s.url("/api/v1/streams"))
        .header("Host", &format!("127.0.0.1:{}", port + 1))
        .send()
        .await
        .assert_error(403, "forbidden_origin");
    // Refused before routing: unknown paths and health too.
    Req::new("GET", s.url("/health")).header("Host", "attacker:80").send().await.assert_error(403, "forbidden_origin");
    Req::new("POST", s.url("/api/v1/streams"))
        .header("Origin", "http://evil.example")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .assert_error(403, "forbidden_origin");
    Req::new("GET", s.url("/api/v1/streams"))
        .header("Origin", &format!("https://127.0.0.1:{port}"))
        .send()
        .await
        .assert_error(403, "forbidden_origin");
    assert!(s.broker.streams().await.unwrap().iter().all(|st| st.name != "x"), "a refused request changed state");
    // The listener's own names are fine, with or without an Origin.
    let r = Req::new("GET", s.url("/api/v1/streams")).header("Host", &format!("localhost:{port}")).send().await;
    assert_eq!(r.status, 200);
    let r =
        Req::new("GET", s.url("/api/v1/streams")).header("Origin", &format!("http://127.0.0.1:{port}")).send().await;
    assert_eq!(r.status, 200);
    let r =
        Req::new("GET", s.url("/api/v1/streams")).header("Origin", &format!("http://localhost:{port}")).send().await;
    assert_eq!(r.status, 200);
    // A second Origin line is checked too, not only the first.
    Req::new("POST", s.url("/api/v1/streams"))
        .header("Origin", &format!("http://127.0.0.1:{port}"))
        .header("Origin", "http://evil.example")
        .json(&json!({"name": "y"}))
        .send()
        .await
        .assert_error(403, "forbidden_origin");
    assert!(s.broker.streams().await.unwrap().iter().all(|st| st.name != "y"), "a refused request changed state");
    s.stop().await;
}
