//! Partition assignment strategies for consumer groups, as pure functions: range, round-robin and
//! cooperative-sticky. Members and partitions are sorted first, so every strategy is deterministic.

use std::collections::{BTreeMap, BTreeSet};

pub(crate) use callboard_protocol::model::{AssignmentStrategy, TopicPartition};

/// What the strategies need to know about one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Topics it subscribes to.
    pub topics: BTreeSet<String>,
    /// Partitions it owned in the previous generation (used by the sticky strategy).
    pub owned: BTreeSet<TopicPartition>,
}

/// Assigns the partitions of `topics` (name → partition count) to `members`.
pub fn assign(
    strategy: AssignmentStrategy,
    members: &BTreeMap<String, MemberView>,
    topics: &BTreeMap<String, u32>,
) -> BTreeMap<String, BTreeSet<TopicPartition>> {
    let mut out: BTreeMap<String, BTreeSet<TopicPartition>> =
        members.keys().map(|m| (m.clone(), BTreeSet::new())).collect();
    let subscribers = |topic: &str| -> Vec<&String> {
        members.iter().filter(|(_, v)| v.topics.contains(topic)).map(|(m, _)| m).collect()
    };
    match strategy {
        AssignmentStrategy::Range => {
            for (topic, &count) in topics {
                let subs = subscribers(topic);
                if subs.is_empty() {
                    continue;
                }
                let n = subs.len() as u32;
                let (per, extra) = (count / n, count % n);
                let mut next = 0;
                for (i, m) in subs.iter().enumerate() {
                    let take = per + u32::from((i as u32) < extra);
                    for p in next..next + take {
                        out.entry((*m).clone()).or_default().insert((topic.clone(), p));
                    }
                    next += take;
                }
            }
        }
        AssignmentStrategy::RoundRobin => {
            let mut turn = 0usize;
            let all: Vec<&String> = members.keys().collect();
            for (topic, &count) in topics {
                for p in 0..count {
                    if subscribers(topic).is_empty() {
                        break;
                    }
                    loop {
                        let m = all[turn % all.len()];
                        turn += 1;
                        if members[m].topics.contains(topic) {
                            out.entry(m.clone()).or_default().insert((topic.clone(), p));
                            break;
                        }
                    }
                }
            }
        }
        AssignmentStrategy::CooperativeSticky => {
            for (topic, &count) in topics {
                let subs = subscribers(topic);
                if subs.is_empty() {
                    continue;
                }
                let n = subs.len() as u32;
                let quota = |i: usize| count / n + u32::from((i as u32) < count % n);
                // Members owning more keep more: order them by how much of this topic they own, most first.
                let mut ranked: Vec<&String> = subs.clone();
                let owned_here = |m: &String| members[m].owned.iter().filter(|(t, p)| t == topic && *p < count).count();
                ranked.sort_by(|a, b| owned_here(b).cmp(&owned_here(a)).then(a.cmp(b)));
                let mut taken = BTreeSet::new();
                for (i, m) in ranked.iter().enumerate() {
                    let keep: Vec<u32> = members[*m]
                        .owned
                        .iter()
                        .filter(|(t, p)| t == topic && *p < count && !taken.contains(p))
                        .map(|(_, p)| *p)
                        .take(quota(i) as usize)
                        .collect();
                    for p in keep {
                        taken.insert(p);
                        out.entry((*m).clone()).or_default().insert((topic.clone(), p));
                    }
                }
                let mut free = (0..count).filter(|p| !taken.contains(p));
                for (i, m) in ranked.iter().enumerate() {
                    let have = out[*m].iter().filter(|(t, _)| t == topic).count() as u32;
                    for _ in have..quota(i) {
                        if let Some(p) = free.next() {
                            out.entry((*m).clone()).or_default().insert((topic.clone(), p));
                        }
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Spec<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, u32)]);

    fn members(spec: &[Spec<'_>]) -> BTreeMap<String, MemberView> {
        spec.iter()
            .map(|(m, topics, owned)| {
                (
                    m.to_string(),
                    MemberView {
                        topics: topics.iter().map(|t| t.to_string()).collect(),
                        owned: owned.iter().map(|(t, p)| (t.to_string(), *p)).collect(),
                    },
                )
            })
            .collect()
    }

    fn topics(spec: &[(&str, u32)]) -> BTreeMap<String, u32> {
        spec.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    #[test]
    fn range_gives_contiguous_ranges() {
        let m = members(&[("a", &["t"], &[]), ("b", &["t"], &[])]);
        let out = assign(AssignmentStrategy::Range, &m, &topics(&[("t", 5)]));
        assert_eq!(out["a"].iter().map(|(_, p)| *p).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(out["b"].iter().map(|(_, p)| *p).collect::<Vec<_>>(), [3, 4]);
    }

    #[test]
    fn sticky_moves_only_the_surplus() {
        let m = members(&[("a", &["t"], &[("t", 0), ("t", 1), ("t", 2), ("t", 3)]), ("b", &["t"], &[])]);
        let out = assign(AssignmentStrategy::CooperativeSticky, &m, &topics(&[("t", 4)]));
        assert_eq!(out["a"].len(), 2);
        assert!(out["a"].iter().all(|tp| m["a"].owned.contains(tp)), "a keeps two of its own");
        assert_eq!(out["b"].len(), 2);
    }

    proptest! {
        #[test]
        fn every_partition_has_exactly_one_subscribed_owner(
            strategy in prop_oneof![Just(AssignmentStrategy::Range), Just(AssignmentStrategy::RoundRobin), Just(AssignmentStrategy::CooperativeSticky)],
            n_members in 1usize..6,
            counts in proptest::collection::vec(0u32..9, 1..4),
            subs in proptest::collection::vec(proptest::collection::vec(any::<bool>(), 3), 6),
            owned in proptest::collection::vec((0usize..3, 0u32..9), 0..12),
        ) {
            let topic_names: Vec<String> = (0..counts.len()).map(|i| format!("t{i}")).collect();
            let mut ms = BTreeMap::new();
            for (i, sub) in subs.iter().enumerate().take(n_members) {
                let topics: BTreeSet<String> = topic_names.iter().enumerate().filter(|(j, _)| sub[*j]).map(|(_, t)| t.clone()).collect();
                let owned: BTreeSet<TopicPartition> = owned.iter().filter(|(t, _)| *t < topic_names.len()).skip(i).step_by(n_members).map(|(t, p)| (topic_names[*t].clone(), *p)).collect();
                ms.insert(format!("m{i}"), MemberView { topics, owned });
            }
            let ts: BTreeMap<String, u32> = topic_names.iter().cloned().zip(counts.iter().copied()).collect();
            let out = assign(strategy, &ms, &ts);
            let mut seen = BTreeSet::new();
            for (m, parts) in &out {
                for tp in parts {
                    prop_assert!(seen.insert(tp.clone()), "{tp:?} assigned twice");
                    prop_assert!(ms[m].topics.contains(&tp.0), "{m} does not subscribe to {}", tp.0);
                    prop_assert!(tp.1 < ts[&tp.0]);
                }
            }
            for (t, &n) in &ts {
                let subscribed = ms.values().any(|v| v.topics.contains(t));
                for p in 0..n {
                    prop_assert_eq!(seen.contains(&(t.clone(), p)), subscribed, "{}-{} ownership", t, p);
                }
            }
        }
    }
}
