//! [`ConsumerGroupActor`]: one consumer group of a stream. It assigns member ids, expires members whose heartbeats
//! stop, starts a new generation on every membership or partition-count change, computes the assignment with the
//! group's strategy (cooperative-sticky revokes a moving partition from its owner before handing it over), and
//! fences commits from members of an old generation. Committed offsets are stored in the partition actors under the
//! consumer name `group:<name>`, so they are persisted with the partition and lag is `log end - committed`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use actix::{Actor, AsyncContext, Context, Handler, Message};

use super::assign::{AssignmentStrategy, MemberView, TopicPartition, assign};
use crate::error::{BrokerError, Result};
use crate::partition::GenerationFence;
use crate::route::Routes;
pub(crate) use callboard_protocol::model::{GroupState, MemberInfo, Membership};

/// Consumer name under which a group's offsets are stored in partitions.
pub fn group_consumer(group: &str) -> String {
    format!("group:{group}")
}

#[derive(Debug)]
struct Member {
    client_id: String,
    session_timeout: Duration,
    topics: BTreeSet<String>,
    last_seen: Instant,
    /// Partitions the member holds: what it was given in the last generation it acknowledged.
    owned: BTreeSet<TopicPartition>,
}

/// The consumer group actor.
pub struct ConsumerGroupActor {
    stream: String,
    name: String,
    strategy: AssignmentStrategy,
    generation: u32,
    next_member: u64,
    max_members: usize,
    members: BTreeMap<String, Member>,
    assignment: BTreeMap<String, BTreeSet<TopicPartition>>,
    routes: Arc<RwLock<Routes>>,
    /// The current generation, shared with the fences of members' requests.
    live: Arc<AtomicU32>,
}

impl ConsumerGroupActor {
    pub(crate) fn new(stream: &str, name: &str, max_members: usize, routes: Arc<RwLock<Routes>>) -> Self {
        ConsumerGroupActor {
            stream: stream.into(),
            name: name.into(),
            strategy: AssignmentStrategy::default(),
            generation: 0,
            next_member: 0,
            max_members,
            members: BTreeMap::new(),
            assignment: BTreeMap::new(),
            routes,
            live: Arc::new(AtomicU32::new(0)),
        }
    }

    /// Partition counts of the topics the members subscribe to.
    fn topic_counts(&self) -> BTreeMap<String, u32> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        let topics = routes.streams.get(&self.stream);
        self.members
            .values()
            .flat_map(|m| m.topics.iter())
            .filter_map(|t| topics.and_then(|ts| ts.get(t)).map(|r| (t.clone(), r.count())))
            .collect()
    }

    /// Starts a new generation with a fresh assignment. Under cooperative-sticky, a partition that moves is only
    /// revoked from its current owner in this generation; it is handed to its new owner once the owner has
    /// acknowledged a generation without it.
    fn rebalance(&mut self) {
        self.generation += 1;
        self.live.store(self.generation, Ordering::Release);
        let views: BTreeMap<String, MemberView> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), MemberView { topics: m.topics.clone(), owned: m.owned.clone() }))
            .collect();
        let mut target = assign(self.strategy, &views, &self.topic_counts());
        if self.strategy == AssignmentStrategy::CooperativeSticky {
            for (id, parts) in target.iter_mut() {
                parts.retain(|tp| !self.members.iter().any(|(other, m)| other != id && m.owned.contains(tp)));
            }
        }
        self.assignment = target;
        metrics::counter!("callboard_group_rebalances_total", "group" => self.name.clone()).increment(1);
    }

    /// Whether some partition is waiting for its previous owner to let go of it.
    fn waiting_for_revocations(&self) -> bool {
        let views: BTreeMap<String, MemberView> = self
            .members
            .iter()
            .map(|(id, m)| (id.clone(), MemberView { topics: m.topics.clone(), owned: m.owned.clone() }))
            .collect();
        let target = assign(self.strategy, &views, &self.topic_counts());
        target != self.assignment
            && self.members.iter().all(|(id, m)| m.owned == self.assignment.get(id).cloned().unwrap_or_default())
    }

    fn membership(&self, member_id: &str) -> Membership {
        Membership {
            member_id: member_id.into(),
            generation: self.generation,
            assignment: self.assignment.get(member_id).map(|a| a.iter().cloned().collect()).unwrap_or_default(),
        }
    }

    fn expire(&mut self) {
        let now = Instant::now();
        let before = self.members.len();
        self.members.retain(|id, m| {
            let alive = now.duration_since(m.last_seen) <= m.session_timeout;
            if !alive {
                tracing::info!(member = %id, client = %m.client_id, "consumer group member expired");
            }
            alive
        });
        if self.members.len() != before {
            self.rebalance();
        }
    }

    fn unknown_member(&self, member_id: &str) -> BrokerError {
        BrokerError::UnknownMember { group: self.name.clone(), member_id: member_id.into() }
    }

    /// Checks that `member_id` is in the current generation and owns `tp`.
    pub(crate) fn check_owner(&self, member_id: &str, generation: u32, tp: &TopicPartition) -> Result<()> {
        if !self.members.contains_key(member_id) {
            return Err(self.unknown_member(member_id));
        }
        if generation != self.generation {
            return Err(BrokerError::StaleGeneration {
                group: self.name.clone(),
                current: self.generation,
                got: generation,
            });
        }
        if !self.assignment.get(member_id).is_some_and(|a| a.contains(tp)) {
            return Err(BrokerError::NotAssigned { group: self.name.clone(), topic: tp.0.clone(), partition: tp.1 });
        }
        Ok(())
    }
}

impl Actor for ConsumerGroupActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(Duration::from_millis(100), |act, _| act.expire());
    }
}

/// Joins (or rejoins) the group.
#[derive(Debug, Message)]
#[rtype(result = "Result<Membership>")]
pub struct JoinGroup {
    /// The member id from an earlier join, to rejoin as the same member.
    pub member_id: Option<String>,
    /// Free-form client id.
    pub client_id: String,
    /// Topics to consume.
    pub topics: Vec<String>,
    /// The member is expired when no heartbeat arrives for this long.
    pub session_timeout: Duration,
    /// Strategy (the first member's choice sets it for an empty group).
    pub strategy: AssignmentStrategy,
}

impl Handler<JoinGroup> for ConsumerGroupActor {
    type Result = Result<Membership>;

    fn handle(&mut self, msg: JoinGroup, _ctx: &mut Context<Self>) -> Result<Membership> {
        if msg.topics.is_empty() {
            return Err(BrokerError::InvalidConfig("a member must subscribe to at least one topic".into()));
        }
        let known = msg.member_id.as_ref().filter(|id| self.members.contains_key(*id)).cloned();
        if known.is_none() && self.members.len() >= self.max_members {
            return Err(BrokerError::LimitExceeded(format!("at most {} members per group", self.max_members)));
        }
        if self.members.is_empty() {
            self.strategy = msg.strategy;
        }
        let member_id = known.unwrap_or_else(|| {
            self.next_member += 1;
            format!("{}-{}", msg.client_id, self.next_member)
        });
        let topics: BTreeSet<String> = msg.topics.into_iter().collect();
        let changed = self.members.get(&member_id).is_none_or(|m| m.topics != topics);
        let owned = self.members.get(&member_id).map(|m| m.owned.clone()).unwrap_or_default();
        let session_timeout = msg.session_timeout.max(Duration::from_millis(100));
        self.members.insert(
            member_id.clone(),
            Member { client_id: msg.client_id, session_timeout, topics, last_seen: Instant::now(), owned },
        );
        if changed {
            self.rebalance();
        }
        // The join answer is the member's first acknowledgment: from now on it holds what it is given.
        let given = self.assignment.get(&member_id).cloned().unwrap_or_default();
        if let Some(member) = self.members.get_mut(&member_id) {
            member.owned = given;
        }
        Ok(self.membership(&member_id))
    }
}

/// A member's heartbeat: keeps it alive and tells it the current generation and assignment, which the member
/// acknowledges by this call (it holds exactly that assignment from now on).
#[derive(Debug, Message)]
#[rtype(result = "Result<Membership>")]
pub struct Heartbeat {
    /// Member id.
    pub member_id: String,
}

impl Handler<Heartbeat> for ConsumerGroupActor {
    type Result = Result<Membership>;

    fn handle(&mut self, msg: Heartbeat, _ctx: &mut Context<Self>) -> Result<Membership> {
        let assignment = self.assignment.get(&msg.member_id).cloned().unwrap_or_default();
        let member = self
            .members
            .get_mut(&msg.member_id)
            .ok_or_else(|| BrokerError::UnknownMember { group: self.name.clone(), member_id: msg.member_id.clone() })?;
        member.last_seen = Instant::now();
        member.owned = assignment;
        if self.waiting_for_revocations() {
            // Every owner has let go of what it had to revoke: hand the withheld partitions over.
            self.rebalance();
        }
        Ok(self.membership(&msg.member_id))
    }
}

/// Leaves the group.
#[derive(Debug, Message)]
#[rtype(result = "Result<()>")]
pub struct LeaveGroup {
    /// Member id.
    pub member_id: String,
}

impl Handler<LeaveGroup> for ConsumerGroupActor {
    type Result = Result<()>;

    fn handle(&mut self, msg: LeaveGroup, _ctx: &mut Context<Self>) -> Result<()> {
        self.members.remove(&msg.member_id).ok_or_else(|| self.unknown_member(&msg.member_id))?;
        self.rebalance();
        Ok(())
    }
}

/// Checks a member may read or commit a partition in a generation; answers the fence its request carries.
#[derive(Debug, Message)]
#[rtype(result = "Result<GenerationFence>")]
pub struct CheckOwner {
    /// Member id.
    pub member_id: String,
    /// The generation the member acts in.
    pub generation: u32,
    /// The partition.
    pub partition: TopicPartition,
}

impl Handler<CheckOwner> for ConsumerGroupActor {
    type Result = Result<GenerationFence>;

    fn handle(&mut self, msg: CheckOwner, _ctx: &mut Context<Self>) -> Result<GenerationFence> {
        self.check_owner(&msg.member_id, msg.generation, &msg.partition)?;
        Ok(GenerationFence { live: Arc::clone(&self.live), generation: msg.generation })
    }
}

/// Re-runs the assignment after the topics' partition counts changed.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct TopicsChanged;

impl Handler<TopicsChanged> for ConsumerGroupActor {
    type Result = ();

    fn handle(&mut self, _msg: TopicsChanged, _ctx: &mut Context<Self>) {
        if !self.members.is_empty() {
            self.rebalance();
        }
    }
}

/// Describes membership.
#[derive(Debug, Message)]
#[rtype(result = "GroupState")]
pub struct DescribeGroupState;

impl Handler<DescribeGroupState> for ConsumerGroupActor {
    type Result = actix::MessageResult<DescribeGroupState>;

    fn handle(&mut self, _msg: DescribeGroupState, _ctx: &mut Context<Self>) -> Self::Result {
        let members = self
            .members
            .iter()
            .map(|(id, m)| MemberInfo {
                member_id: id.clone(),
                client_id: m.client_id.clone(),
                assignment: self.assignment.get(id).map(|a| a.iter().cloned().collect()).unwrap_or_default(),
            })
            .collect();
        let topics: BTreeSet<String> = self.members.values().flat_map(|m| m.topics.iter().cloned()).collect();
        actix::MessageResult(GroupState {
            name: self.name.clone(),
            generation: self.generation,
            strategy: self.strategy,
            members,
            topics: topics.into_iter().collect(),
        })
    }
}

/// Stops the group actor (its group was deleted, or its stream).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub(crate) struct StopGroup;

impl Handler<StopGroup> for ConsumerGroupActor {
    type Result = ();

    fn handle(&mut self, _msg: StopGroup, ctx: &mut Context<Self>) {
        actix::ActorContext::stop(ctx);
    }
}
