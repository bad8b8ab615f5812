//! Produce 1000 messages to the topic `demo` of a running Callboard broker with the SDK's batching producer.
//!
//! ```text
//! cargo run --example producer [ADDR]
//! ```
//!
//! `ADDR` is the broker's TCP address (default `127.0.0.1:7070`). It logs in as `CALLBOARD_USER` with
//! `CALLBOARD_PASSWORD` (or with `CALLBOARD_TOKEN`); for the broker's first-start admin, whose password is in
//! `callboard-data/admin-credentials`: `CALLBOARD_USER=admin CALLBOARD_PASSWORD=…`. The topic `demo` (stream `default`, three
//! partitions) is created when missing. The example prints how many messages the broker acknowledged.

#![allow(clippy::print_stdout)]

use anyhow::Context;
use callboard_client::{
    Client, ClientConfig, ClientError, Credentials, ErrorCode, Message, Producer, ProducerConfig, TopicConfig,
};

const STREAM: &str = "default";
const TOPIC: &str = "demo";
const MESSAGES: u64 = 1000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7070".to_string());
    let mut config = ClientConfig::tcp(addr.as_str());
    config.credentials = Credentials::from_env();
    anyhow::ensure!(config.credentials.is_some(), "set CALLBOARD_USER and CALLBOARD_PASSWORD (or CALLBOARD_TOKEN)");
    let client = Client::connect(config).await.with_context(|| format!("connecting to {addr}"))?;
    ensure_topic(&client).await?;

    let mut producer = Producer::new(client.clone(), ProducerConfig::new(STREAM, TOPIC)).await?;
    for i in 0..MESSAGES {
        let message = Message::new(format!("message {i}")).with_key(format!("key-{}", i % 10));
        producer.send(message).await?;
    }
    producer.flush().await?;
    println!("{} of {MESSAGES} messages acknowledged by {addr}", producer.acknowledged());
    producer.close().await?;
    Ok(())
}

/// Creates the stream and topic unless they exist.
async fn ensure_topic(client: &Client) -> anyhow::Result<()> {
    match client.create_stream(STREAM).await {
        Ok(_) => {}
        Err(ClientError::Server { code: ErrorCode::StreamExists, .. }) => {}
        Err(e) => return Err(e).context("creating the stream"),
    }
    match client.create_topic(STREAM, TOPIC, TopicConfig { partitions: 3, ..TopicConfig::default() }).await {
        Ok(_) => println!("created topic {STREAM}/{TOPIC}"),
        Err(ClientError::Server { code: ErrorCode::TopicExists, .. }) => {}
        Err(e) => return Err(e).context("creating the topic"),
    }
    Ok(())
}
