//! The broker actor's side of consumer groups: it creates group actors on demand, remembers group names and topics
//! in the metadata (so groups and their offsets are found again after a restart), and forgets deleted groups.

use actix::{Actor, Addr, Context, Handler, Message};

use super::actor::{ConsumerGroupActor, StopGroup};
use crate::broker::BrokerActor;
use crate::error::{BrokerError, Result};
use crate::metadata::GroupMeta;
use crate::names::validate_name;

/// The actor of a group, created (and remembered) when `create` is set.
#[derive(Message)]
#[rtype(result = "Result<(Addr<ConsumerGroupActor>, GroupMeta)>")]
pub(crate) struct GetGroup {
    pub(crate) stream: String,
    pub(crate) name: String,
    pub(crate) create: bool,
    /// Topics a joining member subscribes to (recorded in the metadata).
    pub(crate) topics: Vec<String>,
}

impl Handler<GetGroup> for BrokerActor {
    type Result = Result<(Addr<ConsumerGroupActor>, GroupMeta)>;

    fn handle(&mut self, msg: GetGroup, _ctx: &mut Context<Self>) -> Self::Result {
        validate_name(&msg.name)?;
        let stream = self.metadata.stream(&msg.stream)?;
        let existing = stream.groups.iter().find(|g| g.name == msg.name).cloned();
        let missing_topics = existing.as_ref().is_none_or(|g| msg.topics.iter().any(|t| !g.topics.contains(t)));
        let meta = match existing {
            Some(meta) if !missing_topics => meta,
            None if !msg.create => return Err(BrokerError::GroupNotFound(msg.name)),
            existing => {
                if existing.is_none()
                    && self.metadata.streams.iter().map(|s| s.groups.len()).sum::<usize>() >= self.config.max_groups
                {
                    return Err(BrokerError::LimitExceeded(format!(
                        "at most {} consumer groups per broker",
                        self.config.max_groups
                    )));
                }
                let mut meta = existing.unwrap_or(GroupMeta { name: msg.name.clone(), topics: Default::default() });
                meta.topics.extend(msg.topics.iter().cloned());
                self.update_metadata(|m| {
                    let groups = &mut m.stream_mut(&msg.stream)?.groups;
                    groups.retain(|g| g.name != msg.name);
                    groups.push(meta.clone());
                    Ok(())
                })?;
                meta
            }
        };
        let (routes, max_members) = (self.routes.clone(), self.config.max_group_members);
        // On a worker thread, never the broker actor's own: its metadata fsyncs must not stall group members.
        let worker = self.worker_for(&msg.stream, &msg.name);
        let addr = self
            .routes_mut()
            .groups
            .entry((msg.stream.clone(), msg.name.clone()))
            .or_insert_with(|| {
                let (stream, name) = (msg.stream.clone(), msg.name.clone());
                ConsumerGroupActor::start_in_arbiter(&worker, move |_| {
                    ConsumerGroupActor::new(&stream, &name, max_members, routes)
                })
            })
            .clone();
        Ok((addr, meta))
    }
}

/// The groups of a stream.
#[derive(Message)]
#[rtype(result = "Result<Vec<GroupMeta>>")]
pub(crate) struct ListGroups(pub(crate) String);

impl Handler<ListGroups> for BrokerActor {
    type Result = Result<Vec<GroupMeta>>;

    fn handle(&mut self, msg: ListGroups, _ctx: &mut Context<Self>) -> Self::Result {
        Ok(self.metadata.stream(&msg.0)?.groups.clone())
    }
}

/// Forgets a group (its actor stops once unused).
#[derive(Message)]
#[rtype(result = "Result<()>")]
pub(crate) struct ForgetGroup {
    pub(crate) stream: String,
    pub(crate) name: String,
}

impl Handler<ForgetGroup> for BrokerActor {
    type Result = Result<()>;

    fn handle(&mut self, msg: ForgetGroup, _ctx: &mut Context<Self>) -> Self::Result {
        self.update_metadata(|m| {
            m.stream_mut(&msg.stream)?.groups.retain(|g| g.name != msg.name);
            Ok(())
        })?;
        let removed = self.routes_mut().groups.remove(&(msg.stream, msg.name));
        if let Some(group) = removed {
            group.do_send(StopGroup);
        }
        Ok(())
    }
}
