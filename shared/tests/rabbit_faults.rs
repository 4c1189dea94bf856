//! A consumer whose broker connection dies, however it dies, comes back on its own, and
//! readiness says "not ready" for exactly as long as it is away. The connection runs through a
//! proxy that resets, closes or black-holes it on command, over the real broker
//! (NAZER_TEST_BROKER_URL). Skipped without a broker, except with CI=true.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nazer_shared::bus::{Bus, ConsumerSpec, DeliveryError, DeliverySink, RabbitBus};
use nazer_shared::config::BrokerSettings;
use nazer_shared::events::Envelope;
use nazer_shared::testing::fault_proxy::FaultProxy;
use nazer_shared::testing::{broker_url, eventually, fixtures};
use nazer_shared::topology;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<uuid::Uuid>>,
}

#[async_trait]
impl DeliverySink for Recorder {
    async fn deliver(&self, envelope: &Envelope, _: u32) -> Result<(), DeliveryError> {
        self.seen.lock().unwrap().push(envelope.event_id);
        Ok(())
    }
    async fn park(&self, _: &Envelope, _: &str) -> bool {
        true
    }
}

fn routing() -> ConsumerSpec {
    ConsumerSpec { consumer: topology::ROUTING, bindings: vec!["message.received".into(), "message.declined".into()] }
}

fn received() -> Envelope {
    fixtures::envelope("intake", &fixtures::message_received())
}

/// A consumer connected through a fault proxy, and a publisher connected directly.
struct Rig {
    proxy: FaultProxy,
    consumer: Arc<RabbitBus>,
    publisher: Arc<RabbitBus>,
    sink: Arc<Recorder>,
    shutdown: CancellationToken,
}

impl Rig {
    async fn start() -> Option<Self> {
        let url = broker_url()?;
        let upstream = upstream_of(&url).await;
        let proxy = FaultProxy::start(upstream).await;
        let settings = BrokerSettings {
            namespace: format!("nazer-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
            queue_expires_ms: Some(120_000),
            heartbeat_secs: 1,
            ..BrokerSettings::default()
        };
        let publisher = RabbitBus::new(&url, &settings);
        publisher.declare_topology(&[routing()]).await.unwrap();
        let consumer = RabbitBus::new(&proxy.url(&url), &settings);
        let sink = Arc::new(Recorder::default());
        let shutdown = CancellationToken::new();
        consumer.consume(routing(), sink.clone(), shutdown.clone()).await.unwrap();
        let rig = Self { proxy, consumer, publisher, sink, shutdown };
        rig.wait_ready(true, Duration::from_secs(10)).await;
        rig.delivers_again().await;
        Some(rig)
    }

    async fn wait_ready(&self, ready: bool, within: Duration) -> Duration {
        let started = Instant::now();
        let what = if ready { "ready" } else { "not ready" };
        eventually(within, what, || async { (self.consumer.is_ready().await == ready).then_some(()) }).await;
        started.elapsed()
    }

    /// Publishes one event and waits until the consumer got it.
    async fn delivers_again(&self) {
        let envelope = received();
        self.publisher.publish(&envelope).await.unwrap();
        eventually(Duration::from_secs(30), "the consumer to take a new event", || async {
            self.sink.seen.lock().unwrap().contains(&envelope.event_id).then_some(())
        })
        .await;
    }

    /// Keeps new connections refused for a while: readiness must stay false all along.
    async fn broker_away_for(&self, away: Duration) {
        self.proxy.refuse(true);
        let until = Instant::now() + away;
        while Instant::now() < until {
            assert!(!self.consumer.is_ready().await, "ready while the broker refuses every connection");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.proxy.refuse(false);
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.publisher.delete_topology().await;
    }
}

async fn upstream_of(url: &str) -> std::net::SocketAddr {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let host_port = if host_port.contains(':') { host_port.to_string() } else { format!("{host_port}:5672") };
    tokio::net::lookup_host(host_port).await.unwrap().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_comes_back_after_its_connection_is_reset() {
    let Some(rig) = Rig::start().await else { return };
    for round in 0..3 {
        rig.proxy.reset_all();
        let noticed = rig.wait_ready(false, Duration::from_secs(5)).await;
        rig.broker_away_for(Duration::from_secs(2)).await;
        let back = rig.wait_ready(true, Duration::from_secs(10)).await;
        rig.delivers_again().await;
        eprintln!("reset {round}: not ready after {noticed:?}, ready again {back:?} after the broker came back");
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_comes_back_after_its_connection_is_closed() {
    let Some(rig) = Rig::start().await else { return };
    rig.proxy.close_all();
    rig.wait_ready(false, Duration::from_secs(5)).await;
    rig.broker_away_for(Duration::from_secs(2)).await;
    rig.wait_ready(true, Duration::from_secs(10)).await;
    rig.delivers_again().await;
    rig.stop().await;
}

/// No FIN, no RST, nothing: only missed heartbeats can tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_notices_a_silent_connection_by_its_heartbeats() {
    let Some(rig) = Rig::start().await else { return };
    rig.proxy.black_hole(true);
    let noticed = rig.wait_ready(false, Duration::from_secs(15)).await;
    rig.proxy.black_hole(false);
    rig.wait_ready(true, Duration::from_secs(15)).await;
    rig.delivers_again().await;
    eprintln!("black hole noticed after {noticed:?}");
    rig.stop().await;
}

/// Successive forced closes each reconnect after the first, short wait: the backoff starts
/// over once a connection was made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconnect_backoff_starts_over_after_a_connection() {
    let Some(rig) = Rig::start().await else { return };
    for round in 0..5 {
        rig.proxy.close_all();
        rig.wait_ready(false, Duration::from_secs(5)).await;
        let back = rig.wait_ready(true, Duration::from_secs(10)).await;
        assert!(back < Duration::from_secs(2), "round {round}: back only after {back:?}");
    }
    rig.delivers_again().await;
    rig.stop().await;
}
