//! The bus: one trait, two implementations. RabbitMQ between processes; an in-process bus
//! when every service runs inside one `nazer up`.
//!
//! Both give the same contract: `publish` returns only once the event is safely handed over
//! (a broker confirm, or every local consumer has committed it), and a consumer's sink
//! decides per delivery whether to acknowledge, retry later or park it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::events::Envelope;

pub mod memory;
pub mod rabbit;

pub use memory::InProcessBus;
pub use rabbit::RabbitBus;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("broker unreachable: {0}")]
    Unavailable(String),
    #[error("broker refused the event: {0}")]
    Rejected(String),
    #[error("event could not be encoded: {0}")]
    Encode(String),
    #[error("broker topology could not be declared: {0}")]
    Topology(String),
}

/// What a consumer wants from the bus: a name (its queue) and the routing keys it needs (topic
/// patterns over [`Envelope::routing_key`](crate::events::Envelope::routing_key)).
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub consumer: &'static str,
    pub bindings: Vec<String>,
}

/// How one delivery went, as the consumer sees it.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// A dependency is down (no database connection, the database busy): retried in place,
    /// without counting towards the delivery limit, until it comes back or the process stops.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// Failed for another reason that may pass: retried, at most up to the delivery limit.
    #[error("transient failure: {0}")]
    Transient(String),
    /// Will never succeed (undecodable, violates an invariant): park it at once.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

#[async_trait]
pub trait DeliverySink: Send + Sync + 'static {
    /// Handles one delivery; `Ok` means committed (or already seen) and may be acknowledged.
    async fn deliver(&self, envelope: &Envelope, attempt: u32) -> Result<(), DeliveryError>;

    /// Keeps an event the consumer gave up on, where an operator can find it; false when it
    /// could not be kept (then it must not be acknowledged). The in-process bus calls it;
    /// RabbitMQ dead-letters to a parking queue instead.
    async fn park(&self, envelope: &Envelope, error: &str) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    InProcess,
    RabbitMq,
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    fn kind(&self) -> BusKind;

    /// Publishes and waits until the event is safe: an error means "not sent", and the
    /// caller (the outbox relay) must publish it again.
    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError>;

    /// Publishes `envelopes` and waits until each is safe or not sent: one outcome per
    /// envelope, in order, each meaning what [`Bus::publish`]'s does. An event may be confirmed
    /// while one before it is not (the caller publishes that one again later; consumers are
    /// idempotent by event id). This default publishes one at a time and reports everything
    /// after the first failure as not sent.
    async fn publish_batch(&self, envelopes: &[Envelope]) -> Vec<Result<(), BusError>> {
        let mut outcomes = Vec::with_capacity(envelopes.len());
        let mut failed = false;
        for envelope in envelopes {
            let outcome = if failed {
                Err(BusError::Unavailable("not sent: an earlier event of the batch was not".into()))
            } else {
                self.publish(envelope).await
            };
            failed |= outcome.is_err();
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Declares the queues of `consumers` and their bindings ahead of their first start (nothing
    /// to declare in one process).
    async fn declare(&self, _consumers: &[ConsumerSpec]) -> Result<(), BusError> {
        Ok(())
    }

    /// Declares what the consumer needs and delivers into `sink` until `shutdown`.
    async fn consume(
        &self,
        spec: ConsumerSpec,
        sink: Arc<dyn DeliverySink>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError>;

    /// True while the bus can take and hand over events (readiness).
    async fn is_ready(&self) -> bool;
}

/// Delay before retrying a failed delivery: doubling from 100 ms, capped at 5 s.
pub fn retry_backoff(attempt: u32) -> Duration {
    let exponent = attempt.saturating_sub(1).min(6);
    Duration::from_millis((100u64 << exponent).min(5_000))
}

/// AMQP topic matching: words split by '.', `*` matches one word, `#` zero or more.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_patterns_follow_amqp_rules() {
        assert!(topic_matches("message.received", "message.received"));
        assert!(!topic_matches("message.received", "message.assigned"));
        assert!(topic_matches("message.*", "message.assigned"));
        assert!(!topic_matches("message.*", "message.a.b"));
        assert!(topic_matches("#", "warning.issued"));
        assert!(topic_matches("message.#", "message"));
        assert!(topic_matches("#.issued", "warning.issued"));
    }

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(retry_backoff(1), Duration::from_millis(100));
        assert_eq!(retry_backoff(2), Duration::from_millis(200));
        assert_eq!(retry_backoff(30), Duration::from_millis(5_000));
    }
}
