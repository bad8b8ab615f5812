//! `callboard group list|describe|reset-offsets|delete`.

use std::process::ExitCode;

use callboard::protocol::model::{GroupDescription, OffsetReset};
use clap::Subcommand;
use serde_json::json;

use super::connect::ClientArgs;
use super::output::{done, print, table};

/// `callboard group ...`
#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// List the stream's consumer groups.
    List,
    /// Show a group's members, assignment, committed offsets and lag.
    Describe {
        /// Group name.
        group: String,
    },
    /// Move an empty group's offsets on every partition of a topic.
    ResetOffsets {
        /// Group name.
        group: String,
        /// Topic.
        #[arg(long)]
        topic: String,
        /// Where to: earliest, latest, offset:N or timestamp:MS.
        #[arg(long, value_parser = parse_reset)]
        to: OffsetReset,
    },
    /// Delete an empty group and its offsets.
    Delete {
        /// Group name.
        group: String,
    },
}

/// Parses `earliest`, `latest`, `offset:N` or `timestamp:MS`.
pub fn parse_reset(s: &str) -> Result<OffsetReset, String> {
    match s {
        "earliest" => Ok(OffsetReset::Earliest),
        "latest" => Ok(OffsetReset::Latest),
        _ => {
            if let Some(n) = s.strip_prefix("offset:") {
                n.parse().map(OffsetReset::Offset).map_err(|_| format!("bad offset in {s:?}"))
            } else if let Some(ms) = s.strip_prefix("timestamp:") {
                ms.parse().map(OffsetReset::Timestamp).map_err(|_| format!("bad timestamp in {s:?}"))
            } else {
                Err(format!("expected earliest, latest, offset:N or timestamp:MS, got {s:?}"))
            }
        }
    }
}

/// Runs a group command.
pub async fn run(command: GroupCommand, args: &ClientArgs) -> anyhow::Result<ExitCode> {
    let client = args.connect("callboard-cli").await?;
    let stream = &args.stream;
    match command {
        GroupCommand::List => {
            let groups = client.list_groups(stream).await?;
            print(args.output, &groups, |groups: &Vec<String>| {
                let mut t = table(&["group"]);
                for g in groups {
                    t.add_row(vec![g.clone()]);
                }
                t
            })?;
        }
        GroupCommand::Describe { group } => {
            let d = client.describe_group(stream, &group).await?;
            print(args.output, &d, |d: &GroupDescription| {
                println!(
                    "group {}  generation {}  strategy {:?}  members {}",
                    d.state.name,
                    d.state.generation,
                    d.state.strategy,
                    d.state.members.len()
                );
                let mut t = table(&["topic", "partition", "member", "committed", "log end", "lag"]);
                for p in &d.partitions {
                    let owner = d
                        .state
                        .members
                        .iter()
                        .find(|m| m.assignment.iter().any(|(t, n)| *t == p.topic && *n == p.partition))
                        .map_or("-".to_string(), |m| m.member_id.clone());
                    t.add_row(vec![
                        p.topic.clone(),
                        p.partition.to_string(),
                        owner,
                        p.committed.map_or("-".into(), |c| c.to_string()),
                        p.log_end.to_string(),
                        p.lag.to_string(),
                    ]);
                }
                t
            })?;
        }
        GroupCommand::ResetOffsets { group, topic, to } => {
            client.reset_group_offsets(stream, &group, &topic, to).await?;
            let text = format!("reset group {group} on {topic} to {to:?}");
            done(args.output, &json!({ "group": group, "topic": topic }), &text)?;
        }
        GroupCommand::Delete { group } => {
            client.delete_group(stream, &group).await?;
            done(args.output, &json!({ "deleted": group }), &format!("deleted group {group}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_parse() {
        assert_eq!(parse_reset("earliest"), Ok(OffsetReset::Earliest));
        assert_eq!(parse_reset("offset:7"), Ok(OffsetReset::Offset(7)));
        assert_eq!(parse_reset("timestamp:-1"), Ok(OffsetReset::Timestamp(-1)));
        assert!(parse_reset("offset:x").is_err());
        assert!(parse_reset("soon").is_err());
    }
}
