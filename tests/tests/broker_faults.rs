//! A service process whose broker connection dies under it: routing, as a real process over
//! PostgreSQL and RabbitMQ, reaches the broker through a proxy that resets or silences the
//! connection on command. `/readyz` must answer 503 for as long as the consumer is away, and 200
//! again only once it consumes — which an event published meanwhile then shows. Skipped without
//! the servers, except with CI=true.

mod support;

use std::time::{Duration, Instant};

use nazer_shared::bus::{Bus, RabbitBus};
use nazer_shared::config::{BrokerSettings, DatabaseSettings};
use nazer_shared::db::{Db, count_rows};
use nazer_shared::testing::fault_proxy::FaultProxy;
use nazer_shared::testing::{broker_url, eventually, fixtures, postgres_url};
use support::World;

async fn ready(client: &reqwest::Client, url: &str) -> bool {
    client.get(url).send().await.is_ok_and(|r| r.status().is_success())
}

/// Polls `/readyz` until it answers `want`; how long that took.
async fn readyz_becomes(client: &reqwest::Client, url: &str, want: bool, within: Duration) -> Duration {
    let started = Instant::now();
    let what = if want { "/readyz 200" } else { "/readyz 503" };
    eventually(within, what, || async { (ready(client, url).await == want).then_some(()) }).await;
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_consumer_through_resets_and_silences() {
    let (Some(_), Some(direct)) = (postgres_url(), broker_url()) else { return };
    let upstream =
        tokio::net::lookup_host(direct.split('@').next_back().unwrap_or_default().split('/').next().unwrap())
            .await
            .unwrap()
            .next()
            .unwrap();
    let proxy = FaultProxy::start(upstream).await;
    let namespace = format!("nazer-e2e-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let through_proxy = proxy.url(&direct);
    let Some(world) = World::prepare(&[
        ("NAZER__BROKER__URL", through_proxy.as_str()),
        ("NAZER__BROKER__NAMESPACE", namespace.as_str()),
        ("NAZER__BROKER__HEARTBEAT_SECS", "1"),
    ]) else {
        return;
    };
    let mut routing = world.spawn("routing", "routing");
    routing.wait_ready(Duration::from_secs(30)).await;
    let settings = BrokerSettings { namespace, queue_expires_ms: Some(300_000), ..Default::default() };
    let publisher = RabbitBus::new(&direct, &settings);
    let db = Db::open(&DatabaseSettings { url: Some(world.database.url.clone()), pool_size: 1, ..Default::default() })
        .unwrap();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let readyz = routing.url("/readyz");

    // Routing takes an event published while it was away as soon as it is back.
    let consumed_after_outage = async |outage: &str| {
        let envelope = fixtures::envelope("intake", &fixtures::message_received());
        publisher.publish(&envelope).await.unwrap();
        let query = format!("SELECT count(*) AS n FROM inbox WHERE event_id = '{}'", envelope.event_id);
        eventually(Duration::from_secs(20), &format!("routing consumes again after {outage}"), || async {
            let mut conn = db.get().ok()?;
            (count_rows(&mut conn, &query).ok()? == 1).then_some(())
        })
        .await;
    };

    for outage in ["reset", "silence"] {
        match outage {
            "reset" => {
                proxy.refuse(true);
                proxy.reset_all();
            }
            _ => proxy.black_hole(true),
        }
        let noticed = readyz_becomes(&client, &readyz, false, Duration::from_secs(15)).await;
        // Not ready all along while the broker stays out of reach.
        for _ in 0..10 {
            assert!(!ready(&client, &readyz).await, "routing answered ready with its broker out of reach ({outage})");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        proxy.refuse(false);
        proxy.black_hole(false);
        let back = readyz_becomes(&client, &readyz, true, Duration::from_secs(20)).await;
        consumed_after_outage(outage).await;
        eprintln!("{outage}: /readyz 503 after {noticed:?}; 200 again {back:?} after the broker came back");
    }
    routing.terminate();
    let _ = publisher.delete_topology().await;
}
