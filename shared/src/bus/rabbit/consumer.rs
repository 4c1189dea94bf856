//! The consuming side of the RabbitMQ bus. Each consumer holds one connection and channel and
//! watches them: its delivery stream ending or failing, an error reported on the connection,
//! the connection or channel no longer open (a forced close, a reset, missed heartbeats) — any
//! of these ends the session, and a new one is opened with backoff, for as long as the process
//! runs. lapin does not end a consumer's stream on every kind of connection loss, so the stream
//! alone is not trusted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, ChannelStatus, Connection, ConnectionStatus, Event};
use tokio_util::sync::CancellationToken;

use super::{RabbitBus, SETUP_TIMEOUT, unavailable};
use crate::bus::{BusError, ConsumerSpec, DeliveryError, DeliverySink, retry_backoff};
use crate::events::Envelope;
use crate::metrics;
use crate::telemetry::context::TRACEPARENT;

/// How often a consumer looks at its connection and channel between deliveries.
const LINK_CHECK_EVERY: Duration = Duration::from_millis(500);
/// Longest wait for the broker to take an acknowledgement (a dead channel fails at once).
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a consumer's connection to close politely when it stops.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A consumer's connection and channel, as readiness sees them: live views, so a probe tells
/// whether they are open now, not whether they were when last looked at.
#[derive(Clone)]
pub(super) struct Link {
    connection: ConnectionStatus,
    channel: ChannelStatus,
}

impl Link {
    fn of(connection: &Connection, channel: &lapin::Channel) -> Self {
        Self { connection: connection.status().clone(), channel: channel.status().clone() }
    }

    fn alive(&self) -> bool {
        self.connection.connected() && self.channel.connected()
    }
}

/// Every consumer of this process and its link while it has one.
#[derive(Clone, Default)]
pub(super) struct Links(Arc<Mutex<HashMap<&'static str, Option<Link>>>>);

impl Links {
    pub(super) fn set(&self, consumer: &'static str, link: Option<Link>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(consumer, link);
    }

    /// True when every consumer has a connection and channel that are open now.
    pub(super) fn all_alive(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).values().all(|link| link.as_ref().is_some_and(Link::alive))
    }
}

/// Why a session ended, and whether it had got as far as consuming.
struct SessionEnd {
    error: BusError,
    consumed: bool,
}

/// Wait before the next session after `failures` sessions in a row that never consumed (at
/// least 1): 250 ms doubling to 5 s, plus up to a fifth more at random so that replicas cut
/// off together do not come back in step.
fn reconnect_wait(failures: u32) -> Duration {
    let base = (250u64 << failures.saturating_sub(1).min(5)).min(5_000);
    Duration::from_millis(base + rand::random_range(0..=base / 5))
}

/// Consumes until `shutdown`, opening a new session whenever one ends.
pub(super) async fn run(bus: RabbitBus, spec: ConsumerSpec, sink: Arc<dyn DeliverySink>, shutdown: CancellationToken) {
    let mut failures = 0u32;
    while !shutdown.is_cancelled() {
        let Err(end) = session(&bus, &spec, &sink, &shutdown).await else { break };
        bus.links.set(spec.consumer, None);
        // A session that consumed was a success: a forced close is no reason to wait longer
        // after each one.
        failures = if end.consumed { 1 } else { failures + 1 };
        let wait = reconnect_wait(failures);
        tracing::warn!(consumer = spec.consumer, error = %end.error, ?wait, "consumer disconnected; reconnecting");
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One connection's worth of consuming: returns `Ok` only on shutdown.
async fn session(
    bus: &RabbitBus,
    spec: &ConsumerSpec,
    sink: &Arc<dyn DeliverySink>,
    shutdown: &CancellationToken,
) -> Result<(), SessionEnd> {
    let setup = async {
        let connection = bus.connect(spec.consumer).await?;
        let channel = connection.create_channel().await.map_err(unavailable)?;
        bus.declare_exchanges(&channel).await?;
        bus.declare_consumer_queues(&channel, spec).await?;
        channel.basic_qos(bus.settings.prefetch, BasicQosOptions::default()).await.map_err(unavailable)?;
        let deliveries = channel
            .basic_consume(
                bus.queue(spec.consumer).into(),
                format!("{}-{}", spec.consumer, uuid::Uuid::new_v4()).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        Ok::<_, BusError>((connection, channel, deliveries))
    };
    let never_consumed = |error| SessionEnd { error, consumed: false };
    // Nothing is in flight while connecting, so a shutdown may simply abandon it. A broker that
    // stops answering halfway through does not hold the consumer for ever.
    let (connection, channel, mut deliveries) = tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        opened = tokio::time::timeout(SETUP_TIMEOUT, setup) => match opened {
            Ok(opened) => opened.map_err(never_consumed)?,
            Err(_) => return Err(never_consumed(BusError::Unavailable(format!(
                "the broker did not complete the consumer's setup within {SETUP_TIMEOUT:?}"
            )))),
        },
    };
    let link = Link::of(&connection, &channel);
    let mut events = connection.events_listener();
    bus.links.set(spec.consumer, Some(link.clone()));
    tracing::info!(consumer = spec.consumer, "consuming from RabbitMQ");
    let mut check = tokio::time::interval(LINK_CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let error = loop {
        tokio::select! {
            // With deliveries always waiting (prefetch), an unbiased select took more of them
            // after the stop about half the time.
            biased;
            _ = shutdown.cancelled() => {
                // Unacknowledged deliveries go back to the queue with the channel; a broker
                // slow to confirm the close does not hold the shutdown.
                let started = std::time::Instant::now();
                let closing = connection.close(200, "shutting down".into());
                let timed_out = tokio::time::timeout(CLOSE_TIMEOUT, closing).await.is_err();
                let ms = started.elapsed().as_millis() as u64;
                tracing::debug!(consumer = spec.consumer, ms, timed_out, "consumer connection closed");
                return Ok(());
            }
            event = events.next() => match event {
                Some(Event::Error(error)) => break unavailable(format!("connection failed: {error}")),
                Some(_) => {}
                None => break BusError::Unavailable("the connection is gone".into()),
            },
            _ = check.tick() => {
                if !link.alive() {
                    break BusError::Unavailable("the connection or channel is no longer open".into());
                }
            }
            next = deliveries.next() => match next {
                Some(Ok(delivery)) => {
                    let started = std::time::Instant::now();
                    handle_delivery(bus, spec.consumer, sink.as_ref(), delivery, &link, shutdown).await;
                    if shutdown.is_cancelled() {
                        let ms = started.elapsed().as_millis() as u64;
                        tracing::debug!(consumer = spec.consumer, ms, "delivery handled while stopping");
                    }
                }
                Some(Err(error)) => break unavailable(error),
                None => break BusError::Unavailable("the delivery stream ended (cancelled by the broker?)".into()),
            },
        }
    };
    // The broker may still think the connection open (a silent one): say goodbye briefly, so it
    // hands this consumer's unacknowledged deliveries to another at once.
    let _ = tokio::time::timeout(Duration::from_millis(500), connection.close(320, "consumer restarting".into())).await;
    Err(SessionEnd { error, consumed: true })
}

async fn handle_delivery(
    bus: &RabbitBus,
    consumer: &str,
    sink: &dyn DeliverySink,
    delivery: Delivery,
    link: &Link,
    shutdown: &CancellationToken,
) {
    let attempt = delivery_count(&delivery.properties) + 1;
    let envelope = match Envelope::from_bytes(&delivery.data) {
        Ok(envelope) => Envelope { trace_parent: traceparent(&delivery.properties), ..envelope },
        Err(error) => {
            tracing::error!(consumer, %error, "undecodable event; parking it");
            metrics::events_consumed(consumer, "undecodable", "parked");
            answer(consumer, None, delivery.acker, Answer::Park).await;
            return;
        }
    };
    let mut waits = 1;
    let outcome = loop {
        match sink.deliver(&envelope, attempt).await {
            // The database is down: hold the delivery and wait, without spending the delivery
            // limit; on shutdown, or once the channel is gone, the broker gets it back.
            Err(DeliveryError::Unavailable(error)) => {
                tracing::warn!(consumer, event_id = %envelope.event_id, %error, "dependency unavailable; waiting");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(retry_backoff(waits)) => {}
                }
                if !link.alive() {
                    return;
                }
                waits += 1;
            }
            other => break other,
        }
    };
    let acker = delivery.acker;
    let event_id = Some(envelope.event_id);
    match outcome {
        Ok(()) => answer(consumer, event_id, acker, Answer::Ack).await,
        Err(DeliveryError::Transient(error)) if attempt < bus.settings.delivery_limit => {
            tracing::warn!(consumer, event_id = %envelope.event_id, attempt, %error, "delivery failed; will retry");
            // The wait before handing it back runs beside the consumer, so one failing event
            // does not hold up the deliveries behind it (prefetch lets them come).
            let (consumer, wait, shutdown) = (consumer.to_string(), retry_backoff(attempt), shutdown.clone());
            tokio::spawn(async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
                answer(&consumer, event_id, acker, Answer::Retry).await;
            });
        }
        Err(error) => {
            tracing::error!(consumer, event_id = %envelope.event_id, attempt, %error, "parking event");
            metrics::events_consumed(consumer, &envelope.event_type, "parked");
            answer(consumer, event_id, acker, Answer::Park).await;
        }
    }
}

/// What the broker is told about a delivery.
enum Answer {
    Ack,
    /// Back to the queue, for another attempt.
    Retry,
    /// Dead-lettered to the parking queue.
    Park,
}

/// Tells the broker, within [`ACK_TIMEOUT`]. If the channel is gone or the broker does not take
/// the answer, it redelivers, and the inbox turns that redelivery into a duplicate that is only
/// acknowledged.
async fn answer(consumer: &str, event_id: Option<uuid::Uuid>, acker: lapin::Acker, answer: Answer) {
    let sent = tokio::time::timeout(ACK_TIMEOUT, async {
        match answer {
            Answer::Ack => acker.ack(BasicAckOptions::default()).await,
            Answer::Retry => acker.nack(BasicNackOptions { requeue: true, multiple: false }).await,
            Answer::Park => acker.reject(BasicRejectOptions { requeue: false }).await,
        }
    })
    .await;
    let lost = match sent {
        Ok(Ok(true)) => return,
        Ok(Ok(false)) => "acknowledgement not sent".to_string(),
        Ok(Err(error)) => format!("acknowledgement failed: {error}"),
        Err(_) => format!("acknowledgement not taken within {ACK_TIMEOUT:?}"),
    };
    metrics::ack_lost(consumer);
    tracing::warn!(consumer, event_id = ?event_id, problem = %lost, "broker will redeliver");
}

/// The W3C trace context the publisher put beside the event, if any.
fn traceparent(properties: &BasicProperties) -> Option<String> {
    match properties.headers().as_ref()?.inner().get(TRACEPARENT)? {
        AMQPValue::LongString(value) => Some(value.to_string()),
        _ => None,
    }
}

/// Quorum queues count deliveries in `x-delivery-count` (absent on the first delivery).
fn delivery_count(properties: &BasicProperties) -> u32 {
    let Some(headers) = properties.headers() else { return 0 };
    match headers.inner().get("x-delivery-count") {
        Some(AMQPValue::LongLongInt(n)) => (*n).max(0) as u32,
        Some(AMQPValue::LongInt(n)) => (*n).max(0) as u32,
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::ShortInt(n)) => (*n).max(0) as u32,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reconnect_wait_doubles_and_caps_with_a_little_jitter() {
        for (failures, base) in [(1, 250), (2, 500), (3, 1_000), (6, 5_000), (40, 5_000)] {
            let wait = reconnect_wait(failures).as_millis() as u64;
            assert!((base..=base + base / 5).contains(&wait), "{failures} failures: {wait} ms");
        }
    }
}
