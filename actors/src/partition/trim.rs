//! [`DeleteRecordsBefore`]: advances a partition's log start (the AMQP gateway reclaims acknowledged messages with
//! it), through storage's `delete_records_before`.

use actix::{Context, Handler, Message};

use super::PartitionActor;
use crate::error::{BrokerError, Result};

/// Advances the log start offset to `offset`, durably, deleting whole segments below it; answers the new log start.
#[derive(Debug, Message)]
#[rtype(result = "Result<u64>")]
pub struct DeleteRecordsBefore {
    /// The new log start offset (at most the log end).
    pub offset: u64,
}

impl Handler<DeleteRecordsBefore> for PartitionActor {
    type Result = Result<u64>;

    fn handle(&mut self, msg: DeleteRecordsBefore, ctx: &mut Context<Self>) -> Result<u64> {
        self.guarded(ctx, |act| {
            act.serving()?;
            Ok(act.log.as_mut().ok_or(BrokerError::ShuttingDown)?.delete_records_before(msg.offset)?)
        })
    }
}
