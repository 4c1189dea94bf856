//! RabbitMQ through lapin: one durable topic exchange, a durable quorum queue per consumer bound
//! to the event types it needs, publisher confirms, manual acks after commit, and a parking
//! queue per consumer behind a dead-letter exchange with a bounded delivery count.
//!
//! Connections are not recovered in place (an unconfirmed publish after a recovery fails
//! anyway): a failed publish drops the connection and reports "not sent", so the outbox
//! publishes again; a consumer whose connection dies, however it dies, opens a new one with
//! backoff and redeclares (see `consumer`). Every wait on the broker is bounded, and heartbeats
//! (`broker.heartbeat_secs`) tell a silent connection from a quiet one.

mod consumer;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::uri::AMQPUri;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind, PublisherConfirm};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{Bus, BusError, BusKind, ConsumerSpec, DeliverySink};
use crate::config::BrokerSettings;
use crate::events::Envelope;
use crate::telemetry::context::TRACEPARENT;
use crate::topology;

const CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for a connection to be opened and set up (channel, declarations, consume):
/// a broker that stops answering halfway through does not hold anyone for ever.
const SETUP_TIMEOUT: Duration = Duration::from_secs(20);

struct Publisher {
    connection: Connection,
    channel: Channel,
}

pub struct RabbitBus {
    url: String,
    settings: BrokerSettings,
    publisher: Mutex<Option<Publisher>>,
    /// Each consumer's connection and channel (readiness tells the truth about consumers
    /// stuck reconnecting, not only about publishing).
    links: consumer::Links,
    /// The runtime every connection is opened on (see [`RabbitBus::connect`]).
    runtime: Option<tokio::runtime::Handle>,
}

/// The event types' own keys a consumer no longer binds: those of which it binds only a subject's
/// key (`deadline.met.violation_case`) or every key (`deadline.met.#`, which covers the own key).
fn superseded_bindings(bindings: &[String]) -> Vec<&str> {
    let mut superseded: Vec<&str> = bindings
        .iter()
        .filter_map(|binding| binding.rsplit_once('.').map(|(event_type, _)| event_type))
        .filter(|event_type| event_type.contains('.') && !bindings.iter().any(|b| b == event_type))
        .collect();
    superseded.dedup();
    superseded
}

fn unavailable(error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(error.to_string())
}

impl RabbitBus {
    pub fn new(url: &str, settings: &BrokerSettings) -> Arc<Self> {
        Arc::new(Self {
            url: url.to_string(),
            settings: settings.clone(),
            publisher: Mutex::new(None),
            links: consumer::Links::default(),
            runtime: tokio::runtime::Handle::try_current().ok(),
        })
    }

    fn exchange(&self) -> String {
        format!("{}.events", self.settings.namespace)
    }

    fn parking_exchange(&self) -> String {
        format!("{}.parking", self.settings.namespace)
    }

    fn queue(&self, consumer: &str) -> String {
        format!("{}.{}", self.settings.namespace, consumer)
    }

    fn parking_queue(&self, consumer: &str) -> String {
        format!("{}.{}.parked", self.settings.namespace, consumer)
    }

    /// Opens a connection on the runtime the bus was made on, whoever asks. lapin binds a
    /// connection's socket and internal tasks to the runtime current at connect time, and the
    /// first to open the publisher is usually `/readyz`, on an HTTP worker: its runtime ends when
    /// the server stops, so the publisher died halfway through a shutdown (a confirm never came,
    /// the relay waited for it until the grace period was over), and while serving, every
    /// confirm waited for that busy worker thread.
    async fn connect(&self, role: &str) -> Result<Connection, BusError> {
        let properties = ConnectionProperties::default().with_connection_name(format!("nazer-{role}").into());
        let mut uri: AMQPUri = self.url.parse().map_err(|e| BusError::Unavailable(format!("broker URL: {e}")))?;
        // Heartbeats are what tell a silent connection (a partition, a half-open socket) from an
        // idle one; an explicit `heartbeat` in the URL wins.
        uri.query.heartbeat.get_or_insert(self.settings.heartbeat_secs);
        // The time limit lives inside the task: a caller that gives up first (a probe's own
        // timeout, a shutdown) must not leave a handshake pending for ever.
        let connecting =
            async move { tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect_uri(uri, properties)).await };
        let task = match &self.runtime {
            Some(runtime) => runtime.spawn(connecting),
            None => tokio::spawn(connecting),
        };
        match tokio_util::task::AbortOnDropHandle::new(task).await {
            Ok(Ok(connected)) => connected.map_err(unavailable),
            Ok(Err(_)) => Err(BusError::Unavailable(format!("no AMQP handshake within {CONNECT_TIMEOUT:?}"))),
            Err(stopped) => Err(unavailable(stopped)),
        }
    }

    /// Declares the exchanges and the queues of `consumers` with their bindings, so that an event
    /// published before its consumer first starts waits in that consumer's queue instead of
    /// being dropped (`nazer migrate` declares every service's).
    pub async fn declare_topology(&self, consumers: &[ConsumerSpec]) -> Result<(), BusError> {
        bounded("declaring the topology", self.declare_all(consumers)).await
    }

    async fn declare_all(&self, consumers: &[ConsumerSpec]) -> Result<(), BusError> {
        let connection = self.connect("topology").await?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        self.declare_exchanges(&channel).await?;
        for spec in consumers {
            self.declare_consumer_queues(&channel, spec).await?;
        }
        let _ = connection.close(200, "topology declared".into()).await;
        Ok(())
    }

    /// Deletes every queue and exchange of this namespace (tests clean up after themselves).
    pub async fn delete_topology(&self) -> Result<(), BusError> {
        bounded("deleting the topology", self.delete_all()).await
    }

    async fn delete_all(&self) -> Result<(), BusError> {
        let connection = self.connect("cleanup").await?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        for consumer in topology::SERVICES {
            for queue in [self.queue(consumer), self.parking_queue(consumer)] {
                channel.queue_delete(queue.into(), QueueDeleteOptions::default()).await.map_err(unavailable)?;
            }
        }
        for exchange in [self.exchange(), self.parking_exchange()] {
            channel.exchange_delete(exchange.into(), ExchangeDeleteOptions::default()).await.map_err(unavailable)?;
        }
        let _ = connection.close(200, "topology deleted".into()).await;
        Ok(())
    }

    async fn declare_exchanges(&self, channel: &Channel) -> Result<(), BusError> {
        let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
        channel
            .exchange_declare(self.exchange().into(), ExchangeKind::Topic, durable, FieldTable::default())
            .await
            .map_err(|e| BusError::Topology(e.to_string()))?;
        channel
            .exchange_declare(self.parking_exchange().into(), ExchangeKind::Direct, durable, FieldTable::default())
            .await
            .map_err(|e| BusError::Topology(e.to_string()))
    }

    fn queue_arguments(&self, dead_letter_key: Option<&str>) -> FieldTable {
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        if let Some(key) = dead_letter_key {
            // Quorum queues have no default delivery limit: without one a poison event loops.
            args.insert("x-delivery-limit".into(), AMQPValue::LongInt(self.settings.delivery_limit as i32));
            args.insert("x-dead-letter-exchange".into(), AMQPValue::LongString(self.parking_exchange().into()));
            args.insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(key.into()));
            // At-least-once dead-lettering needs reject-publish overflow.
            args.insert("x-dead-letter-strategy".into(), AMQPValue::LongString("at-least-once".into()));
            args.insert("x-overflow".into(), AMQPValue::LongString("reject-publish".into()));
        }
        if let Some(ms) = self.settings.queue_expires_ms {
            args.insert("x-expires".into(), AMQPValue::LongLongInt(ms as i64));
        }
        args
    }

    async fn declare_consumer_queues(&self, channel: &Channel, spec: &ConsumerSpec) -> Result<(), BusError> {
        let topology_error = |e: lapin::Error| BusError::Topology(e.to_string());
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        let parked = self.parking_queue(spec.consumer);
        channel
            .queue_declare(parked.clone().into(), durable, self.queue_arguments(None))
            .await
            .map_err(topology_error)?;
        channel
            .queue_bind(
                parked.into(),
                self.parking_exchange().into(),
                spec.consumer.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(topology_error)?;
        let queue = self.queue(spec.consumer);
        channel
            .queue_declare(queue.clone().into(), durable, self.queue_arguments(Some(spec.consumer)))
            .await
            .map_err(topology_error)?;
        for binding in &spec.bindings {
            channel
                .queue_bind(
                    queue.clone().into(),
                    self.exchange().into(),
                    binding.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(topology_error)?;
        }
        Ok(())
    }

    /// Unbinds from each consumer's queue the keys an earlier release bound and this one no
    /// longer needs (a type's own key where the consumer now follows one kind of subject): run
    /// once every replica runs this release, since until then an earlier producer may still
    /// publish on the old key. Unbinding a binding that does not exist is a no-op. How many
    /// keys were unbound (or never bound).
    pub async fn drop_superseded_bindings(&self, consumers: &[ConsumerSpec]) -> Result<usize, BusError> {
        bounded("dropping superseded bindings", async {
            let connection = self.connect("topology").await?;
            let channel = connection.create_channel().await.map_err(unavailable)?;
            let mut dropped = 0;
            for spec in consumers {
                for superseded in superseded_bindings(&spec.bindings) {
                    channel
                        .queue_unbind(
                            self.queue(spec.consumer).into(),
                            self.exchange().into(),
                            superseded.into(),
                            FieldTable::default(),
                        )
                        .await
                        .map_err(|e| BusError::Topology(e.to_string()))?;
                    dropped += 1;
                }
            }
            let _ = connection.close(200, "superseded bindings dropped".into()).await;
            Ok(dropped)
        })
        .await
    }

    async fn open_publisher(&self) -> Result<Publisher, BusError> {
        bounded("opening the publisher", self.open_publisher_unbounded()).await
    }

    async fn open_publisher_unbounded(&self) -> Result<Publisher, BusError> {
        let connection = self.connect("publisher").await?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        // The consumers' queues are theirs to declare (and `nazer migrate`'s): the publisher
        // only needs the exchange.
        self.declare_exchanges(&channel).await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(unavailable)?;
        tracing::debug!("publisher connection opened");
        Ok(Publisher { connection, channel })
    }

    /// Hands one event to the channel; the confirm is awaited by the caller.
    async fn send(&self, channel: &Channel, envelope: &Envelope) -> Result<PublisherConfirm, BusError> {
        let payload = envelope.to_bytes().map_err(|e| BusError::Encode(e.to_string()))?;
        let mut headers = FieldTable::default();
        headers.insert("producer".into(), AMQPValue::LongString(LongString::from(envelope.producer.as_str())));
        if let Some(traceparent) = &envelope.trace_parent {
            headers.insert(TRACEPARENT.into(), AMQPValue::LongString(LongString::from(traceparent.as_str())));
        }
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(ShortString::from("application/json"))
            .with_message_id(ShortString::from(envelope.event_id.to_string()))
            .with_type(ShortString::from(envelope.event_type.as_str()))
            .with_timestamp(envelope.occurred_at.timestamp().max(0) as u64)
            .with_headers(headers);
        channel
            .basic_publish(
                self.exchange().into(),
                envelope.routing_key().into(),
                BasicPublishOptions::default(),
                &payload,
                properties,
            )
            .await
            .map_err(unavailable)
    }
}

#[async_trait]
impl Bus for RabbitBus {
    fn kind(&self) -> BusKind {
        BusKind::RabbitMq
    }

    async fn publish(&self, envelope: &Envelope) -> Result<(), BusError> {
        let mut outcomes = self.publish_batch(std::slice::from_ref(envelope)).await;
        outcomes.pop().unwrap_or_else(|| Err(BusError::Unavailable("no outcome for the event".into())))
    }

    /// Sends the whole batch, then awaits the confirms together: one broker round trip for the
    /// batch instead of one per event (a quorum queue confirms after its replicas wrote it).
    async fn publish_batch(&self, envelopes: &[Envelope]) -> Vec<Result<(), BusError>> {
        let mut guard = self.publisher.lock().await;
        if guard.as_ref().is_none_or(|p| !p.connection.status().connected() || !p.channel.status().connected()) {
            match self.open_publisher().await {
                Ok(publisher) => *guard = Some(publisher),
                Err(error) => return envelopes.iter().map(|_| Err(BusError::Unavailable(error.to_string()))).collect(),
            }
        }
        let Some(publisher) = guard.as_ref() else {
            return envelopes.iter().map(|_| Err(BusError::Unavailable("no publisher channel".into()))).collect();
        };
        // A half-open connection would leave the confirms pending until the heartbeat notices:
        // one deadline for the batch, applied to each event, so a confirm that did arrive counts.
        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
        let late = || BusError::Unavailable(format!("no confirm within {CONFIRM_TIMEOUT:?}"));
        let mut confirms = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let sent = match tokio::time::timeout_at(deadline, self.send(&publisher.channel, envelope)).await {
                Ok(sent) => sent,
                Err(_) => Err(late()),
            };
            confirms.push(sent);
        }
        let waiting = confirms.into_iter().map(|sent| async move {
            let confirmation = match tokio::time::timeout_at(deadline, sent?).await {
                Ok(confirmation) => confirmation.map_err(unavailable)?,
                Err(_) => return Err(late()),
            };
            match confirmation {
                Confirmation::Ack(_) => Ok(()),
                Confirmation::Nack(_) => Err(BusError::Rejected("broker nacked the event".into())),
                Confirmation::NotRequested => Err(BusError::Rejected("publisher confirms are off".into())),
            }
        });
        let outcomes = futures_util::future::join_all(waiting).await;
        // Whatever the cause, a channel that lost an event can no longer be trusted.
        if outcomes.iter().any(|o| matches!(o, Err(BusError::Unavailable(_)))) {
            *guard = None;
        }
        outcomes
    }

    async fn declare(&self, consumers: &[ConsumerSpec]) -> Result<(), BusError> {
        self.declare_topology(consumers).await
    }

    async fn consume(
        &self,
        spec: ConsumerSpec,
        sink: Arc<dyn DeliverySink>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BusError> {
        let bus = Self {
            url: self.url.clone(),
            settings: self.settings.clone(),
            publisher: Mutex::new(None),
            links: self.links.clone(),
            runtime: self.runtime.clone(),
        };
        // Known from now on, so readiness waits for its first connection.
        self.links.set(spec.consumer, None);
        Ok(tokio::spawn(consumer::run(bus, spec, sink, shutdown)))
    }

    async fn is_ready(&self) -> bool {
        if !self.links.all_alive() {
            return false;
        }
        // A batch in flight holds the publisher for up to its confirm timeout: the probe does not
        // wait that long, the consumers' live connections already say the broker is there.
        let Ok(mut guard) = tokio::time::timeout(Duration::from_millis(500), self.publisher.lock()).await else {
            return true;
        };
        if guard.as_ref().is_some_and(|p| p.connection.status().connected() && p.channel.status().connected()) {
            return true;
        }
        match tokio::time::timeout(Duration::from_secs(3), self.open_publisher()).await {
            Ok(Ok(publisher)) => {
                *guard = Some(publisher);
                true
            }
            _ => false,
        }
    }
}

/// `work` within [`SETUP_TIMEOUT`], or "unavailable" naming what did not finish.
async fn bounded<T>(what: &str, work: impl Future<Output = Result<T, BusError>>) -> Result<T, BusError> {
    tokio::time::timeout(SETUP_TIMEOUT, work).await.unwrap_or_else(|_| {
        Err(BusError::Unavailable(format!("{what}: no answer from the broker within {SETUP_TIMEOUT:?}")))
    })
}

#[cfg(test)]
mod tests {
    use super::superseded_bindings;

    #[test]
    fn a_subject_binding_supersedes_the_type_own_key_only() {
        let bindings: Vec<String> =
            ["message.assigned", "deadline.met.violation_case", "warning.issued.#", "warning.issued"]
                .map(String::from)
                .to_vec();
        assert_eq!(superseded_bindings(&bindings), vec!["deadline.met"]);
        let plain: Vec<String> = vec!["message.assigned".into()];
        assert!(superseded_bindings(&plain).is_empty());
    }
}
