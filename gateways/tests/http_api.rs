//! The REST API end to end over real sockets: every route of streams, topics, messages, consumer offsets, groups
//! and status, checked against the broker's state.

#![allow(clippy::unwrap_used)]

mod http_common;

use callboard_actors::JoinRequest;
use callboard_gateways::HttpConfig;
use http_common::*;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_create_list_describe_delete() {
    let s = Server::start(HttpConfig::default()).await;
    let r = post(&s, "/api/v1/streams", json!({"name": "orders"})).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let created = r.json();
    assert_eq!(created["name"], "orders");
    assert_eq!(created["topics"], 0);
    let list = get(&s, "/api/v1/streams").await.json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"orders") && names.contains(&"default"), "{names:?}");
    let one = get(&s, "/api/v1/streams/orders").await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["id"], created["id"]);
    post(&s, "/api/v1/streams", json!({"name": "orders"})).await.assert_error(409, "stream_exists");
    post(&s, "/api/v1/streams", json!({"name": "a/b"})).await.assert_error(400, "invalid_name");
    let r = delete(&s, "/api/v1/streams/orders").await;
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    get(&s, "/api/v1/streams/orders").await.assert_error(404, "stream_not_found");
    delete(&s, "/api/v1/streams/orders").await.assert_error(404, "stream_not_found");
    delete(&s, "/api/v1/streams/default").await.assert_error(409, "stream_protected");
    assert!(s.broker.streams().await.unwrap().iter().all(|st| st.name != "orders"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_create_describe_add_partitions_delete() {
    let s = Server::start(HttpConfig::default()).await;
    post(&s, "/api/v1/streams", json!({"name": "shop"})).await;
    let body = json!({"name": "orders", "partitions": 2, "durability": "interval:50", "retention_bytes": 1048576,
        "segment_bytes": 65536, "max_message_bytes": 4096, "dedup": {"max_ids": 100, "max_age_ms": 60000}});
    let r = post(&s, "/api/v1/streams/shop/topics", body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let details = r.json();
    assert_eq!(details["topic"]["name"], "orders");
    assert_eq!(details["topic"]["stream"], "shop");
    let config = &details["topic"]["config"];
    assert_eq!(config["partitions"], 2);
    assert_eq!(config["durability"], json!({"interval": {"ms": 50}}));
    assert_eq!(config["retention_bytes"], 1048576);
    assert_eq!(config["segment_bytes"], 65536);
    assert_eq!(config["max_message_bytes"], 4096);
    assert_eq!(config["dedup"], json!({"max_ids": 100, "max_age_ms": 60000}));
    let parts = details["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1]["partition"], 1);
    assert_eq!(parts[0]["health"], json!({"state": "online"}));
    assert_eq!(parts[0]["log_start"], 0);
    assert_eq!(parts[0]["log_end"], 0);
    let list = get(&s, "/api/v1/streams/shop/topics").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["config"]["durability"], json!({"interval": {"ms": 50}}));
    post(&s, "/api/v1/streams/shop/topics", json!({"name": "orders"})).await.assert_error(409, "topic_exists");
    post(&s, "/api/v1/streams/nope/topics", json!({"name": "t"})).await.assert_error(404, "stream_not_found");
    post(&s, "/api/v1/streams/shop/topics", json!({"name": "t", "durability": "sometimes"}))
        .await
        .assert_error(400, "invalid_config");
    post(&s, "/api/v1/streams/shop/topics", json!({"name": "t", "segment_bytes": 10}))
        .await
        .assert_error(400, "invalid_config");

    // Produce so that the description shows offsets and sizes.
    let r = post(
        &s,
        "/api/v1/streams/shop/topics/orders/messages",
        json!({"partitioning": {"partition": 1}, "messages": [{"payload": "a"}, {"payload": "b"}]}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let d = get(&s, "/api/v1/streams/shop/topics/orders").await.json();
    assert_eq!(d["partitions"][1]["log_end"], 2);
    assert!(d["partitions"][1]["size_bytes"].as_u64().unwrap() > 0);
    assert_eq!(d["partitions"][0]["log_end"], 0);

    let r = post(&s, "/api/v1/streams/shop/topics/orders/partitions", json!({"count": 3})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["partitions"].as_array().unwrap().len(), 5);
    assert_eq!(s.broker.topic("shop", "orders").await.unwrap().partitions.len(), 5);
    post(&s, "/api/v1/streams/shop/topics/orders/partitions", json!({"count": 9999}))
        .await
        .assert_error(409, "limit_exceeded");
    post(&s, "/api/v1/streams/shop/topics/orders/partitions", json!({"count": 0}))
        .await
        .assert_error(400, "invalid_config");

    assert_eq!(delete(&s, "/api/v1/streams/shop/topics/orders").await.status, 204);
    get(&s, "/api/v1/streams/shop/topics/orders").await.assert_error(404, "topic_not_found");
    delete(&s, "/api/v1/streams/shop/topics/orders").await.assert_error(404, "topic_not_found");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_and_poll_every_way() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "events", 3).await;
    let base = "/api/v1/streams/default/topics/events";
    let body = json!({"partitioning": {"partition": 2}, "messages": [
        {"payload": "one", "key": "k1", "headers": {"h": "v"}, "id": "67e55044-10b1-426f-9247-bb680e5fe0c8"},
        {"payload": "two"},
        {"payload": "three"}]});
    let r = post(&s, &format!("{base}/messages"), body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json(), json!({"sent": [{"partition": 2, "base_offset": 0, "stored": 3, "duplicates": 0}]}));

    let polled = get(&s, &format!("{base}/partitions/2/messages")).await.json();
    assert_eq!(polled["partition"], 2);
    assert_eq!(polled["next_offset"], 3);
    assert_eq!(polled["log_end"], 3);
    let m = &polled["messages"];
    assert_eq!(m.as_array().unwrap().len(), 3);
    assert_eq!(m[0]["payload"], "one");
    assert_eq!(m[0]["key"], "k1");
    assert_eq!(m[0]["headers"], json!({"h": "v"}));
    assert_eq!(m[0]["id"], "67e55044-10b1-426f-9247-bb680e5fe0c8");
    assert!(m[0]["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(m[1]["key"], serde_json::Value::Null);
    assert!(m[1].get("binary").is_none());

    let r = get(&s, &format!("{base}/partitions/2/messages?from=offset:1&count=1")).await.json();
    assert_eq!(r["messages"].as_array().unwrap().len(), 1);
    assert_eq!(r["messages"][0]["payload"], "two");
    assert_eq!(r["next_offset"], 2);
    let r = get(&s, &format!("{base}/partitions/2/messages?from=last")).await.json();
    assert_eq!(r["messages"][0]["payload"], "three");
    let ts = m[1]["timestamp"].as_i64().unwrap();
    let r = get(&s, &format!("{base}/partitions/2/messages?from=timestamp:{ts}")).await.json();
    assert!(r["messages"][0]["offset"].as_u64().unwrap() <= 1);
    let r = get(&s, &format!("{base}/partitions/2/messages?from=timestamp:{}", ts + 3_600_000)).await.json();
    assert!(r["messages"].as_array().unwrap().is_empty());
    get(&s, &format!("{base}/partitions/2/messages?from=offset:99")).await.assert_error(404, "offset_out_of_range");

    // A named consumer: `next` with auto-commit walks the partition.
    let next = format!("{base}/partitions/2/messages?from=next&consumer=c1&auto_commit=true&count=2");
    let r = get(&s, &next).await.json();
    assert_eq!(r["messages"].as_array().unwrap().len(), 2);
    let r = get(&s, &next).await.json();
    assert_eq!(r["messages"][0]["payload"], "three");
    assert_eq!(s.broker.get_offset("default", "events", 2, "c1").await.unwrap(), Some(3));

    // Key partitioning lands every message on the key's partition; message_key spreads by each key.
    let r = post(
        &s,
        &format!("{base}/messages"),
        json!({"partitioning": {"key": "user-1"},
        "messages": [{"payload": "x"}, {"payload": "y"}]}),
    )
    .await
    .json();
    let p = callboard_actors::partition_for_key(b"user-1", 3);
    assert_eq!(
        r["sent"],
        json!([{"partition": p, "base_offset": if p == 2 { 3 } else { 0 }, "stored": 2, "duplicates": 0}])
    );
    let r = post(
        &s,
        &format!("{base}/messages"),
        json!({"partitioning": "message_key",
        "messages": [{"payload": "1", "key": "a"}, {"payload": "2", "key": "b"}, {"payload": "3", "key": "c"}]}),
    )
    .await;
    assert_eq!(r.status, 201);
    let stored: u64 = r.json()["sent"].as_array().unwrap().iter().map(|x| x["stored"].as_u64().unwrap()).sum();
    assert_eq!(stored, 3);
    let r = post(&s, &format!("{base}/messages"), json!({"messages": [{"payload": "balanced"}]})).await;
    assert_eq!(r.status, 201);
    post(&s, &format!("{base}/messages"), json!({"partitioning": {"partition": 7}, "messages": [{"payload": "x"}]}))
        .await
        .assert_error(404, "partition_not_found");
    get(&s, &format!("{base}/partitions/7/messages")).await.assert_error(404, "partition_not_found");
    get(&s, &format!("{base}/partitions/0/messages?from=next")).await.assert_error(400, "invalid_request");
    get(&s, &format!("{base}/partitions/0/messages?count=0")).await.assert_error(400, "invalid_request");
    get(&s, &format!("{base}/partitions/0/messages?count=1001")).await.assert_error(400, "invalid_request");
    get(&s, &format!("{base}/partitions/0/messages?from=soon")).await.assert_error(400, "invalid_request");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_offsets_store_get_delete() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "t", 1).await;
    post(
        &s,
        "/api/v1/streams/default/topics/t/messages",
        json!({"messages": [{"payload": "a"}, {"payload": "b"}, {"payload": "c"}]}),
    )
    .await;
    let path = "/api/v1/streams/default/topics/t/partitions/0/consumers/reader";
    get(&s, path).await.assert_error(404, "no_offset");
    let r = put(&s, path, json!({"offset": 2})).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(get(&s, path).await.json(), json!({"consumer": "reader", "partition": 0, "offset": 2}));
    assert_eq!(s.broker.get_offset("default", "t", 0, "reader").await.unwrap(), Some(2));
    let r = get(&s, "/api/v1/streams/default/topics/t/partitions/0/messages?from=next&consumer=reader").await.json();
    assert_eq!(r["messages"][0]["payload"], "c");
    put(&s, path, json!({"offset": 50})).await.assert_error(404, "offset_out_of_range");
    put(&s, path, json!({"offset": -1})).await.assert_error(400, "invalid_request");
    put(&s, "/api/v1/streams/default/topics/none/partitions/0/consumers/reader", json!({"offset": 0}))
        .await
        .assert_error(404, "topic_not_found");
    assert_eq!(delete(&s, path).await.status, 204);
    get(&s, path).await.assert_error(404, "no_offset");
    delete(&s, path).await.assert_error(404, "no_offset");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_list_describe_reset_delete() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "jobs", 2).await;
    for p in 0..2 {
        post(
            &s,
            "/api/v1/streams/default/topics/jobs/messages",
            json!({"partitioning": {"partition": p}, "messages": [{"payload": "1"}, {"payload": "2"}]}),
        )
        .await;
    }
    assert_eq!(get(&s, "/api/v1/streams/default/groups").await.json(), json!([]));
    get(&s, "/api/v1/streams/default/groups/g1").await.assert_error(404, "group_not_found");

    // A group exists once a member joined; with its member gone its offsets can be reset.
    post(&s, "/api/v1/streams/default/groups/g1/reset-offsets", json!({"topic": "jobs", "to": "latest"}))
        .await
        .assert_error(404, "group_not_found");
    let first = s.broker.join_group("default", "g1", JoinRequest::new("first", &["jobs"])).await.unwrap();
    s.broker.leave_group("default", "g1", &first.member_id).await.unwrap();
    let r = post(&s, "/api/v1/streams/default/groups/g1/reset-offsets", json!({"topic": "jobs", "to": "latest"})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let g = r.json();
    assert_eq!(g["state"]["name"], "g1");
    assert_eq!(g["state"]["members"], json!([]));
    let lag: Vec<u64> = g["partitions"].as_array().unwrap().iter().map(|p| p["lag"].as_u64().unwrap()).collect();
    assert_eq!(lag, vec![0, 0]);
    let r = post(&s, "/api/v1/streams/default/groups/g1/reset-offsets", json!({"topic": "jobs", "to": {"offset": 1}}))
        .await
        .json();
    assert_eq!(r["partitions"][0]["committed"], 1);
    assert_eq!(r["partitions"][0]["lag"], 1);
    let r = post(&s, "/api/v1/streams/default/groups/g1/reset-offsets", json!({"topic": "jobs", "to": "earliest"}))
        .await
        .json();
    assert_eq!(r["partitions"][1]["lag"], 2);
    assert_eq!(r["partitions"][1]["log_end"], 2);
    post(&s, "/api/v1/streams/default/groups/g1/reset-offsets", json!({"topic": "jobs", "to": {"timestamp": 0}})).await;
    post(&s, "/api/v1/streams/default/groups/g1/reset-offsets", json!({"topic": "jobs", "to": "sideways"}))
        .await
        .assert_error(400, "invalid_request");
    post(&s, "/api/v1/streams/default/groups/g1/reset-offsets", json!({"topic": "nope", "to": "latest"}))
        .await
        .assert_error(404, "topic_not_found");
    assert_eq!(get(&s, "/api/v1/streams/default/groups").await.json(), json!(["g1"]));

    // A member: described with its assignment as objects; the group cannot be reset or deleted meanwhile.
    let member = s.broker.join_group("default", "g1", JoinRequest::new("worker", &["jobs"])).await.unwrap();
    let d = get(&s, "/api/v1/streams/default/groups/g1").await.json();
    assert_eq!(d["state"]["members"][0]["member_id"], member.member_id);
    assert_eq!(d["state"]["members"][0]["client_id"], "worker");
    let assigned = d["state"]["members"][0]["assignment"].as_array().unwrap();
    assert_eq!(assigned.len(), 2);
    assert_eq!(assigned[0]["topic"], "jobs");
    assert!(assigned[0]["partition"].is_u64());
    post(&s, "/api/v1/streams/default/groups/g1/reset-offsets", json!({"topic": "jobs", "to": "latest"}))
        .await
        .assert_error(409, "group_not_empty");
    delete(&s, "/api/v1/streams/default/groups/g1").await.assert_error(409, "group_not_empty");
    s.broker.leave_group("default", "g1", &member.member_id).await.unwrap();
    assert_eq!(delete(&s, "/api/v1/streams/default/groups/g1").await.status, 204);
    get(&s, "/api/v1/streams/default/groups/g1").await.assert_error(404, "group_not_found");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_listeners_and_connections() {
    let s = Server::start(HttpConfig::default()).await;
    topic(&s, "default", "t", 2).await;
    let r = get(&s, "/api/v1/status").await;
    assert_eq!(r.status, 200);
    let st = r.json();
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
    assert!(st["uptime_ms"].is_u64());
    // The internal audit topic `default/$audit` (one partition) counts too.
    assert_eq!(st["topics"], 2);
    assert_eq!(st["partitions_online"], 3);
    assert_eq!(st["partitions_offline"], 0);
    assert_eq!(st["restarts"], 0);
    assert_eq!(st["listeners"], json!([{"name": "http", "addr": s.addr.to_string()}]));
    // This request's own connection is open while it is answered.
    assert!(st["connections"]["http"].as_u64().unwrap() >= 1, "{st}");
    s.stop().await;
}
