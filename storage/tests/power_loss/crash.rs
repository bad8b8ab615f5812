//! Simulated power losses: dropping every unsynced write or tearing each file's unsynced tail, optionally with a
//! few garbage bytes written over what survived of the active segment's unsynced tail.

use callboard_protocol::batch::BatchHeader;
use callboard_storage::{CrashMode, PartitionLog, SimEnv};
use rand::Rng;
use rand::rngs::StdRng;

use crate::harness::DIR;

/// Simulates a power loss: either drops every unsynced write or keeps a random part of each unsynced tail.
pub(crate) fn power_loss(env: &SimEnv, rng: &mut StdRng) -> CrashMode {
    let mode = if rng.random_bool(0.5) {
        CrashMode::DropUnsynced
    } else {
        let keep_per_mille = match rng.random_range(0..4) {
            0 => 0,
            1 => 1000,
            _ => rng.random_range(1..1000),
        };
        CrashMode::TornTail { keep_per_mille }
    };
    env.crash_with(mode);
    mode
}

/// A power loss (see [`power_loss`]) that, a third of the time, also overwrites a few bytes of whatever survived
/// of the active segment's unsynced tail with garbage, as a torn write whose last sectors hold stale or zeroed data
/// would. Only bytes past `durable_offset()` are touched, so nothing the log claims durable is damaged. Returns a
/// description for assertion messages.
pub(crate) fn power_loss_with_garbage(env: &SimEnv, rng: &mut StdRng, log: &PartitionLog) -> String {
    let active = log.segments().last().map_or(0, |s| s.base_offset);
    let durable = log.durable_offset();
    let path = std::path::Path::new(DIR).join(format!("{active:020}.log"));
    // Byte position of the first batch at or past the durable offset, walking the segment's current contents.
    let contents = env.read_file(&path).unwrap_or_default();
    let mut durable_pos = 0;
    while let Ok(header) = BatchHeader::parse(&contents[durable_pos..]) {
        if header.base_offset >= durable || durable_pos + header.total_len() > contents.len() {
            break;
        }
        durable_pos += header.total_len();
    }
    let mode = power_loss(env, rng);
    let survived = env.read_file(&path).map_or(0, |d| d.len());
    if survived <= durable_pos || !rng.random_bool(0.33) {
        return format!("{mode:?}");
    }
    let pos = rng.random_range(durable_pos..survived);
    let len = rng.random_range(1..=16).min(survived - pos);
    let garbage: Vec<u8> = if rng.random_bool(0.5) { vec![0; len] } else { (0..len).map(|_| rng.random()).collect() };
    env.corrupt(&path, pos, &garbage);
    format!("{mode:?} + {len} garbage bytes at byte {pos} of segment {active} (durable up to byte {durable_pos})")
}
