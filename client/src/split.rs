//! Client-side partitioning of one `send` with [`callboard_protocol::model::Partitioning::MessageKey`]: each keyed
//! message goes to the partition its key hashes to, the messages without a key together to one round-robin
//! partition.

use std::collections::BTreeMap;

use callboard_protocol::model::{Message, partition_for_key};

/// Indices of `messages` per partition, in ascending partition order and message order within each.
/// `keyless` is the partition for messages without a key.
pub(crate) fn split_by_key(messages: &[Message], partitions: u32, keyless: u32) -> Vec<(u32, Vec<usize>)> {
    let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, m) in messages.iter().enumerate() {
        let p = match &m.key {
            Some(key) => partition_for_key(key, partitions),
            None => keyless % partitions.max(1),
        };
        groups.entry(p).or_default().push(i);
    }
    groups.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_messages_follow_their_key_and_keep_their_order() {
        let messages: Vec<Message> =
            (0..100).map(|i| Message::new(format!("{i}")).with_key(format!("k{}", i % 7))).collect();
        let groups = split_by_key(&messages, 4, 0);
        let mut seen = 0;
        for (p, idx) in &groups {
            assert!(idx.windows(2).all(|w| w[0] < w[1]), "message order kept");
            for &i in idx {
                let key = messages[i].key.as_ref().expect("key");
                assert_eq!(partition_for_key(key, 4), *p);
            }
            seen += idx.len();
        }
        assert_eq!(seen, 100);
        assert!(groups.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn keyless_messages_go_together_to_the_round_robin_partition() {
        let messages = vec![Message::new("a"), Message::new("b").with_key("x"), Message::new("c")];
        let groups = split_by_key(&messages, 3, 5);
        let keyless = groups.iter().find(|(p, _)| *p == 2).expect("5 % 3 = 2");
        assert!(keyless.1.contains(&0) && keyless.1.contains(&2));
    }
}
