//! Helpers of the end-to-end tests and of the fault campaign (`examples/nazer-chaos`): the
//! workspace's binaries as real processes, the demo configuration of one agency, and checks on
//! the webhooks it receives. A module of each test rather than a library, so that the test
//! helpers of `nazer-shared` (its `testing` feature) reach only test builds, never the binaries.
// Each test uses a part of it.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nazer_shared::testing::{self, ReceivedWebhook, eventually};
use serde_json::{Value, json};

/// The five services, each with the event types its queue is bound to.
pub const SERVICES: [nazer_shared::runtime::ServiceEntry; 5] = [
    nazer_intake::SERVICE,
    nazer_routing::SERVICE,
    nazer_deadline_timer::SERVICE,
    nazer_violation_referral::SERVICE,
    nazer_notification::SERVICE,
];

/// The directory holding this build's binaries (`target/debug` or `target/release`).
pub fn binary_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("current exe: {e}"));
    // A test runs from target/<profile>/deps/<test>, the campaign from
    // target/<profile>/examples/<example>.
    let dir = exe.parent().unwrap_or_else(|| panic!("no target dir above {exe:?}"));
    let dir = if dir.ends_with("deps") || dir.ends_with("examples") { dir.parent().unwrap_or(dir) } else { dir };
    PathBuf::from(dir)
}

/// Builds the workspace's binaries once per test process, so a test never runs stale ones.
pub fn ensure_binaries() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let release = binary_dir().ends_with("release");
        let mut command = Command::new(cargo);
        command.args(["build", "--workspace", "--bins", "--quiet"]);
        if release {
            command.arg("--release");
        }
        let status = command.status().unwrap_or_else(|e| panic!("cannot run cargo build: {e}"));
        assert!(status.success(), "cargo build --bins failed");
    });
}

pub fn binary(name: &str) -> PathBuf {
    ensure_binaries();
    let path = binary_dir().join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("free port: {e}"))
}

/// A process that is killed when dropped; its output goes to a log file kept for debugging.
pub struct Process {
    pub name: String,
    pub base: String,
    pub log: PathBuf,
    child: Child,
}

impl Process {
    pub fn spawn(
        name: &str,
        program: &PathBuf,
        args: &[&str],
        env: &HashMap<String, String>,
        dir: &std::path::Path,
    ) -> Self {
        let port = free_port();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log file: {e}"));
        let errors = file.try_clone().unwrap_or_else(|e| panic!("log file: {e}"));
        let mut command = Command::new(program);
        command.args(args).current_dir(dir).stdout(Stdio::from(file)).stderr(Stdio::from(errors));
        // Only what the test gives: never the developer's own settings, log filter or
        // OpenTelemetry variables.
        for (key, _) in
            std::env::vars().filter(|(k, _)| k.starts_with("NAZER__") || k == "NAZER_LOG" || k.starts_with("OTEL_"))
        {
            command.env_remove(key);
        }
        command.envs(env).env("NAZER__HTTP__ADDR", format!("127.0.0.1:{port}"));
        let child = command.spawn().unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self { name: name.into(), base: format!("http://127.0.0.1:{port}"), log, child }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The operating system's id of the process.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub async fn wait_ready(&mut self, timeout: Duration) {
        let client = reqwest::Client::new();
        let url = self.url("/readyz");
        let name = self.name.clone();
        let log = self.log.clone();
        let child = &mut self.child;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited with {status}:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status().is_success()
            {
                return;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("{name} not ready after {timeout:?}:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, as a crash or an OOM kill would: no draining, no goodbye.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM; the exit status when the process exits by itself within `timeout` (then
    /// it is killed, and None).
    pub async fn terminate_within(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh PostgreSQL database and RabbitMQ namespace, migrated, and the environment service
/// processes run with there. None (the test skips) without the test servers, which
/// `testing::postgres_url` turns into a failure with CI=true.
pub struct World {
    pub database: testing::TestDatabase,
    env: HashMap<String, String>,
    namespace: String,
    broker_url: String,
    dir: tempfile::TempDir,
}

impl World {
    /// `extra` settings on top of the database, the broker and the bootstrap key (an `extra`
    /// key wins over the same key of the base).
    pub fn prepare(extra: &[(&str, &str)]) -> Option<Self> {
        let (Some(database_url), Some(broker_url)) = (testing::postgres_url(), testing::broker_url()) else {
            eprintln!("skipped: set NAZER_TEST_DATABASE_URL and NAZER_TEST_BROKER_URL");
            return None;
        };
        Some(Self::create(&database_url, &broker_url, extra))
    }

    /// A world on the PostgreSQL server `database_url` (a database the user may create others
    /// from) and the broker `broker_url`, with `extra` settings as for [`World::prepare`].
    pub fn create(database_url: &str, broker_url: &str, extra: &[(&str, &str)]) -> Self {
        let broker_url = broker_url.to_string();
        let database = testing::TestDatabase::postgres(database_url);
        let namespace = format!("nazer-e2e-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let base = [
            ("NAZER__DATABASE__URL", database.url.as_str()),
            ("NAZER__BROKER__URL", broker_url.as_str()),
            ("NAZER__BROKER__NAMESPACE", namespace.as_str()),
            ("NAZER__BROKER__QUEUE_EXPIRES_MS", "300000"),
            ("NAZER__AUTH__BOOTSTRAP_API_KEY", testing::ADMIN_KEY),
            ("NAZER__PRIVACY__REPORTER_KEYS", testing::REPORTER_KEYS),
            ("NAZER__PRIVACY__SEARCH_KEY", testing::SEARCH_KEY),
            ("NAZER__HTTP__WORKERS", "1"),
            // The tests' webhook receivers listen on loopback.
            ("NAZER__WEBHOOKS__ALLOWED_NETWORKS", testing::LOOPBACK_NETWORKS),
            // No load balancer to leave: a terminated test process stops at once.
            ("NAZER__HTTP__SHUTDOWN_DELAY_SECS", "0"),
        ];
        let env: HashMap<String, String> =
            base.iter().chain(extra).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let migrate = Command::new(binary("nazer")).arg("migrate").envs(&env).output().unwrap();
        assert!(migrate.status.success(), "nazer migrate: {}", String::from_utf8_lossy(&migrate.stderr));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        Self { database, env, namespace, broker_url, dir }
    }

    /// Starts the binary `program` as `name` in this world.
    pub fn spawn(&self, name: &str, program: &str) -> Process {
        self.spawn_with(name, program, &[])
    }

    /// Starts the binary `program` as `name` in this world, with `overrides` on top of its
    /// settings.
    pub fn spawn_with(&self, name: &str, program: &str, overrides: &[(&str, &str)]) -> Process {
        let mut env = self.env.clone();
        env.extend(overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Process::spawn(name, &binary(program), &[], &env, self.dir.path())
    }

    /// The broker namespace: the prefix of this world's exchange and queues.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The name of this world's database on its server.
    pub fn database_name(&self) -> &str {
        let path = self.database.url.split('?').next().unwrap_or_default();
        path.rsplit('/').next().unwrap_or_default()
    }

    /// Where the processes of this world write their logs.
    pub fn log_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Deletes this world's queues (they would expire anyway).
    pub async fn delete_queues(&self) {
        let settings = nazer_shared::config::BrokerSettings { namespace: self.namespace.clone(), ..Default::default() };
        if let Err(error) = nazer_shared::bus::RabbitBus::new(&self.broker_url, &settings).delete_topology().await {
            eprintln!("test queues not deleted (they expire): {error}");
        }
    }
}

/// Where each service answers (one base for all in `nazer up`).
pub struct Endpoints {
    pub intake: String,
    pub routing: String,
    pub deadline_timer: String,
    pub notification: String,
}

impl Endpoints {
    pub fn single(base: &str) -> Self {
        Self { intake: base.into(), routing: base.into(), deadline_timer: base.into(), notification: base.into() }
    }
}

pub const AGENCY: &str = "e2e-municipality";
pub const CATEGORY: &str = "municipal.building";
pub const WEBHOOK_SECRET: &str = "e2e-webhook-secret-0123456789";

async fn send(client: &reqwest::Client, method: reqwest::Method, url: String, key: &str, body: Value) -> (u16, Value) {
    let response =
        client.request(method, &url).bearer_auth(key).json(&body).send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    testing::read(response).await
}

/// One agency, one rule, an SLA policy (a respond budget, level 1 only) and a webhook
/// subscription to `receiver`.
pub async fn configure(endpoints: &Endpoints, key: &str, budget: &str, receiver: &str) {
    configure_stage(endpoints, key, json!({"stage": "respond", "budget": budget, "reminders": []}), receiver).await;
}

/// [`configure`] with the policy's one stage as given (its budget, reminders and levels).
pub async fn configure_stage(endpoints: &Endpoints, key: &str, stage: Value, receiver: &str) {
    let client = reqwest::Client::new();
    let put = reqwest::Method::PUT;
    let post = reqwest::Method::POST;
    let category = json!({"name_fa": "تخلفات ساختمانی", "name_en": "Building violations", "kinds": ["complaint", "violation_report"]});
    let steps = [
        (put.clone(), format!("{}/api/v1/categories/{CATEGORY}", endpoints.intake), category, 200),
        (post.clone(), format!("{}/api/v1/agencies", endpoints.routing), json!({"id": AGENCY, "name": "شهرداری"}), 201),
        (
            post.clone(),
            format!("{}/api/v1/routing-rules", endpoints.routing),
            json!({"category": CATEGORY, "province": "tehran", "agency_id": AGENCY}),
            201,
        ),
        (
            put,
            format!("{}/api/v1/sla-policies/e2e", endpoints.deadline_timer),
            json!({"id": "e2e", "stages": [stage]}),
            201,
        ),
        (
            post,
            format!("{}/api/v1/webhook-subscriptions", endpoints.notification),
            json!({"agency_id": AGENCY, "url": receiver, "secret": WEBHOOK_SECRET}),
            201,
        ),
    ];
    for (method, url, body, expected) in steps {
        let (status, answer) = send(&client, method, url.clone(), key, body).await;
        assert_eq!(status, expected, "{url}: {answer}");
    }
}

/// Posts `count` messages and returns their tracking codes.
pub async fn post_messages(intake: &str, key: &str, count: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut codes = Vec::with_capacity(count);
    for n in 0..count {
        let body = json!({
            "kind": if n % 2 == 0 { "violation_report" } else { "complaint" },
            "channel": "call_center",
            "category": CATEGORY,
            "body": format!("پیام آزمایشی شماره {n}"),
            "province": "tehran",
        });
        let (status, answer) =
            send(&client, reqwest::Method::POST, format!("{intake}/api/v1/messages"), key, body).await;
        assert_eq!(status, 201, "{answer}");
        codes.push(answer["tracking_code"].as_str().unwrap_or_default().to_string());
    }
    codes
}

/// Waits until every message is assigned to the agency and carries exactly one level-1 warning.
pub async fn expect_assigned_and_warned_once(intake: &str, key: &str, codes: &[String], timeout: Duration) {
    let client = reqwest::Client::new();
    for code in codes {
        let url = format!("{intake}/api/v1/messages/{code}");
        let view = eventually(timeout, &format!("message {code} assigned and warned"), || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                let response = client.get(&url).bearer_auth(key).send().await.ok()?;
                let (_, view) = testing::read(response).await;
                let warned = view["warnings"].as_array().is_some_and(|w| !w.is_empty());
                (view["status"] == "assigned" && warned).then_some(view)
            }
        })
        .await;
        assert_eq!(view["assigned_agency"]["id"], AGENCY, "{view}");
        let warnings = view["warnings"].as_array().cloned().unwrap_or_default();
        assert_eq!(warnings.len(), 1, "exactly one warning for {code}: {view}");
        assert_eq!(warnings[0]["level"], 1);
        assert_eq!(view["deadlines"][0]["state"], "breached", "{view}");
    }
}

/// Counts the warnings deadline-timer registered per message: each must be exactly one.
pub async fn expect_one_warning_per_message(deadline_timer: &str, key: &str, count: usize) {
    let client = reqwest::Client::new();
    let url = format!("{deadline_timer}/api/v1/warnings?limit=200");
    let response = client.get(&url).bearer_auth(key).send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
    let (status, body) = testing::read(response).await;
    assert_eq!(status, 200, "{body}");
    let warnings = body["warnings"].as_array().cloned().unwrap_or_default();
    let messages: HashSet<String> =
        warnings.iter().map(|w| w["message_id"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(warnings.len(), count, "one warning per message, no doubles: {body}");
    assert_eq!(messages.len(), count);
}

/// Every webhook is signed; each message yields (at least once) its assignment and its warning.
pub fn expect_signed_webhooks(received: &[ReceivedWebhook], messages: usize) {
    let now = chrono::Utc::now().timestamp();
    let mut events: HashMap<String, HashSet<String>> = HashMap::new();
    let mut warnings_of: HashMap<String, HashSet<String>> = HashMap::new();
    for hook in received {
        let signature = hook.header(nazer_notification::signature::HEADER).unwrap_or_default();
        assert!(
            nazer_notification::signature::verify(WEBHOOK_SECRET, signature, &hook.body, now, 600),
            "bad signature on {:?}",
            hook.header("x-nazer-event-type")
        );
        let envelope: Value = serde_json::from_slice(&hook.body).unwrap_or_else(|e| panic!("webhook body: {e}"));
        let kind = envelope["type"].as_str().unwrap_or_default().to_string();
        assert_eq!(hook.header("x-nazer-event-type"), Some(kind.as_str()));
        let message = envelope["payload"]["message_id"].as_str().unwrap_or_default().to_string();
        if kind == "warning.issued" {
            let warning = envelope["payload"]["warning_id"].as_str().unwrap_or_default().to_string();
            warnings_of.entry(message.clone()).or_default().insert(warning);
        }
        events.entry(kind).or_default().insert(message);
    }
    for (message, warnings) in &warnings_of {
        assert_eq!(warnings.len(), 1, "message {message} was warned by webhook with {warnings:?}");
    }
    for kind in ["message.assigned", "warning.issued"] {
        let seen = events.get(kind).map(|s| s.len()).unwrap_or(0);
        assert_eq!(seen, messages, "{kind} webhooks for every message");
    }
}
