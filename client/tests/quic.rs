//! The core flows over QUIC: admin calls, produce and poll, pipelined batches, and the producer.

mod common;

use std::time::Duration;

use bytes::Bytes;
use callboard_client::{
    Client, ClientConfig, ClientError, Message, Partitioning, PollingStrategy, ProduceTarget, Producer, ProducerConfig,
    Transport, encode_batch,
};
use common::{Fixture, topic_config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn core_flows_over_quic() -> anyhow::Result<()> {
    let fixture = Fixture::start_with_quic().await?;
    let (addr, cert) = fixture.quic_target();
    let client = fixture.quic_client().await?;

    client.ping().await?;
    client.status().await?;
    client.create_stream("q").await?;
    client.create_topic("q", "t", topic_config(1)).await?;
    assert_eq!(client.topics("q").await?.len(), 1);

    let sent = client.send("q", "t", Partitioning::Balanced, &[Message::new("hello"), Message::new("quic")]).await?;
    assert_eq!(sent[0].stored, 2);
    let polled = client.poll("q", "t", 0, PollingStrategy::First, 10, Duration::from_millis(100), None).await?;
    assert_eq!(polled.messages.iter().map(|m| m.payload.clone()).collect::<Vec<_>>(), vec!["hello", "quic"]);

    let answers: Vec<_> = (0..200)
        .map(|i| {
            let batch = Bytes::from(encode_batch(&[Message::new(format!("{i}"))], 1_700_000_000_000, None));
            client.produce_batch("q", "t", ProduceTarget::Partition(0), batch)
        })
        .collect();
    for (i, answer) in answers.into_iter().enumerate() {
        assert_eq!(answer.await?.base_offset, 2 + i as u64, "answered in order");
    }
    let polled = client.poll("q", "t", 0, PollingStrategy::Offset(2), 500, Duration::ZERO, None).await?;
    assert_eq!(polled.messages.len(), 200);
    assert!(polled.messages.iter().enumerate().all(|(i, m)| m.payload == i.to_string()));

    let mut producer = Producer::new(client.clone(), ProducerConfig::new("q", "t")).await?;
    for i in 0..1000 {
        producer.send(Message::new(format!("p{i}"))).await?;
    }
    producer.close().await?;
    assert_eq!(client.topic("q", "t").await?.partitions[0].log_end, 1202);

    // A certificate that does not match the server is refused.
    let mut wrong = ClientConfig::new(Transport::quic(addr.clone(), cert.clone()));
    if let Transport::Quic { server_name, .. } = &mut wrong.transport {
        *server_name = "example.com".into();
    }
    assert!(matches!(Client::connect(wrong).await, Err(ClientError::Quic(_))));
    fixture.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotent_retry_over_quic_is_stored_once() -> anyhow::Result<()> {
    let fixture = Fixture::start_with_quic().await?;
    let client = fixture.quic_client().await?;
    client.create_stream("q").await?;
    client.create_topic("q", "idem", topic_config(1)).await?;
    let producer_id = client.init_producer().await?;
    let info = callboard_client::ProducerInfo { producer_id, producer_epoch: 0, base_sequence: 0 };
    let messages: Vec<Message> = (0..5).map(|i| Message::new(format!("{i}"))).collect();
    let batch = Bytes::from(encode_batch(&messages, 1_700_000_000_000, Some(info)));
    // The original and two retries pipelined on one stream, as after lost acknowledgements.
    let answers: Vec<_> =
        (0..3).map(|_| client.produce_batch("q", "idem", ProduceTarget::Partition(0), batch.clone())).collect();
    for answer in answers {
        let sent = answer.await?;
        assert_eq!((sent.base_offset, sent.stored + sent.duplicates), (0, 5));
    }
    let polled = client.poll("q", "idem", 0, PollingStrategy::First, 100, Duration::ZERO, None).await?;
    assert_eq!(polled.messages.len(), 5, "stored once");
    assert_eq!(polled.log_end, 5);
    drop(client);
    fixture.stop().await
}
