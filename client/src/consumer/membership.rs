//! A group member's current membership, shared by the consumer and its heartbeat task: heartbeats refresh it (and
//! rejoin when the broker forgot the member).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use callboard_protocol::ErrorCode;
use callboard_protocol::model::{AssignmentStrategy, Membership};

use crate::client::Client;
use crate::error::Result;

/// What a member needs to heartbeat and rejoin.
#[derive(Clone)]
pub(crate) struct Member {
    pub client: Client,
    pub stream: String,
    pub group: String,
    pub topic: String,
    pub session_timeout: Duration,
    pub strategy: AssignmentStrategy,
    pub current: Arc<Mutex<Membership>>,
}

impl Member {
    /// Joins the group.
    pub(crate) async fn join(
        client: Client,
        stream: &str,
        group: &str,
        topic: &str,
        session_timeout: Duration,
        strategy: AssignmentStrategy,
    ) -> Result<Member> {
        let membership = client.join_group(stream, group, &[topic], session_timeout, strategy).await?;
        tracing::debug!(group, member = %membership.member_id, generation = membership.generation, "joined");
        Ok(Member {
            client,
            stream: stream.into(),
            group: group.into(),
            topic: topic.into(),
            session_timeout,
            strategy,
            current: Arc::new(Mutex::new(membership)),
        })
    }

    /// The membership as last seen.
    pub(crate) fn get(&self) -> Membership {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, membership: Membership) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = membership;
    }

    /// Heartbeats (accepting the current generation and assignment), rejoining if the member is unknown.
    pub(crate) async fn refresh(&self) -> Result<Membership> {
        let member_id = self.get().member_id;
        let membership = match self.client.heartbeat(&self.stream, &self.group, &member_id).await {
            Ok(m) => m,
            Err(e) if e.code() == Some(ErrorCode::UnknownMember) => {
                tracing::info!(group = %self.group, member = %member_id, "member expired, rejoining");
                let topics = [self.topic.as_str()];
                self.client.join_group(&self.stream, &self.group, &topics, self.session_timeout, self.strategy).await?
            }
            Err(e) => return Err(e),
        };
        self.set(membership.clone());
        Ok(membership)
    }

    /// Heartbeats every third of the session timeout until aborted.
    pub(crate) async fn heartbeat_loop(self) {
        let interval = (self.session_timeout / 3).max(Duration::from_millis(10));
        loop {
            tokio::time::sleep(interval).await;
            if let Err(error) = self.refresh().await {
                tracing::warn!(group = %self.group, %error, "heartbeat failed");
            }
        }
    }

    /// Leaves the group.
    pub(crate) async fn leave(&self) -> Result<()> {
        let member_id = self.get().member_id;
        self.client.leave_group(&self.stream, &self.group, &member_id).await
    }
}
