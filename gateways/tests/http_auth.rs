//! Authentication and authorization of the HTTP gateway, through a real HTTP client: 401 with a challenge on every
//! kind of route without credentials (the probes and the console's assets stay open), Basic and Bearer, a read-only
//! user who cannot write and sees only what was granted, live grant changes, revoked tokens and disabled users
//! refused on their next request, `/metrics` behind `read_metrics` unless public, the audit log, and the REST
//! login, user and token lifecycles.

#![allow(clippy::unwrap_used)]

mod http_common;

use std::time::{Duration, Instant};

use callboard_gateways::HttpConfig;
use http_common::*;
use serde_json::{Value, json};

const READER_PASSWORD: &str = "reader-password";

fn assert_unauthenticated(r: &Reply, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.text());
    r.assert_error(401, "unauthenticated");
    assert!(r.challenges.iter().any(|c| c.starts_with("Bearer realm=\"callboard\"")), "{what}: {:?}", r.challenges);
}

async fn as_user(s: &Server, method: &str, path: &str, credentials: &str, body: Option<Value>) -> Reply {
    let req = Req::new(method, s.url(path)).auth(credentials);
    match body {
        Some(body) => req.json(&body).send().await,
        None => req.send().await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_the_probes_needs_credentials() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "t", 1).await;
    let routes: &[(&str, &str, Option<Value>)] = &[
        ("GET", "/api/v1/status", None),
        ("GET", "/api/v1/openapi.json", None),
        ("GET", "/api/v1/streams", None),
        ("POST", "/api/v1/streams", Some(json!({"name": "s"}))),
        ("DELETE", "/api/v1/streams/default", None),
        ("GET", "/api/v1/streams/default/topics", None),
        ("GET", "/api/v1/streams/default/topics/t", None),
        ("DELETE", "/api/v1/streams/default/topics/t", None),
        ("POST", "/api/v1/streams/default/topics/t/messages", Some(json!({"messages": [{"payload": "x"}]}))),
        ("GET", "/api/v1/streams/default/topics/t/partitions/0/messages", None),
        ("PUT", "/api/v1/streams/default/topics/t/partitions/0/consumers/c", Some(json!({"offset": 0}))),
        ("GET", "/api/v1/streams/default/groups", None),
        ("DELETE", "/api/v1/streams/default/groups/g", None),
        ("GET", "/api/v1/whoami", None),
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", Some(json!({"name": "eve", "password": "eve-password"}))),
        ("PATCH", "/api/v1/users/admin", Some(json!({"enabled": false}))),
        ("POST", "/api/v1/users/admin/grants", Some(json!({"global": "read_all"}))),
        ("GET", "/api/v1/tokens", None),
        ("POST", "/api/v1/tokens", Some(json!({"name": "x"}))),
        ("DELETE", "/api/v1/tokens/abc", None),
        ("GET", "/api/v1/no-such-route", None),
        // Spellings the router may decode differently are not a way around it.
        ("GET", "/%61pi/v1/status", None),
        ("GET", "/api/v1/%73treams", None),
        ("GET", "/metrics", None),
    ];
    for (method, path, body) in routes {
        let req = Req::new(method, s.url(path)).anonymous();
        let r = match body {
            Some(body) => req.json(body).send().await,
            None => req.send().await,
        };
        assert_unauthenticated(&r, &format!("{method} {path}"));
        assert!(r.challenges.iter().any(|c| c.starts_with("Basic ")), "{method} {path}: {:?}", r.challenges);
    }
    // Nothing happened.
    assert!(s.broker.topic("default", "t").await.is_ok());
    assert_eq!(s.broker.users().len(), 1);
    // A script can ask for no Basic challenge (no browser password dialog).
    let r = Req::new("GET", s.url("/api/v1/streams")).anonymous().header("x-requested-with", "fetch").send().await;
    assert_unauthenticated(&r, "x-requested-with");
    assert_eq!(r.challenges.len(), 1, "{:?}", r.challenges);
    // Wrong credentials of every kind.
    for credentials in [basic("admin", "wrong-password"), bearer("cbt_nope_nope"), "Digest x".into(), "Basic %%".into()]
    {
        let r = Req::new("GET", s.url("/api/v1/streams")).auth(&credentials).send().await;
        assert_unauthenticated(&r, &credentials);
    }
    // The probes and the console's static assets need nothing.
    for path in ["/health", "/ready"] {
        assert_eq!(Req::new("GET", s.url(path)).anonymous().send().await.status, 200, "{path}");
        assert_eq!(Req::new("HEAD", s.url(path)).anonymous().send().await.status, 200, "{path}");
    }
    let console = Req::new("GET", s.url("/")).anonymous().send().await;
    assert_eq!(console.status, 200);
    assert!(console.content_type.starts_with("text/html"), "{}", console.content_type);
    // The admin's Basic credentials work (the test client's default).
    assert_eq!(get(&s, "/api/v1/streams").await.status, 200);
    s.stop().await;
}

/// Polls the audit log until an entry of `user` with `action` shows up (it is appended in the background).
async fn wait_audited(s: &Server, user: &str, action: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = get(s, "/api/v1/streams/default/topics/$audit/partitions/0/messages?count=1000").await;
        assert_eq!(r.status, 200, "{}", r.text());
        let found = r.json()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| serde_json::from_str::<Value>(m["payload"].as_str().unwrap()).unwrap())
            .find(|e| e["action"] == action && e["user"] == user);
        if let Some(entry) = found {
            return entry;
        }
        assert!(Instant::now() < deadline, "no {action} of {user} in the audit log");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_user_reads_what_was_granted_and_nothing_else() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "shop", "orders", 1).await;
    topic(&s, "shop", "secret", 1).await;
    topic(&s, "default", "t", 1).await;
    let r = post(&s, "/api/v1/streams/shop/topics/orders/messages", json!({"messages": [{"payload": "o1"}]})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = post(&s, "/api/v1/users", json!({"name": "reader", "password": READER_PASSWORD})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let grant = json!({"topic": {"stream": "shop", "topic": "orders", "permission": "read"}});
    let r = post(&s, "/api/v1/users/reader/grants", grant.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["grants"]["topics"]["shop"]["orders"], json!(["read"]));
    let reader = basic("reader", READER_PASSWORD);

    // Reads what it was granted...
    let me = as_user(&s, "GET", "/api/v1/whoami", &reader, None).await;
    assert_eq!(me.json()["name"], "reader");
    let r = as_user(&s, "GET", "/api/v1/streams/shop/topics/orders/partitions/0/messages", &reader, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["messages"][0]["payload"], "o1");
    let consumer = "/api/v1/streams/shop/topics/orders/partitions/0/consumers/c";
    assert_eq!(as_user(&s, "PUT", consumer, &reader, Some(json!({"offset": 1}))).await.status, 204);
    assert_eq!(as_user(&s, "GET", "/api/v1/streams/shop/topics/orders", &reader, None).await.status, 200);
    assert_eq!(as_user(&s, "GET", "/api/v1/status", &reader, None).await.status, 200);
    // ...sees only that...
    let streams = as_user(&s, "GET", "/api/v1/streams", &reader, None).await.json();
    let names: Vec<&str> = streams.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["shop"]);
    let topics = as_user(&s, "GET", "/api/v1/streams/shop/topics", &reader, None).await.json();
    let names: Vec<&str> = topics.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["orders"]);
    let default = as_user(&s, "GET", "/api/v1/streams/default/topics", &reader, None).await.json();
    assert_eq!(default, json!([]));
    // ...and may do nothing else.
    let produce = json!({"messages": [{"payload": "no"}]});
    let refused: &[(&str, &str, Option<Value>)] = &[
        ("POST", "/api/v1/streams/shop/topics/orders/messages", Some(produce.clone())),
        ("GET", "/api/v1/streams/shop/topics/secret/partitions/0/messages", None),
        ("GET", "/api/v1/streams/shop/topics/secret", None),
        ("GET", "/api/v1/streams/default", None),
        ("GET", "/api/v1/streams/default/groups", None),
        ("POST", "/api/v1/streams", Some(json!({"name": "mine"}))),
        ("DELETE", "/api/v1/streams/shop", None),
        ("POST", "/api/v1/streams/shop/topics", Some(json!({"name": "new"}))),
        ("DELETE", "/api/v1/streams/shop/topics/orders", None),
        ("POST", "/api/v1/streams/shop/topics/orders/partitions", Some(json!({"count": 1}))),
        ("GET", "/api/v1/streams/default/topics/$audit/partitions/0/messages", None),
        ("GET", "/api/v1/users", None),
        ("GET", "/api/v1/users/admin", None),
        ("POST", "/api/v1/users", Some(json!({"name": "eve", "password": "eve-password"}))),
        ("PATCH", "/api/v1/users/reader", Some(json!({"enabled": true}))),
        ("POST", "/api/v1/users/reader/grants", Some(json!({"global": "write_all"}))),
        ("GET", "/api/v1/tokens?user=admin", None),
        ("POST", "/api/v1/tokens", Some(json!({"name": "x", "user": "admin"}))),
        ("GET", "/metrics", None),
    ];
    for (method, path, body) in refused {
        let r = as_user(&s, method, path, &reader, body.clone()).await;
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
        r.assert_error(403, "forbidden");
    }
    assert!(s.broker.topic("shop", "orders").await.unwrap().partitions[0].log_end == 1, "nothing was produced");
    // A refused administrative request is in the audit log, as the user's.
    let entry = wait_audited(&s, "reader", "create_stream").await;
    assert_eq!((entry["user"].clone(), entry["ok"].clone()), (json!("reader"), json!(false)), "{entry}");

    // A grant applies from the next request on.
    let write = json!({"topic": {"stream": "shop", "topic": "orders", "permission": "write"}});
    assert_eq!(post(&s, "/api/v1/users/reader/grants", write.clone()).await.status, 200);
    let path = "/api/v1/streams/shop/topics/orders/messages";
    assert_eq!(as_user(&s, "POST", path, &reader, Some(produce.clone())).await.status, 201);
    let r = Req::new("DELETE", s.url("/api/v1/users/reader/grants")).json(&write).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(as_user(&s, "POST", path, &reader, Some(produce.clone())).await.status, 403);

    // Bearer: the reader's own token works like its password, and stops working once revoked.
    let created = as_user(&s, "POST", "/api/v1/tokens", &reader, Some(json!({"name": "ci"}))).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(token.starts_with("cbt_"), "{token}");
    let id = created["info"]["id"].as_str().unwrap().to_string();
    let by_token = bearer(&token);
    assert_eq!(as_user(&s, "GET", "/api/v1/whoami", &by_token, None).await.json()["name"], "reader");
    let mine = as_user(&s, "GET", "/api/v1/tokens", &by_token, None).await.json();
    assert_eq!(mine.as_array().unwrap().len(), 1);
    assert_eq!(mine[0]["id"], id.as_str());
    assert!(mine[0].get("token").is_none(), "no secret in listings");
    assert_eq!(delete(&s, &format!("/api/v1/tokens/{id}")).await.status, 204);
    assert_unauthenticated(&as_user(&s, "GET", "/api/v1/whoami", &by_token, None).await, "revoked token");

    // A disabled user is refused at once, and can log in again when enabled.
    let r = Req::new("PATCH", s.url("/api/v1/users/reader")).json(&json!({"enabled": false})).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["enabled"], false);
    assert_unauthenticated(&as_user(&s, "GET", "/api/v1/whoami", &reader, None).await, "disabled user");
    let r = Req::new("PATCH", s.url("/api/v1/users/reader")).json(&json!({"enabled": true})).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(as_user(&s, "GET", "/api/v1/whoami", &reader, None).await.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_read_metrics_unless_public() {
    let s = Server::start(HttpConfig::default()).await;
    assert_unauthenticated(&Req::new("GET", s.url("/metrics")).anonymous().send().await, "metrics");
    let r = post(&s, "/api/v1/users", json!({"name": "scraper", "password": "scraper-password"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let scraper = basic("scraper", "scraper-password");
    as_user(&s, "GET", "/metrics", &scraper, None).await.assert_error(403, "forbidden");
    assert_eq!(post(&s, "/api/v1/users/scraper/grants", json!({"global": "read_metrics"})).await.status, 200);
    let r = as_user(&s, "GET", "/metrics", &scraper, None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("callboard_partitions"), "{}", r.text());
    // The metric permission opens nothing else.
    as_user(&s, "GET", "/api/v1/users", &scraper, None).await.assert_error(403, "forbidden");
    assert_eq!(get(&s, "/metrics").await.status, 200, "the admin holds read_metrics");
    s.stop().await;

    let s = Server::start(HttpConfig { metrics_public: true, ..HttpConfig::default() }).await;
    let r = Req::new("GET", s.url("/metrics")).anonymous().send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("callboard_partitions"));
    // Only the metrics are public.
    assert_unauthenticated(&Req::new("GET", s.url("/api/v1/streams")).anonymous().send().await, "streams");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_users_and_tokens_over_rest() {
    let s = Server::start(HttpConfig::default()).await;
    // Login: a 12-hour token named console-…, which then authenticates; revoking it logs out.
    let r = Req::new("POST", s.url("/api/v1/login"))
        .anonymous()
        .json(&json!({"user": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let login = r.json();
    let token = bearer(login["token"].as_str().unwrap());
    let info = &login["info"];
    assert!(info["name"].as_str().unwrap().starts_with("console-"), "{info}");
    let lifetime = info["expires_ms"].as_i64().unwrap() - info["created_ms"].as_i64().unwrap();
    assert_eq!(lifetime, 12 * 3600 * 1000);
    assert_eq!(as_user(&s, "GET", "/api/v1/whoami", &token, None).await.json()["name"], "admin");
    let path = format!("/api/v1/tokens/{}", info["id"].as_str().unwrap());
    assert_eq!(as_user(&s, "DELETE", &path, &token, None).await.status, 204);
    assert_unauthenticated(&as_user(&s, "GET", "/api/v1/whoami", &token, None).await, "logged out");
    as_user(&s, "DELETE", &path, &basic("admin", ADMIN_PASSWORD), None).await.assert_error(404, "token_not_found");
    let r = Req::new("POST", s.url("/api/v1/login"))
        .anonymous()
        .json(&json!({"user": "admin", "password": "not-the-password"}))
        .send()
        .await;
    assert_unauthenticated(&r, "wrong password at login");
    // The console's own requests (X-Requested-With) get no Basic challenge, the login's included: a browser would
    // hold the request for its password dialog.
    let r = Req::new("POST", s.url("/api/v1/login"))
        .anonymous()
        .header("x-requested-with", "callboard-console")
        .json(&json!({"user": "admin", "password": "not-the-password"}))
        .send()
        .await;
    assert_unauthenticated(&r, "wrong password at the console's login");
    assert_eq!(r.challenges, ["Bearer realm=\"callboard\""]);
    Req::new("POST", s.url("/api/v1/login"))
        .anonymous()
        .json(&json!({"user": "admin"}))
        .send()
        .await
        .assert_error(400, "invalid_request");

    // Users: create, list, describe, change the password, delete.
    let body = json!({"name": "alice", "password": "alice-password", "grants": {"global": ["read_all"]}});
    let r = post(&s, "/api/v1/users", body.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["grants"]["global"], json!(["read_all"]));
    assert!(r.json().get("password").is_none());
    post(&s, "/api/v1/users", body).await.assert_error(409, "user_exists");
    post(&s, "/api/v1/users", json!({"name": "bob", "password": "short"})).await.assert_error(400, "invalid_config");
    post(&s, "/api/v1/users", json!({"name": "b/b", "password": "long-enough"}))
        .await
        .assert_error(400, "invalid_config");
    let users = get(&s, "/api/v1/users").await.json();
    let names: Vec<&str> = users.as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "alice"]);
    let alice = basic("alice", "alice-password");
    assert_eq!(as_user(&s, "GET", "/api/v1/users/alice", &alice, None).await.json()["name"], "alice");
    // Alice changes her own password; the old one stops working at once.
    let r = as_user(&s, "PATCH", "/api/v1/users/alice", &alice, Some(json!({"password": "alice-new-password"}))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_unauthenticated(&as_user(&s, "GET", "/api/v1/whoami", &alice, None).await, "old password");
    let alice = basic("alice", "alice-new-password");
    assert_eq!(as_user(&s, "GET", "/api/v1/whoami", &alice, None).await.status, 200);
    // Tokens made for her by the admin are listed per user; her deletion takes them along.
    let r = post(&s, "/api/v1/tokens", json!({"name": "for-alice", "user": "alice", "expires_in_ms": 60000})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let alice_token = bearer(r.json()["token"].as_str().unwrap());
    assert_eq!(get(&s, "/api/v1/tokens?user=alice").await.json().as_array().unwrap().len(), 1);
    post(&s, "/api/v1/tokens", json!({"name": "x", "expires_in_ms": 0})).await.assert_error(400, "invalid_config");
    post(&s, "/api/v1/tokens", json!({"name": "été"})).await.assert_error(400, "invalid_config");
    let r = post(&s, "/api/v1/tokens", json!({"name": "for-alice", "user": "alice"})).await;
    r.assert_error(409, "token_exists");
    let r = Req::new("PATCH", s.url("/api/v1/users/alice")).json(&json!([null, null])).send().await;
    r.assert_error(400, "invalid_request");
    let long = "p".repeat(257);
    post(&s, "/api/v1/users", json!({"name": "carol", "password": long})).await.assert_error(400, "invalid_config");
    post(&s, "/api/v1/tokens", json!({"name": "x", "user": "nobody"})).await.assert_error(404, "user_not_found");
    // Grants revoked by body.
    let r = Req::new("DELETE", s.url("/api/v1/users/alice/grants")).json(&json!({"global": "read_all"})).send().await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["grants"]["global"], json!([]));
    assert_eq!(delete(&s, "/api/v1/users/alice").await.status, 204);
    get(&s, "/api/v1/users/alice").await.assert_error(404, "user_not_found");
    delete(&s, "/api/v1/users/alice").await.assert_error(404, "user_not_found");
    assert_unauthenticated(&as_user(&s, "GET", "/api/v1/whoami", &alice, None).await, "deleted user");
    assert_unauthenticated(&as_user(&s, "GET", "/api/v1/whoami", &alice_token, None).await, "deleted user's token");
    let entry = wait_audited(&s, "admin", "delete_user").await;
    assert_eq!((entry["user"].clone(), entry["ok"].clone()), (json!("admin"), json!(true)), "{entry}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_from_an_address_do_not_lock_out_its_verified_token() {
    let s = Server::start(HttpConfig::default()).await;
    let r = post(&s, "/api/v1/tokens", json!({"name": "mine"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let good = bearer(r.json()["token"].as_str().unwrap());
    assert_eq!(as_user(&s, "GET", "/api/v1/whoami", &good, None).await.status, 200);
    // Wrong tokens from the same address until its token logins are delayed...
    let mut delayed = false;
    for i in 0..6 {
        let r = as_user(&s, "GET", "/api/v1/whoami", &bearer(&format!("cbt_{i}_wrong")), None).await;
        assert_unauthenticated(&r, "wrong token");
        delayed |= r.json()["message"].as_str().unwrap().contains("too many failed logins");
    }
    assert!(delayed, "the wrong tokens were rate-limited");
    // ...and a change of users (which makes passwords be verified again): the verified token still works.
    assert_eq!(post(&s, "/api/v1/users", json!({"name": "dave", "password": "dave-password"})).await.status, 201);
    assert_eq!(as_user(&s, "GET", "/api/v1/whoami", &good, None).await.status, 200);
    s.stop().await;
}
