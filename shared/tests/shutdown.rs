//! Stopping as on SIGTERM, in process and on raw HTTP/1.1 connections: during the pre-stop delay
//! the host reports itself not ready yet still serves, closing each connection after its
//! answer; then it stops listening, finishes the request in flight and returns within its grace
//! period.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use nazer_shared::inbox::EventHandler;
use nazer_shared::runtime::{Service, ServiceEntry};
use nazer_shared::testing::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SLOW: Duration = Duration::from_millis(2_000);
const DELAY_SECS: u64 = 1;
const GRACE_SECS: u64 = 5;

struct Slow;

impl Service for Slow {
    fn handler(&self) -> Option<Arc<dyn EventHandler>> {
        None
    }

    fn routes(&self, cfg: &mut web::ServiceConfig) {
        cfg.route(
            "/test/slow",
            web::get().to(|| async {
                tokio::time::sleep(SLOW).await;
                HttpResponse::Ok().body("finished")
            }),
        )
        .route("/test/fast", web::get().to(|| async { HttpResponse::Ok().body("served") }));
    }

    fn openapi(&self) -> utoipa::openapi::OpenApi {
        utoipa::openapi::OpenApiBuilder::new().build()
    }
}

const SLOW_SERVICE: ServiceEntry = ServiceEntry { name: "slow", factory: |_| Ok(Arc::new(Slow)), consumes: Vec::new };

/// An answer read off the wire: status, head (lower-cased) and body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn closes(&self) -> bool {
        self.head.lines().any(|line| line.trim() == "connection: close")
    }
}

async fn send(stream: &mut TcpStream, path: &str) {
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
}

/// Reads one answer (bodies carry a content-length here); None when the connection closed first.
async fn receive(stream: &mut TcpStream) -> Option<Answer> {
    let mut read = Vec::new();
    loop {
        if let Some(end) = read.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&read[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(0);
            if read.len() >= end + 4 + length {
                let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
                let body = String::from_utf8_lossy(&read[end + 4..end + 4 + length]).into_owned();
                return Some(Answer { status, head, body });
            }
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => read.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn exchange(stream: &mut TcpStream, path: &str) -> Answer {
    send(stream, path).await;
    receive(stream).await.unwrap_or_else(|| panic!("GET {path}: the connection closed without an answer"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_leaves_the_endpoints_serving_then_stops_listening_and_finishes_in_flight() {
    let mut app = TestApp::start_with(&[SLOW_SERVICE], |settings| {
        // The HTTP side is what is tested; the in-process bus keeps the broker out of it.
        settings.broker.url = None;
        settings.http.shutdown_grace_secs = GRACE_SECS;
        settings.http.shutdown_delay_secs = Some(DELAY_SECS);
    })
    .await;
    let host = app.host.take().unwrap_or_else(|| panic!("no host"));
    let addr = host.addr;
    let connect = || async move { TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("connect: {e}")) };

    let mut kept = connect().await;
    let ready = exchange(&mut kept, "/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    assert!(!ready.closes(), "a keep-alive connection while serving: {}", ready.head);
    let mut in_flight = connect().await;
    send(&mut in_flight, "/test/slow").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let (signal, signalled) = tokio::sync::oneshot::channel::<()>();
    let stopping = tokio::spawn(host.run_until(async {
        let _ = signalled.await;
        "SIGTERM"
    }));
    let started = tokio::time::Instant::now();
    let _ = signal.send(());
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The pre-stop delay: not ready, on the connection already open, which then closes.
    let not_ready = exchange(&mut kept, "/readyz").await;
    assert_eq!(not_ready.status, 503, "{}", not_ready.body);
    assert!(
        not_ready.body.contains(r#""database":false"#) && not_ready.body.contains("stopping"),
        "{}",
        not_ready.body
    );
    assert!(not_ready.closes(), "{}", not_ready.head);
    assert!(receive(&mut kept).await.is_none(), "the connection is closed after the answer");
    // Still served, on a new connection too (a proxy that has not heard yet).
    let mut late = connect().await;
    let served = exchange(&mut late, "/test/fast").await;
    assert_eq!((served.status, served.body.as_str()), (200, "served"));
    assert!(served.closes(), "{}", served.head);

    // After the delay: no new connections; the request in flight finishes.
    tokio::time::sleep_until(started + Duration::from_secs(DELAY_SECS) + Duration::from_millis(400)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed after the delay");
    let finished = receive(&mut in_flight).await.unwrap_or_else(|| panic!("the request in flight was dropped"));
    assert_eq!((finished.status, finished.body.as_str()), (200, "finished"));

    let stopped = stopping.await.unwrap_or_else(|e| panic!("{e}"));
    let took = started.elapsed();
    assert!(stopped.is_ok(), "{stopped:?}");
    assert!(took >= Duration::from_secs(DELAY_SECS), "the delay was kept: {took:?}");
    assert!(took < Duration::from_secs(GRACE_SECS), "within the grace period: {took:?}");
    println!("stopped {took:?} after the signal (delay {DELAY_SECS} s, a {SLOW:?} request in flight)");
    app.stop().await;
}

/// A host whose launcher still seeds (the demo's keys, say) is not ready until it is done, so no
/// caller meets a 401 for a key about to exist.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_is_not_ready_until_its_launcher_has_seeded() {
    let database = nazer_shared::testing::TestDatabase::create();
    let mut settings = nazer_shared::testing::settings(&database);
    settings.broker.url = None;
    let options = nazer_shared::runtime::HostOptions {
        migrate: true,
        in_process_bus: true,
        extra_routes: None,
        seeding: true,
        demo: false,
    };
    let host = nazer_shared::runtime::start(settings, &[SLOW_SERVICE], options, nazer_shared::clock::system_clock())
        .await
        .unwrap_or_else(|e| panic!("host: {e}"));
    let mut stream = TcpStream::connect(host.addr).await.unwrap_or_else(|e| panic!("connect: {e}"));
    let seeding = exchange(&mut stream, "/readyz").await;
    assert_eq!(seeding.status, 503, "{}", seeding.body);
    assert!(seeding.body.contains("seeding"), "{}", seeding.body);
    host.seeded();
    let ready = exchange(&mut stream, "/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    host.stop().await;
}
