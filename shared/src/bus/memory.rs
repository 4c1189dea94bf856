//! The in-process bus of `nazer up`: publishing hands the event to every local consumer bound
//! to its type and returns once each has committed (or parked) it. The outbox row is marked
//! published only then, so a crash in between means a republish, never a loss.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use futures_util::future::join_all;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Bus, BusError, BusKind, ConsumerSpec, DeliveryError, DeliverySink, retry_backoff, topic_matches};
use crate::events::Envelope;

type Handoff = (Envelope, oneshot::Sender<()>);

struct LocalQueue {
    consumer: &'static str,
    bindings: Vec<String>,
    sender: mpsc::Sender<Handoff>,
}

pub struct InProcessBus {
    queues: RwLock<Vec<LocalQueue>>,
    delivery_limit: u32,
}

impl InProcessBus {
    pub fn new(delivery_limit: u32) -> Arc<Self> {
        Arc::new(Self { queues: RwLock::new(Vec::new()), delivery_limit: delivery_limit.max(1) })
    }

    fn senders_for(&self, routing_key: &str) -> Vec<mpsc::Sender<Handoff>> {
        let queues = self.queues.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        queues
            .iter()
            .filter(|q| q.bindings.iter().any(|p| topic_matches(p, routing_key)))
            .map(|q| q.sender.clone())
            .collect()
    }
}

#[async_trait]
impl Bus for InProcessBus {
    fn kind(&self) -> BusKind {
        BusKind::InProcess
    }

    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        let mut receipts = Vec::new();
        for sender in self.senders_for(&envelope.routing_key()) {
            let (done, receipt) = oneshot::channel();
            sender
                .send((envelope.clone(), done))
                .await
                .map_err(|_| BusError::Unavailable("a local consumer has stopped".into()))?;
            receipts.push(receipt);
        }
        for outcome in join_all(receipts).await {
            outcome.map_err(|_| BusError::Unavailable("a local consumer stopped mid-delivery".into()))?;
        }
        Ok(())
    }

    async fn consume(
        &self,
        spec: ConsumerSpec,
        sink: Arc<dyn DeliverySink>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError> {
        let (sender, mut receiver) = mpsc::channel::<Handoff>(64);
        {
            let mut queues = self.queues.write().unwrap_or_else(|poisoned| poisoned.into_inner());
            if queues.iter().any(|q| q.consumer == spec.consumer) {
                return Err(BusError::Topology(format!("consumer `{}` is already registered", spec.consumer)));
            }
            queues.push(LocalQueue { consumer: spec.consumer, bindings: spec.bindings, sender });
        }
        let limit = self.delivery_limit;
        let consumer = spec.consumer;
        Ok(tokio::spawn(async move {
            loop {
                let (envelope, done) = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    next = receiver.recv() => match next {
                        Some(handoff) => handoff,
                        None => break,
                    },
                };
                // Only a committed or parked event is confirmed; dropping `done` tells the
                // publisher it was not sent, so its outbox row stays for the next attempt.
                if deliver_with_retries(consumer, sink.as_ref(), &envelope, limit, &shutdown).await {
                    let _ = done.send(());
                }
            }
        }))
    }

    async fn is_ready(&self) -> bool {
        true
    }
}

/// Delivers until the event is committed or parked; false when neither happened (shutdown,
/// or the park itself failed), so the publisher keeps it unpublished.
async fn deliver_with_retries(
    consumer: &str,
    sink: &dyn DeliverySink,
    envelope: &Envelope,
    limit: u32,
    shutdown: &CancellationToken,
) -> bool {
    let mut attempt = 1;
    let mut waits = 1;
    loop {
        let failure = match sink.deliver(envelope, attempt).await {
            Ok(()) => return true,
            Err(DeliveryError::Permanent(error)) => return sink.park(envelope, &error).await,
            Err(DeliveryError::Transient(error)) if attempt >= limit => {
                return sink.park(envelope, &format!("gave up after {attempt} attempts: {error}")).await;
            }
            Err(DeliveryError::Transient(error)) => {
                attempt += 1;
                error
            }
            Err(DeliveryError::Unavailable(error)) => error,
        };
        tracing::warn!(consumer, event_id = %envelope.event_id, attempt, error = %failure, "delivery failed; retrying");
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(retry_backoff(waits)) => {}
        }
        waits += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::Utc;

    use super::*;
    use crate::events::DeadlineMet;

    #[derive(Default)]
    struct Recorder {
        seen: Mutex<Vec<(String, u32)>>,
        parked: Mutex<Vec<String>>,
        fail_first: u32,
        permanent: bool,
        unavailable_first: u32,
        park_fails: bool,
    }

    #[async_trait]
    impl DeliverySink for Recorder {
        async fn deliver(&self, envelope: &Envelope, attempt: u32) -> Result<(), DeliveryError> {
            self.seen.lock().unwrap().push((envelope.event_type.clone(), attempt));
            if self.permanent {
                return Err(DeliveryError::Permanent("bad".into()));
            }
            if self.seen.lock().unwrap().len() as u32 <= self.unavailable_first {
                return Err(DeliveryError::Unavailable("database down".into()));
            }
            if attempt <= self.fail_first {
                return Err(DeliveryError::Transient("not yet".into()));
            }
            Ok(())
        }
        async fn park(&self, envelope: &Envelope, _error: &str) -> bool {
            self.parked.lock().unwrap().push(envelope.event_type.clone());
            !self.park_fails
        }
    }

    fn event() -> Envelope {
        let met = DeadlineMet {
            subject: None,
            deadline_id: "d".into(),
            message_id: "m".into(),
            stage: "s".into(),
            due_at: Utc::now(),
            met_at: Utc::now(),
            answered_late: false,
        };
        Envelope::new("test", &met, Utc::now()).unwrap()
    }

    async fn consumer(bus: &InProcessBus, name: &'static str, keys: Vec<&'static str>, sink: Arc<Recorder>) {
        bus.consume(
            ConsumerSpec { consumer: name, bindings: keys.into_iter().map(String::from).collect() },
            sink,
            CancellationToken::new(),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn publish_returns_after_every_bound_consumer_handled_it() {
        let bus = InProcessBus::new(3);
        let bound = Arc::new(Recorder::default());
        let unbound = Arc::new(Recorder::default());
        consumer(&bus, "a", vec!["deadline.*"], bound.clone()).await;
        consumer(&bus, "b", vec!["message.received"], unbound.clone()).await;
        bus.publish(&event()).await.unwrap();
        assert_eq!(bound.seen.lock().unwrap().as_slice(), &[("deadline.met".to_string(), 1)]);
        assert!(unbound.seen.lock().unwrap().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_then_parked_at_the_limit() {
        let bus = InProcessBus::new(3);
        let flaky = Arc::new(Recorder { fail_first: 1, ..Default::default() });
        let broken = Arc::new(Recorder { fail_first: 99, ..Default::default() });
        consumer(&bus, "flaky", vec!["deadline.met"], flaky.clone()).await;
        consumer(&bus, "broken", vec!["deadline.met"], broken.clone()).await;
        bus.publish(&event()).await.unwrap();
        assert_eq!(flaky.seen.lock().unwrap().len(), 2);
        assert!(flaky.parked.lock().unwrap().is_empty());
        assert_eq!(broken.seen.lock().unwrap().len(), 3);
        assert_eq!(broken.parked.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn permanent_failures_are_parked_at_once() {
        let bus = InProcessBus::new(5);
        let poison = Arc::new(Recorder { permanent: true, ..Default::default() });
        consumer(&bus, "p", vec!["#"], poison.clone()).await;
        bus.publish(&event()).await.unwrap();
        assert_eq!(poison.seen.lock().unwrap().len(), 1);
        assert_eq!(poison.parked.lock().unwrap().len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unavailable_database_is_waited_for_without_counting_attempts() {
        let bus = InProcessBus::new(2);
        let patient = Arc::new(Recorder { unavailable_first: 6, ..Default::default() });
        consumer(&bus, "patient", vec!["deadline.met"], patient.clone()).await;
        bus.publish(&event()).await.unwrap();
        assert_eq!(patient.seen.lock().unwrap().len(), 7);
        assert!(patient.parked.lock().unwrap().is_empty(), "an outage is no reason to park");
    }

    #[tokio::test]
    async fn an_event_that_could_not_be_parked_is_not_confirmed() {
        let bus = InProcessBus::new(1);
        let broken = Arc::new(Recorder { permanent: true, park_fails: true, ..Default::default() });
        consumer(&bus, "broken", vec!["#"], broken.clone()).await;
        assert!(bus.publish(&event()).await.is_err(), "the outbox must keep it");
    }

    #[tokio::test]
    async fn a_consumer_name_is_registered_once() {
        let bus = InProcessBus::new(1);
        consumer(&bus, "a", vec!["#"], Arc::new(Recorder::default())).await;
        let again = bus
            .consume(
                ConsumerSpec { consumer: "a", bindings: vec!["#".into()] },
                Arc::new(Recorder::default()),
                CancellationToken::new(),
            )
            .await;
        assert!(again.is_err());
    }
}
