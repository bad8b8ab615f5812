//! Consume the topic `demo` of a running Callboard broker as a member of the consumer group `demo-group`, print the
//! messages and commit after each poll.
//!
//! ```text
//! cargo run --example consumer [ADDR]
//! ```
//!
//! `ADDR` is the broker's TCP address (default `127.0.0.1:7070`). It logs in as `CALLBOARD_USER` with
//! `CALLBOARD_PASSWORD` (or with `CALLBOARD_TOKEN`); for the broker's first-start admin, whose password is in
//! `callboard-data/admin-credentials`: `CALLBOARD_USER=admin CALLBOARD_PASSWORD=…`. Run `cargo run --example producer` first. The
//! example stops after two seconds without new messages; run it again and it continues after the committed offsets.

#![allow(clippy::print_stdout)]

use std::time::Duration;

use anyhow::Context;
use callboard_client::{Client, ClientConfig, Consumer, ConsumerConfig, Credentials};

const STREAM: &str = "default";
const TOPIC: &str = "demo";
const GROUP: &str = "demo-group";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:7070".to_string());
    let mut config = ClientConfig::tcp(addr.as_str());
    config.credentials = Credentials::from_env();
    anyhow::ensure!(config.credentials.is_some(), "set CALLBOARD_USER and CALLBOARD_PASSWORD (or CALLBOARD_TOKEN)");
    let client = Client::connect(config).await.with_context(|| format!("connecting to {addr}"))?;
    let config = ConsumerConfig { max_wait: Duration::from_secs(1), ..ConsumerConfig::group(STREAM, TOPIC, GROUP) };
    let mut consumer = Consumer::new(client, config).await?;
    let mut total = 0u64;
    let mut idle = 0;
    while idle < 2 {
        let consumed = consumer.poll().await?;
        if consumed.is_empty() {
            idle += 1;
            continue;
        }
        idle = 0;
        for c in &consumed {
            let payload = String::from_utf8_lossy(&c.message.payload);
            println!("{}/{} @{}: {payload}", c.topic, c.partition, c.message.offset);
        }
        total += consumed.len() as u64;
        consumer.commit().await?;
    }
    println!("consumed {total} messages as a member of {GROUP}");
    consumer.close().await?;
    Ok(())
}
