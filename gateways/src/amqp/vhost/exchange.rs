//! Exchanges and bindings: the four exchange types and how each matches a routing key (direct: equal; fanout:
//! always; topic: `.`-separated words with `*` for one word and `#` for zero or more; headers: `x-match` `all` or
//! `any` over the binding's arguments).

use amq_protocol::types::{AMQPValue, FieldTable};
use serde::{Deserialize, Serialize};

/// Exchange types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeKind {
    /// Routing key equals the binding key.
    Direct,
    /// Every binding.
    Fanout,
    /// Pattern match on words.
    Topic,
    /// Match on message headers.
    Headers,
}

impl ExchangeKind {
    /// The type named in `exchange.declare`.
    pub fn parse(name: &str) -> Option<ExchangeKind> {
        match name {
            "direct" => Some(ExchangeKind::Direct),
            "fanout" => Some(ExchangeKind::Fanout),
            "topic" => Some(ExchangeKind::Topic),
            "headers" => Some(ExchangeKind::Headers),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            ExchangeKind::Direct => "direct",
            ExchangeKind::Fanout => "fanout",
            ExchangeKind::Topic => "topic",
            ExchangeKind::Headers => "headers",
        }
    }
}

/// Where a binding leads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Destination {
    /// A queue.
    Queue(String),
    /// Another exchange.
    Exchange(String),
}

/// A binding from an exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Binding {
    /// Where matching messages go.
    pub destination: Destination,
    /// Binding key.
    pub routing_key: String,
    /// Arguments (headers exchanges match on them).
    pub arguments: FieldTable,
}

/// An exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exchange {
    /// Name.
    pub name: String,
    /// Type.
    pub kind: ExchangeKind,
    /// Survives a restart.
    pub durable: bool,
    /// Deleted when its last binding goes.
    pub auto_delete: bool,
    /// Not published to directly.
    pub internal: bool,
    /// Declared arguments.
    pub arguments: FieldTable,
    /// Bindings from it.
    #[serde(skip)]
    pub bindings: Vec<Binding>,
}

impl Exchange {
    /// A built-in exchange.
    pub fn builtin(name: &str, kind: ExchangeKind) -> Exchange {
        Exchange {
            name: name.into(),
            kind,
            durable: true,
            auto_delete: false,
            internal: false,
            arguments: FieldTable::default(),
            bindings: Vec::new(),
        }
    }

    /// Destinations of the bindings a message with this key and headers matches.
    pub fn matches<'a>(
        &'a self,
        key: &'a str,
        headers: Option<&'a FieldTable>,
    ) -> impl Iterator<Item = &'a Destination> {
        self.bindings.iter().filter(move |b| self.binding_matches(b, key, headers)).map(|b| &b.destination)
    }

    fn binding_matches(&self, binding: &Binding, key: &str, headers: Option<&FieldTable>) -> bool {
        match self.kind {
            ExchangeKind::Direct => binding.routing_key == key,
            ExchangeKind::Fanout => true,
            ExchangeKind::Topic => topic_matches(&binding.routing_key, key),
            ExchangeKind::Headers => headers_match(&binding.arguments, headers),
        }
    }
}

/// Whether a topic binding pattern matches a routing key.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = if key.is_empty() { Vec::new() } else { key.split('.').collect() };
    words_match(&pattern, &key)
}

fn words_match(pattern: &[&str], key: &[&str]) -> bool {
    match pattern.split_first() {
        None => key.is_empty(),
        Some((&"#", rest)) => (0..=key.len()).any(|skip| words_match(rest, &key[skip..])),
        Some((&"*", rest)) => !key.is_empty() && words_match(rest, &key[1..]),
        Some((word, rest)) => key.first() == Some(word) && words_match(rest, &key[1..]),
    }
}

fn same_value(a: &AMQPValue, b: &AMQPValue) -> bool {
    let text = |v: &AMQPValue| match v {
        AMQPValue::LongString(s) => Some(s.as_bytes().to_vec()),
        AMQPValue::ShortString(s) => Some(s.as_str().as_bytes().to_vec()),
        _ => None,
    };
    match (text(a), text(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Whether message headers match a headers-exchange binding (`x-match`: `all`, the default, or `any`; arguments
/// starting with `x-` are not matched).
pub fn headers_match(arguments: &FieldTable, headers: Option<&FieldTable>) -> bool {
    let any = matches!(
        arguments.inner().get("x-match"),
        Some(v) if matches!(v, AMQPValue::LongString(s) if s.as_bytes().starts_with(b"any"))
            || matches!(v, AMQPValue::ShortString(s) if s.as_str().starts_with("any"))
    );
    let empty = FieldTable::default();
    let headers = headers.unwrap_or(&empty).inner();
    let mut wanted = arguments.inner().iter().filter(|(k, _)| !k.as_str().starts_with("x-")).peekable();
    if wanted.peek().is_none() {
        return true;
    }
    let matched = |(k, v): (&amq_protocol::types::ShortString, &AMQPValue)| {
        headers.get(k).is_some_and(|h| matches!(v, AMQPValue::Void) || same_value(h, v))
    };
    if any { wanted.any(matched) } else { wanted.all(matched) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns() {
        assert!(topic_matches("a.*.c", "a.b.c"));
        assert!(!topic_matches("a.*.c", "a.c"));
        assert!(topic_matches("a.#", "a"));
        assert!(topic_matches("a.#", "a.b.c"));
        assert!(topic_matches("#", ""));
        assert!(topic_matches("#.c", "a.b.c"));
        assert!(topic_matches("*.b.#", "a.b"));
        assert!(!topic_matches("*.b.#", "b"));
        assert!(!topic_matches("a.b", "a.b.c"));
        assert!(topic_matches("a.#.z", "a.z"));
    }

    #[test]
    fn headers_all_and_any() {
        let mut args = FieldTable::default();
        args.insert("a".into(), AMQPValue::LongString("1".into()));
        args.insert("b".into(), AMQPValue::LongInt(2));
        let mut headers = FieldTable::default();
        headers.insert("a".into(), AMQPValue::ShortString("1".into()));
        assert!(!headers_match(&args, Some(&headers)), "all by default");
        args.insert("x-match".into(), AMQPValue::LongString("any".into()));
        assert!(headers_match(&args, Some(&headers)));
        assert!(!headers_match(&args, None));
        headers.insert("b".into(), AMQPValue::LongInt(2));
        args.insert("x-match".into(), AMQPValue::LongString("all".into()));
        assert!(headers_match(&args, Some(&headers)));
    }
}
