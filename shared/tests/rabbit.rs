//! The RabbitMQ bus against a real broker (NAZER_TEST_BROKER_URL): confirms, acks after the
//! sink succeeded, bounded redelivery and the parking queue. Skipped without a broker, except
//! with CI=true, where a missing broker fails the run.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use lapin::options::{BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use nazer_shared::bus::{Bus, ConsumerSpec, DeliveryError, DeliverySink, RabbitBus};
use nazer_shared::config::{BrokerSettings, DatabaseSettings, OutboxSettings};
use nazer_shared::db::{Db, write_transaction};
use nazer_shared::events::{Envelope, MessageReceived};
use nazer_shared::outbox::{self, OutboxRelay};
use nazer_shared::testing::{TestDatabase, broker_url, eventually, fixtures};
use nazer_shared::topology;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Recorder {
    attempts: Mutex<Vec<u32>>,
    fail_until: u32,
    permanent: bool,
}

#[async_trait]
impl DeliverySink for Recorder {
    async fn deliver(&self, _: &Envelope, attempt: u32) -> Result<(), DeliveryError> {
        self.attempts.lock().unwrap().push(attempt);
        if self.permanent {
            return Err(DeliveryError::Permanent("cannot apply".into()));
        }
        if attempt <= self.fail_until {
            return Err(DeliveryError::Transient("database busy".into()));
        }
        Ok(())
    }
    async fn park(&self, _: &Envelope, _: &str) -> bool {
        true
    }
}

fn settings() -> BrokerSettings {
    BrokerSettings {
        namespace: format!("nazer-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
        delivery_limit: 3,
        queue_expires_ms: Some(120_000),
        ..BrokerSettings::default()
    }
}

/// Routing's queue, as its handler registration binds it.
fn routing() -> ConsumerSpec {
    ConsumerSpec { consumer: topology::ROUTING, bindings: vec!["message.received".into(), "message.declined".into()] }
}

fn received() -> Envelope {
    fixtures::envelope("intake", &fixtures::message_received())
}

async fn parked_count(url: &str, settings: &BrokerSettings, consumer: &str) -> usize {
    let connection = Connection::connect(url, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = format!("{}.{consumer}.parked", settings.namespace);
    let mut count = 0;
    while channel.basic_get(queue.clone().into(), BasicGetOptions { no_ack: true }).await.unwrap().is_some() {
        count += 1;
    }
    count
}

async fn run_consumer(
    url: &str,
    settings: &BrokerSettings,
    sink: Arc<impl DeliverySink>,
) -> (Arc<RabbitBus>, CancellationToken) {
    let bus = RabbitBus::new(url, settings);
    // As the runtime does before anything publishes: the queue is bound before the first event.
    bus.declare(&[routing()]).await.unwrap();
    let shutdown = CancellationToken::new();
    bus.consume(routing(), sink, shutdown.clone()).await.unwrap();
    (bus, shutdown)
}

#[tokio::test]
async fn a_published_event_reaches_its_consumer_once_acknowledged() {
    let Some(url) = broker_url() else { return };
    let settings = settings();
    let sink = Arc::new(Recorder::default());
    let (bus, shutdown) = run_consumer(&url, &settings, sink.clone()).await;
    // Ready once the consumer is connected, not merely the publisher.
    eventually(Duration::from_secs(10), "readiness", || async { bus.is_ready().await.then_some(()) }).await;
    bus.publish(&received()).await.unwrap();
    eventually(Duration::from_secs(10), "the delivery", || async {
        (!sink.attempts.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(*sink.attempts.lock().unwrap(), vec![1], "acknowledged once, never redelivered");
    shutdown.cancel();
}

#[tokio::test]
async fn transient_failures_are_redelivered_with_their_count() {
    let Some(url) = broker_url() else { return };
    let settings = settings();
    let sink = Arc::new(Recorder { fail_until: 2, ..Default::default() });
    let (bus, shutdown) = run_consumer(&url, &settings, sink.clone()).await;
    bus.publish(&received()).await.unwrap();
    eventually(Duration::from_secs(15), "the third attempt", || async {
        (sink.attempts.lock().unwrap().len() >= 3).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(*sink.attempts.lock().unwrap(), vec![1, 2, 3]);
    assert_eq!(parked_count(&url, &settings, topology::ROUTING).await, 0);
    shutdown.cancel();
}

/// Fails every attempt at one event, and records when each other event arrived.
struct FailsOne {
    poison: uuid::Uuid,
    poison_attempts: Mutex<Vec<(u32, Instant)>>,
    others: Mutex<Vec<(uuid::Uuid, Instant)>>,
}

#[async_trait]
impl DeliverySink for FailsOne {
    async fn deliver(&self, envelope: &Envelope, attempt: u32) -> Result<(), DeliveryError> {
        if envelope.event_id == self.poison {
            self.poison_attempts.lock().unwrap().push((attempt, Instant::now()));
            return Err(DeliveryError::Transient("always fails".into()));
        }
        self.others.lock().unwrap().push((envelope.event_id, Instant::now()));
        Ok(())
    }
    async fn park(&self, _: &Envelope, _: &str) -> bool {
        true
    }
}

/// The wait before a failed event goes back to the queue (800 ms before its fifth attempt)
/// does not hold up the events behind it.
#[tokio::test]
async fn an_event_waiting_to_be_retried_holds_nothing_up() {
    let Some(url) = broker_url() else { return };
    let settings = BrokerSettings { delivery_limit: 5, ..settings() };
    let poison = received();
    let sink =
        Arc::new(FailsOne { poison: poison.event_id, poison_attempts: Mutex::default(), others: Mutex::default() });
    let (bus, shutdown) = run_consumer(&url, &settings, sink.clone()).await;
    bus.publish(&poison).await.unwrap();
    let fourth = eventually(Duration::from_secs(15), "the poison's fourth attempt", || async {
        sink.poison_attempts.lock().unwrap().iter().find(|(n, _)| *n == 4).map(|(_, at)| *at)
    })
    .await;
    let behind = received();
    bus.publish(&behind).await.unwrap();
    let taken = eventually(Duration::from_secs(15), "the event behind the poison", || async {
        sink.others.lock().unwrap().iter().find(|(id, _)| *id == behind.event_id).map(|(_, at)| *at)
    })
    .await;
    let waited = taken - fourth;
    assert!(waited < Duration::from_millis(500), "the event behind waited {waited:?} for the poison's retry");
    eventually(Duration::from_secs(15), "the poison parked", || async {
        (parked_count(&url, &settings, topology::ROUTING).await == 1).then_some(())
    })
    .await;
    let attempts: Vec<u32> = sink.poison_attempts.lock().unwrap().iter().map(|(n, _)| *n).collect();
    assert_eq!(attempts, vec![1, 2, 3, 4, 5]);
    shutdown.cancel();
}

#[tokio::test]
async fn poison_and_exhausted_events_are_parked_not_lost() {
    let Some(url) = broker_url() else { return };
    let settings = settings();
    let poison = Arc::new(Recorder { permanent: true, ..Default::default() });
    let (bus, shutdown) = run_consumer(&url, &settings, poison.clone()).await;
    bus.publish(&received()).await.unwrap();
    eventually(Duration::from_secs(10), "the poison event parked", || async {
        (parked_count(&url, &settings, topology::ROUTING).await == 1).then_some(())
    })
    .await;
    assert_eq!(*poison.attempts.lock().unwrap(), vec![1]);
    shutdown.cancel();

    let settings = self::settings();
    let failing = Arc::new(Recorder { fail_until: 99, ..Default::default() });
    let (bus, shutdown) = run_consumer(&url, &settings, failing.clone()).await;
    bus.publish(&received()).await.unwrap();
    eventually(Duration::from_secs(20), "the exhausted event parked", || async {
        (parked_count(&url, &settings, topology::ROUTING).await == 1).then_some(())
    })
    .await;
    assert_eq!(*failing.attempts.lock().unwrap(), vec![1, 2, 3], "bounded by the delivery limit");
    shutdown.cancel();
}

#[tokio::test]
async fn readiness_reports_a_consumer_that_cannot_connect() {
    let settings = settings();
    // A broker that is not there: the consumer keeps reconnecting, and readiness says so.
    let bus = RabbitBus::new("amqp://guest:guest@127.0.0.1:1/%2f", &settings);
    let shutdown = CancellationToken::new();
    bus.consume(routing(), Arc::new(Recorder::default()), shutdown.clone()).await.unwrap();
    assert!(!bus.is_ready().await);
    shutdown.cancel();
}

/// As after `nazer migrate`, which declares every consumer's queue.
#[tokio::test]
async fn an_event_published_before_its_consumer_starts_waits_for_it() {
    let Some(url) = broker_url() else { return };
    let settings = settings();
    let bus = RabbitBus::new(&url, &settings);
    bus.declare_topology(&[routing()]).await.unwrap();
    bus.publish(&received()).await.unwrap();
    let sink = Arc::new(Recorder::default());
    let (_consumer, shutdown) = run_consumer(&url, &settings, sink.clone()).await;
    eventually(Duration::from_secs(10), "the waiting event", || async {
        (!sink.attempts.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    shutdown.cancel();
}

/// A queue an earlier release bound to a type's own key, now bound to one subject's key only,
/// keeps the old binding while declared again (an earlier producer may still publish on it
/// during a rolling upgrade), and stops receiving that type's other events once the superseded
/// bindings are dropped (`nazer migrate --drop-superseded-bindings`).
#[tokio::test]
async fn superseded_bindings_stay_until_dropped() {
    let Some(url) = broker_url() else { return };
    let settings = settings();
    let bus = RabbitBus::new(&url, &settings);
    let spec = |binding: &str| ConsumerSpec { consumer: topology::ROUTING, bindings: vec![binding.into()] };
    bus.declare_topology(&[spec("message.received")]).await.unwrap();
    let new = spec("message.received.violation_case");
    bus.declare_topology(std::slice::from_ref(&new)).await.unwrap();
    let mut about_a_case = received();
    about_a_case.payload["subject"] = serde_json::json!({ "kind": "violation_case", "id": "c1" });
    let connection = Connection::connect(&url, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let queue = format!("{}.{}", settings.namespace, topology::ROUTING);
    let waiting = || async {
        let mut waiting = Vec::new();
        while let Some(message) =
            channel.basic_get(queue.clone().into(), BasicGetOptions { no_ack: true }).await.unwrap()
        {
            waiting.push(Envelope::from_bytes(&message.delivery.data).unwrap().event_id);
        }
        waiting
    };
    let plain = received();
    bus.publish(&plain).await.unwrap();
    bus.publish(&about_a_case).await.unwrap();
    assert_eq!(waiting().await, vec![plain.event_id, about_a_case.event_id], "both, while the old binding stays");
    assert_eq!(bus.drop_superseded_bindings(&[new]).await.unwrap(), 1);
    bus.publish(&received()).await.unwrap();
    bus.publish(&about_a_case).await.unwrap();
    assert_eq!(waiting().await, vec![about_a_case.event_id], "only the event about a case waits");
    bus.delete_topology().await.unwrap();
}

/// The publisher first opened on another runtime, as `/readyz` does on an HTTP worker, keeps
/// working once that runtime is gone (the HTTP server stopped, the outbox still flushing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publisher_outlives_the_runtime_that_first_opened_it() {
    let Some(url) = broker_url() else { return };
    let settings = settings();
    let bus = RabbitBus::new(&url, &settings);
    let probe = bus.clone();
    std::thread::spawn(move || {
        let worker = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        assert!(worker.block_on(probe.is_ready()), "the publisher opens");
    })
    .join()
    .unwrap();
    for _ in 0..3 {
        let published = tokio::time::timeout(Duration::from_secs(5), bus.publish(&received())).await;
        assert!(matches!(published, Ok(Ok(()))), "published and confirmed: {published:?}");
    }
    bus.delete_topology().await.unwrap();
}

/// The relay empties a backlog into RabbitMQ: every row is marked published (each only once the
/// broker confirmed it) and reaches its consumer's queue exactly once. Prints the relay's rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_flushes_a_backlog_into_rabbitmq_once() {
    let Some(url) = broker_url() else { return };
    const EVENTS: usize = 2_000;
    let database = TestDatabase::create();
    let db = Db::open(&DatabaseSettings { url: Some(database.url.clone()), pool_size: 4, connect_timeout_secs: 10 })
        .unwrap();
    db.migrate().unwrap();
    let events: Vec<MessageReceived> = (0..EVENTS).map(|_| fixtures::message_received()).collect();
    db.run(move |conn| write_transaction(conn, |conn| outbox::enqueue_all(conn, "intake", &events, Utc::now())))
        .await
        .unwrap();
    let settings = settings();
    let bus = RabbitBus::new(&url, &settings);
    let relay = OutboxRelay {
        db: db.clone(),
        bus: bus.clone(),
        producer: "intake",
        settings: OutboxSettings::default(),
        clock: nazer_shared::clock::system_clock(),
        wake: Arc::new(Notify::new()),
    };
    // The queue exists and the publisher connection is open before the clock starts.
    bus.declare_topology(&[routing()]).await.unwrap();
    assert!(bus.is_ready().await);
    let started = Instant::now();
    let mut published = 0;
    loop {
        let report = relay.relay_once().await.unwrap();
        assert_eq!(report.failed, 0);
        if report.published == 0 {
            break;
        }
        published += report.published;
    }
    let took = started.elapsed();
    println!(
        "outbox relay to RabbitMQ ({:?}): {published} events in {took:?}, {:.0} events/s",
        db.backend(),
        published as f64 / took.as_secs_f64()
    );
    assert_eq!(published, EVENTS);
    assert_eq!(outbox::backlog(&mut db.get().unwrap(), "intake").unwrap(), 0);
    let queue = format!("{}.{}", settings.namespace, topology::ROUTING);
    let connection = Connection::connect(&url, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let passive = QueueDeclareOptions { passive: true, ..Default::default() };
    let waiting = eventually(Duration::from_secs(10), "every event in the queue", || async {
        let declared = channel.queue_declare(queue.clone().into(), passive, FieldTable::default()).await.ok()?;
        (declared.message_count() as usize >= EVENTS).then_some(declared.message_count() as usize)
    })
    .await;
    assert_eq!(waiting, EVENTS, "each event published once");
    let _ = connection.close(200, "done".into()).await;
    bus.delete_topology().await.unwrap();
}
