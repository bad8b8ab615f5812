//! A data directory written before users existed (metadata without an `auth` section) gets its `admin` at the first
//! start of this version, the same way a new one does, and keeps every stream, topic and message.

use callboard_actors::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_directory_from_before_security_gets_an_admin_and_keeps_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = || BrokerConfig { arbiters: 2, ..BrokerConfig::with_data_dir(dir.path()) };
    let broker = Broker::start(config()).await.expect("start");
    broker.create_stream("old").await.expect("stream");
    broker.create_topic("old", "kept", TopicConfig::default()).await.expect("topic");
    broker.send("old", "kept", Partitioning::Balanced, vec![Message::new("from before")]).await.expect("send");
    broker.shutdown().await.expect("shutdown");

    // What an earlier version left: metadata without users, and no admin-credentials file.
    let path = dir.path().join("metadata.json");
    let mut metadata: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    assert!(metadata.as_object_mut().expect("object").remove("auth").is_some(), "this version writes `auth`");
    std::fs::write(&path, serde_json::to_vec(&metadata).expect("encode")).expect("write");
    let credentials = auth::admin_credentials_path(dir.path());
    std::fs::remove_file(&credentials).expect("remove credentials");

    let broker = Broker::start(config()).await.expect("start on the old directory");
    let text = std::fs::read_to_string(&credentials).expect("a new admin-credentials file");
    let password = text
        .lines()
        .find_map(|l| l.strip_prefix("password = \"").and_then(|p| p.strip_suffix('"')))
        .expect("password line");
    let admin = broker.login("admin", password, None).await.expect("the new admin logs in");
    assert!(admin.has(GlobalPermission::ManageUsers));
    let polled = broker.poll("old", "kept", 0, PollRequest::new(PollingStrategy::First)).await.expect("poll");
    assert_eq!(polled.messages.len(), 1);
    assert_eq!(&polled.messages[0].payload[..], b"from before");
    broker.shutdown().await.expect("shutdown");
}
