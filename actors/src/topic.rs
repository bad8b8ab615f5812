//! [`TopicActor`]: supervises the partition actors of one topic. Partition actors run under actix's `Supervisor`
//! (restarted on the same address after a failure) and are spread over the worker arbiters; the topic actor starts
//! them, adds partitions to a live topic, gathers their state, and retires them when the topic is deleted.

use std::path::PathBuf;

use actix::{
    Actor, ActorFutureExt, Addr, ArbiterHandle, Context, Handler, Message, ResponseActFuture, Supervisor, WrapFuture,
};

use crate::partition::{Describe, PartitionActor, PartitionInfo, PartitionSetup, Retire};

/// Supervisor of one topic's partitions.
pub struct TopicActor {
    template: PartitionSetup,
    topic_dir: PathBuf,
    spread: usize,
    workers: Vec<ArbiterHandle>,
    partitions: Vec<Addr<PartitionActor>>,
}

impl TopicActor {
    /// Starts partitions `0..count` of a topic (`template.partition` is ignored).
    pub(crate) fn new(
        template: PartitionSetup,
        topic_dir: PathBuf,
        spread: usize,
        workers: Vec<ArbiterHandle>,
        count: u32,
    ) -> Self {
        let mut actor = TopicActor { template, topic_dir, spread, workers, partitions: Vec::new() };
        actor.grow(count);
        actor
    }

    fn grow(&mut self, count: u32) {
        while (self.partitions.len() as u32) < count {
            let p = self.partitions.len() as u32;
            let mut setup = self.template.clone();
            setup.partition = p;
            setup.dir = self.topic_dir.join(p.to_string());
            let arbiter = &self.workers[(self.spread + p as usize) % self.workers.len()];
            self.partitions.push(Supervisor::start_in_arbiter(arbiter, move |_| PartitionActor::new(setup)));
        }
    }

    /// Addresses of the partitions, in order.
    pub(crate) fn partitions(&self) -> Vec<Addr<PartitionActor>> {
        self.partitions.clone()
    }
}

impl Actor for TopicActor {
    type Context = Context<Self>;
}

/// Grows the topic to `count` partitions; answers the addresses of all of them.
#[derive(Message)]
#[rtype(result = "Vec<Addr<PartitionActor>>")]
pub(crate) struct Grow {
    pub(crate) count: u32,
}

impl Handler<Grow> for TopicActor {
    type Result = actix::MessageResult<Grow>;

    fn handle(&mut self, msg: Grow, _ctx: &mut Context<Self>) -> Self::Result {
        self.grow(msg.count);
        actix::MessageResult(self.partitions())
    }
}

/// Gathers the state of every partition.
#[derive(Message)]
#[rtype(result = "Vec<PartitionInfo>")]
pub(crate) struct DescribePartitions;

impl Handler<DescribePartitions> for TopicActor {
    type Result = ResponseActFuture<Self, Vec<PartitionInfo>>;

    fn handle(&mut self, _msg: DescribePartitions, _ctx: &mut Context<Self>) -> Self::Result {
        let requests: Vec<_> = self.partitions.iter().map(|p| p.send(Describe)).collect();
        let unknown = |partition: u32| PartitionInfo {
            partition,
            health: crate::partition::Health::Offline("not answering".into()),
            log_start: 0,
            log_end: 0,
            size_bytes: 0,
            segments: 0,
            restarts: 0,
            parked_polls: 0,
        };
        Box::pin(
            async move {
                let mut out = Vec::with_capacity(requests.len());
                for (i, request) in requests.into_iter().enumerate() {
                    out.push(request.await.unwrap_or_else(|_| unknown(i as u32)));
                }
                out
            }
            .into_actor(self)
            .map(|out, _, _| out),
        )
    }
}

/// Retires every partition (closing their logs) and, when deleting, removes the topic's files.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RetireTopic {
    pub(crate) delete_files: bool,
}

impl Handler<RetireTopic> for TopicActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: RetireTopic, _ctx: &mut Context<Self>) -> Self::Result {
        let requests: Vec<_> =
            self.partitions.drain(..).map(|p| p.send(Retire { delete_files: msg.delete_files })).collect();
        let dir = self.topic_dir.clone();
        Box::pin(
            async move {
                for request in requests {
                    let _ = request.await;
                }
                if msg.delete_files
                    && let Err(e) = std::fs::remove_dir_all(&dir)
                    && e.kind() != std::io::ErrorKind::NotFound
                {
                    tracing::warn!(dir = %dir.display(), error = %e, "removing a deleted topic's files failed");
                }
            }
            .into_actor(self)
            .map(|_, _, ctx| actix::ActorContext::stop(ctx)),
        )
    }
}
