//! Consumer groups through the embedded API: membership and generations, cooperative rebalancing, generation
//! fencing, at-least-once and at-most-once delivery, exact lag, persistence across a restart, add-partitions,
//! admin calls, limits, and a property test over random churn.

use std::collections::BTreeSet;
use std::time::Duration;

use callboard_actors::*;
use proptest::prelude::*;

fn config(dir: &std::path::Path) -> BrokerConfig {
    BrokerConfig { arbiters: 2, ..BrokerConfig::with_data_dir(dir) }
}

async fn produce(broker: &Broker, topic: &str, partitions: u32, per_partition: usize) {
    for p in 0..partitions {
        let msgs = (0..per_partition).map(|i| Message::new(format!("{p}:{i}"))).collect();
        broker.send("default", topic, Partitioning::Partition(p), msgs).await.expect("send");
    }
}

fn owned(members: &[&Membership]) -> Result<BTreeSet<TopicPartition>, String> {
    let mut seen = BTreeSet::new();
    for m in members {
        for tp in &m.assignment {
            if !seen.insert(tp.clone()) {
                return Err(format!("{tp:?} owned twice"));
            }
        }
    }
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_rebalance_revokes_before_handing_over() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "t", TopicConfig { partitions: 4, ..Default::default() }).await.expect("topic");
    let a = broker.join_group("default", "g", JoinRequest::new("a", &["t"])).await.expect("join a");
    assert_eq!(a.assignment.len(), 4);
    let b = broker.join_group("default", "g", JoinRequest::new("b", &["t"])).await.expect("join b");
    assert_eq!(b.generation, a.generation + 1);
    assert!(b.assignment.is_empty(), "b waits until a has released what moves: {:?}", b.assignment);
    let a2 = broker.heartbeat("default", "g", &a.member_id).await.expect("heartbeat a");
    assert_eq!(a2.assignment.len(), 2, "a keeps two partitions and keeps consuming them");
    assert!(a2.assignment.iter().all(|tp| a.assignment.contains(tp)));
    let b2 = broker.heartbeat("default", "g", &b.member_id).await.expect("heartbeat b");
    let a3 = broker.heartbeat("default", "g", &a.member_id).await.expect("heartbeat a");
    assert_eq!(b2.generation, a3.generation);
    assert_eq!(b2.assignment.len(), 2);
    assert_eq!(owned(&[&a3, &b2]).expect("disjoint").len(), 4);
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_are_fenced_by_generation_and_assignment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "t", TopicConfig { partitions: 2, ..Default::default() }).await.expect("topic");
    let mut req = JoinRequest::new("a", &["t"]);
    req.strategy = AssignmentStrategy::Range;
    let a = broker.join_group("default", "g", req.clone()).await.expect("join");
    broker.commit_group_offset("default", "g", &a, "t", 0, 0).await.expect("commit");
    req.client_id = "b".into();
    let b = broker.join_group("default", "g", req).await.expect("join b");
    let err = broker.commit_group_offset("default", "g", &a, "t", 0, 0).await.expect_err("stale");
    assert!(matches!(err, BrokerError::StaleGeneration { .. }), "{err}");
    let a = broker.heartbeat("default", "g", &a.member_id).await.expect("heartbeat");
    let theirs = &b.assignment[0];
    let err = broker.commit_group_offset("default", "g", &a, &theirs.0, theirs.1, 0).await.expect_err("not assigned");
    assert!(matches!(err, BrokerError::NotAssigned { .. }), "{err}");
    broker.leave_group("default", "g", &b.member_id).await.expect("leave");
    let err = broker.heartbeat("default", "g", &b.member_id).await.expect_err("left");
    assert!(matches!(err, BrokerError::UnknownMember { .. }), "{err}");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_least_once_redelivers_what_a_dead_member_did_not_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "t", TopicConfig::default()).await.expect("topic");
    produce(&broker, "t", 1, 10).await;
    let mut req = JoinRequest::new("a", &["t"]);
    req.session_timeout = Duration::from_millis(300);
    let a = broker.join_group("default", "g", req).await.expect("join");
    let poll = GroupPoll { count: 4, ..GroupPoll::default() };
    let first = broker.group_poll("default", "g", &a, poll.clone()).await.expect("poll");
    assert_eq!(first.messages.len(), 4);
    broker.commit_group_offset("default", "g", &a, "t", 0, first.next_offset).await.expect("commit");
    let second = broker.group_poll("default", "g", &a, poll.clone()).await.expect("poll");
    assert_eq!(second.messages[0].offset, 4);
    // a processes 4..8 but dies before committing.
    let b = broker.join_group("default", "g", JoinRequest::new("b", &["t"])).await.expect("join b");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let b = broker.heartbeat("default", "g", &b.member_id).await.expect("heartbeat");
    let b = broker.heartbeat("default", "g", &b.member_id).await.expect("heartbeat");
    assert_eq!(b.assignment, vec![("t".to_string(), 0)], "a expired; b owns the partition");
    let again = broker.group_poll("default", "g", &b, GroupPoll { count: 100, ..poll }).await.expect("poll");
    let offsets: Vec<u64> = again.messages.iter().map(|m| m.offset).collect();
    assert_eq!(offsets, (4..10).collect::<Vec<_>>(), "uncommitted messages come again, nothing skipped");
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_once_auto_commit_and_exact_lag_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "t", TopicConfig { partitions: 2, ..Default::default() }).await.expect("topic");
    produce(&broker, "t", 2, 5).await;
    let a = broker.join_group("default", "g", JoinRequest::new("a", &["t"])).await.expect("join");
    let lag = |d: &GroupDescription| d.partitions.iter().map(|p| p.lag).sum::<u64>();
    assert_eq!(lag(&broker.describe_group("default", "g").await.expect("describe")), 10);
    let poll = GroupPoll { count: 3, auto_commit: true, ..GroupPoll::default() };
    let got = broker.group_poll("default", "g", &a, poll).await.expect("poll");
    assert_eq!(got.messages.len(), 3);
    let d = broker.describe_group("default", "g").await.expect("describe");
    assert_eq!(lag(&d), 7, "auto-commit stored the offset before answering");
    let p = d.partitions.iter().find(|p| p.partition == got.partition).expect("partition");
    assert_eq!((p.committed, p.log_end, p.lag), (Some(3), 5, 2));
    produce(&broker, "t", 1, 1).await;
    assert_eq!(lag(&broker.describe_group("default", "g").await.expect("describe")), 8);
    broker.leave_group("default", "g", &a.member_id).await.expect("leave");
    broker.shutdown().await.expect("shutdown");

    let broker = Broker::start(config(dir.path())).await.expect("restart");
    assert_eq!(broker.list_groups("default").await.expect("groups"), ["g"]);
    let d = broker.describe_group("default", "g").await.expect("describe");
    assert_eq!(lag(&d), 8, "offsets survive a restart");
    assert!(d.state.members.is_empty());
    broker.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reset_delete_add_partitions_and_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker =
        Broker::start(BrokerConfig { max_group_members: 2, max_groups: 1, ..config(dir.path()) }).await.expect("start");
    broker.create_topic("default", "t", TopicConfig::default()).await.expect("topic");
    produce(&broker, "t", 1, 6).await;
    let a = broker.join_group("default", "g", JoinRequest::new("a", &["t"])).await.expect("join");
    broker.join_group("default", "g", JoinRequest::new("b", &["t"])).await.expect("join");
    let err = broker.join_group("default", "g", JoinRequest::new("c", &["t"])).await.expect_err("limit");
    assert!(matches!(err, BrokerError::LimitExceeded(_)), "{err}");
    let err = broker.join_group("default", "g2", JoinRequest::new("d", &["t"])).await.expect_err("group limit");
    assert!(matches!(err, BrokerError::LimitExceeded(_)), "{err}");
    let err = broker.reset_group_offsets("default", "g", "t", OffsetReset::Latest).await.expect_err("not empty");
    assert!(matches!(err, BrokerError::GroupNotEmpty(_)), "{err}");

    let generation = broker.heartbeat("default", "g", &a.member_id).await.expect("heartbeat").generation;
    broker.add_partitions("default", "t", 1).await.expect("add");
    let after = broker.heartbeat("default", "g", &a.member_id).await.expect("heartbeat");
    assert!(after.generation > generation, "adding partitions starts a new generation");

    for m in broker.describe_group("default", "g").await.expect("describe").state.members {
        broker.leave_group("default", "g", &m.member_id).await.expect("leave");
    }
    let committed = |d: GroupDescription| d.partitions.iter().find(|p| p.partition == 0).and_then(|p| p.committed);
    broker.reset_group_offsets("default", "g", "t", OffsetReset::Latest).await.expect("latest");
    assert_eq!(committed(broker.describe_group("default", "g").await.expect("describe")), Some(6));
    broker.reset_group_offsets("default", "g", "t", OffsetReset::Offset(2)).await.expect("offset");
    assert_eq!(committed(broker.describe_group("default", "g").await.expect("describe")), Some(2));
    broker.reset_group_offsets("default", "g", "t", OffsetReset::Earliest).await.expect("earliest");
    assert_eq!(committed(broker.describe_group("default", "g").await.expect("describe")), Some(0));
    broker.reset_group_offsets("default", "g", "t", OffsetReset::Timestamp(i64::MAX)).await.expect("timestamp");
    assert_eq!(committed(broker.describe_group("default", "g").await.expect("describe")), Some(6));
    broker.delete_group("default", "g").await.expect("delete");
    assert!(broker.list_groups("default").await.expect("groups").is_empty());
    assert!(matches!(broker.describe_group("default", "g").await, Err(BrokerError::GroupNotFound(_))));
    broker.shutdown().await.expect("shutdown");
}

#[derive(Debug, Clone)]
enum Op {
    Join,
    Leave(usize),
    Crash(usize),
    AddPartition,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![3 => Just(Op::Join), 1 => (0usize..8).prop_map(Op::Leave), 1 => (0usize..8).prop_map(Op::Crash), 1 => Just(Op::AddPartition)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Random joins, leaves, crashes (a crashed member just stops heartbeating and expires) and added partitions:
    /// at every step no partition has two owners in the group's generation, and once the crashed members have
    /// expired and the live ones have acknowledged, every partition is owned by exactly one live member.
    #[test]
    fn churn_never_double_assigns_and_eventually_covers_every_partition(
        ops in proptest::collection::vec(op(), 1..12),
        strategy in prop_oneof![Just(AssignmentStrategy::Range), Just(AssignmentStrategy::RoundRobin), Just(AssignmentStrategy::CooperativeSticky)],
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        runtime.block_on(async move {
            let dir = tempfile::tempdir().expect("tempdir");
            let broker = Broker::start(config(dir.path())).await.expect("start");
            broker.create_topic("default", "t", TopicConfig { partitions: 3, ..Default::default() }).await.expect("topic");
            let mut partitions = 3u32;
            let mut live: Vec<String> = Vec::new();
            let check = |state: &GroupState, step: usize| {
                let mut seen = BTreeSet::new();
                for m in &state.members {
                    for tp in &m.assignment {
                        assert!(seen.insert(tp.clone()), "step {step}: {tp:?} has two owners in generation {}", state.generation);
                    }
                }
                seen
            };
            for (step, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Join => {
                        let mut req = JoinRequest::new(format!("c{step}"), &["t"]);
                        req.strategy = strategy;
                        req.session_timeout = Duration::from_millis(1000);
                        live.push(broker.join_group("default", "g", req).await.expect("join").member_id);
                    }
                    Op::Leave(i) if !live.is_empty() => {
                        let id = live.remove(i % live.len());
                        broker.leave_group("default", "g", &id).await.expect("leave");
                    }
                    Op::Crash(i) if !live.is_empty() => {
                        live.remove(i % live.len());
                    }
                    Op::AddPartition => {
                        partitions = broker.add_partitions("default", "t", 1).await.expect("add");
                    }
                    _ => {}
                }
                if let Ok(d) = broker.describe_group("default", "g").await {
                    check(&d.state, step);
                }
                for id in &live {
                    broker.heartbeat("default", "g", id).await.expect("heartbeat");
                }
            }
            // Let crashed members expire while the live ones keep heartbeating (acknowledging each generation).
            for _ in 0..14 {
                tokio::time::sleep(Duration::from_millis(100)).await;
                for id in &live {
                    broker.heartbeat("default", "g", id).await.expect("heartbeat");
                }
            }
            if let Ok(d) = broker.describe_group("default", "g").await {
                let members: BTreeSet<_> = d.state.members.iter().map(|m| m.member_id.clone()).collect();
                assert_eq!(members, live.iter().cloned().collect::<BTreeSet<_>>(), "crashed members expired");
                let owned = check(&d.state, usize::MAX);
                if !live.is_empty() {
                    assert_eq!(owned.len() as u32, partitions, "every partition owned once stable");
                }
            }
            broker.shutdown().await.expect("shutdown");
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_poll_of_an_older_generation_neither_reads_nor_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start(config(dir.path())).await.expect("start");
    broker.create_topic("default", "t", TopicConfig::default()).await.expect("topic");
    let a = broker.join_group("default", "g", JoinRequest::new("a", &["t"])).await.expect("join a");
    let parked = {
        let (broker, a) = (broker.clone(), a.clone());
        tokio::spawn(async move {
            let poll = GroupPoll { max_wait: Duration::from_secs(20), auto_commit: true, ..GroupPoll::default() };
            broker.group_poll("default", "g", &a, poll).await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    broker.join_group("default", "g", JoinRequest::new("b", &["t"])).await.expect("join b");
    broker.send("default", "t", Partitioning::Partition(0), vec![Message::new("m")]).await.expect("send");
    let err = parked.await.expect("join").expect_err("stale");
    assert!(matches!(err, BrokerError::StaleGeneration { .. }), "{err}");
    let lag: u64 =
        broker.describe_group("default", "g").await.expect("describe").partitions.iter().map(|p| p.lag).sum();
    assert_eq!(lag, 1, "the stale poll committed nothing");
    let a = broker.heartbeat("default", "g", &a.member_id).await.expect("heartbeat");
    let got = broker.group_poll("default", "g", &a, GroupPoll::default()).await.expect("poll");
    assert_eq!(got.messages.len(), 1, "the owner of the current generation gets the message");
    broker.shutdown().await.expect("shutdown");
}

/// Heartbeats, group fetches and commits go straight to the group and partition actors: a broker actor stuck in a
/// metadata fsync (a slow disk, here one whose metadata-file syncs stall) delays topic creation, never the members
/// of existing groups (their actors used to live on the broker actor's thread, and lookups went through its mailbox).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_traffic_does_not_wait_for_metadata_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fault = FaultEnv::default();
    let config = BrokerConfig { env: std::sync::Arc::new(fault.clone()), ..config(dir.path()) };
    let broker = Broker::start(config).await.expect("start");
    let never = TopicConfig { durability: DurabilityPolicy::Never, ..Default::default() };
    broker.create_topic("default", "t", never.clone()).await.expect("topic");
    produce(&broker, "t", 1, 3).await;
    let member = broker.join_group("default", "g", JoinRequest::new("a", &["t"])).await.expect("join");

    fault.hold_syncs(Some("metadata.json"));
    let creator = broker.clone();
    let stuck = tokio::spawn(async move { creator.create_topic("default", "other", never).await });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fault.held_syncs() == 0 {
        assert!(std::time::Instant::now() < deadline, "the metadata write never reached its fsync");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let member_traffic = async {
        let beat = broker.heartbeat("default", "g", &member.member_id).await.expect("heartbeat");
        let polled = broker.group_poll("default", "g", &beat, GroupPoll::default()).await.expect("poll");
        assert_eq!(polled.messages.len(), 3);
        broker.commit_group_offset("default", "g", &beat, "t", 0, polled.next_offset).await.expect("commit");
    };
    let answered = tokio::time::timeout(Duration::from_secs(5), member_traffic).await;
    assert!(!stuck.is_finished(), "the topic creation waits for its fsync");
    fault.hold_syncs(None);
    answered.expect("group traffic answered while the broker actor waits on an fsync");
    stuck.await.expect("join").expect("the topic is created once the disk moves");
    broker.shutdown().await.expect("shutdown");
}
