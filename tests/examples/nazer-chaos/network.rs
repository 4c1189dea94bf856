//! A degraded network between the services and RabbitMQ, without netem: the broker is reached
//! through a veth pair into a network namespace of the campaign's own and back, and traffic
//! shaping on both ends of the pair delays and drops what crosses it. RabbitMQ listens on
//! loopback only, so the path is: service → forwarder inside the namespace → forwarder on the
//! host end of the pair → the broker's loopback address. Only broker traffic crosses the pair.
//!
//! Each end gets an HTB root whose default class feeds a token bucket (`tbf`: a rate, and a
//! queue bounded in time — real queueing delay, then drops) and, for random loss, a classic
//! BPF classifier (`ld rand`) sending a share of the packets to a class whose queue holds
//! nothing (so it drops them).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::net::{TcpListener, TcpStream};

use crate::cleanup::{self, Token};

/// Copies bytes both ways between each accepted connection and `to`, until killed.
pub async fn forward(listen: SocketAddr, to: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind(listen).await.with_context(|| format!("listen on {listen}"))?;
    serve(listener, to).await
}

async fn serve(listener: TcpListener, to: SocketAddr) -> Result<()> {
    loop {
        let (mut inbound, _) = listener.accept().await?;
        tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(to).await {
                let _ = inbound.set_nodelay(true);
                let _ = outbound.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

async fn sh(program: &str, args: &[&str]) -> Result<String> {
    let output = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await
        .with_context(|| format!("cannot run {program}"))?;
    if !output.status.success() {
        bail!("`{program} {}`: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// How the link is degraded.
#[derive(Debug, Clone, Copy)]
pub struct Degradation {
    pub rate_kbit: u32,
    /// The longest a packet may wait in the bucket's queue before it is dropped.
    pub latency_ms: u32,
    /// Packets dropped at random on each end, in percent.
    pub loss_percent: u32,
}

impl std::fmt::Display for Degradation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} kbit/s, queue ≤ {} ms, {} % loss per end", self.rate_kbit, self.latency_ms, self.loss_percent)
    }
}

/// The namespace, the veth pair and the two forwarders.
pub struct Net {
    namespace: String,
    host_if: String,
    ns_if: String,
    /// Where the services reach the broker (inside the namespace).
    pub broker_addr: SocketAddr,
    host_forwarder: tokio::task::JoinHandle<Result<()>>,
    ns_forwarder: tokio::process::Child,
    removal: Option<Token>,
    forwarder_kill: Option<Token>,
}

impl Net {
    /// Builds the path to `broker` (the broker's loopback address) for campaign `id`.
    pub async fn create(id: &str, broker: SocketAddr) -> Result<Self> {
        for tool in ["ip", "tc"] {
            sh("sh", &["-c", &format!("command -v {tool}")]).await.with_context(|| format!("no `{tool}` here"))?;
        }
        let uid = sh("id", &["-u"]).await?;
        if uid.trim() != "0" {
            bail!("network namespaces and traffic shaping need root");
        }
        let tag: String = id.chars().filter(|c| c.is_ascii_hexdigit()).take(6).collect();
        let byte = |i: usize| u8::from_str_radix(tag.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
        // An unusual private /30 of the campaign's own: 10.254.<x>.<y>/30.
        let (x, y) = (byte(0), byte(2) & 0xfc);
        let host_ip = Ipv4Addr::new(10, 254, x, y + 1);
        let ns_ip = Ipv4Addr::new(10, 254, x, y + 2);
        let in_use = sh("ip", &["-o", "-4", "addr", "show"]).await?;
        if in_use.contains(&format!("{host_ip}/")) || in_use.contains(&format!("{ns_ip}/")) {
            bail!("{host_ip}/30 is in use on this machine");
        }
        let namespace = format!("nazer-chaos-{id}");
        let (host_if, ns_if) = (format!("nzc{tag}h"), format!("nzc{tag}n"));
        sh("ip", &["netns", "add", &namespace]).await?;
        let (ns, hi) = (namespace.clone(), host_if.clone());
        let removal = cleanup::at_exit(&format!("remove network namespace {namespace}"), move || {
            cleanup::run_command("ip", &["netns", "del", &ns]);
            // Gone with its peer normally; left over only if the peer never moved.
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &hi])
                .stderr(std::process::Stdio::null())
                .status();
        });
        Self::build(namespace, host_if, ns_if, host_ip, ns_ip, broker, removal).await
    }

    async fn build(
        namespace: String,
        host_if: String,
        ns_if: String,
        host_ip: Ipv4Addr,
        ns_ip: Ipv4Addr,
        broker: SocketAddr,
        removal: Token,
    ) -> Result<Self> {
        let ns = namespace.as_str();
        let steps: Vec<Vec<String>> = vec![
            vec!["link", "add", &host_if, "type", "veth", "peer", "name", &ns_if],
            vec!["link", "set", &ns_if, "netns", ns],
            vec!["addr", "add", &format!("{host_ip}/30"), "dev", &host_if],
            vec!["link", "set", &host_if, "up"],
            vec!["-n", ns, "addr", "add", &format!("{ns_ip}/30"), "dev", &ns_if],
            vec!["-n", ns, "link", "set", &ns_if, "up"],
            vec!["-n", ns, "link", "set", "lo", "up"],
        ]
        .into_iter()
        .map(|step| step.into_iter().map(String::from).collect())
        .collect();
        let undo_now = |removal: Token| removal.run();
        for step in steps {
            let args: Vec<&str> = step.iter().map(String::as_str).collect();
            if let Err(error) = sh("ip", &args).await {
                undo_now(removal);
                return Err(error);
            }
        }
        let listener = match TcpListener::bind((host_ip, 0)).await {
            Ok(listener) => listener,
            Err(error) => {
                undo_now(removal);
                bail!("no listener on {host_ip}: {error}");
            }
        };
        let relay = listener.local_addr()?;
        let host_forwarder = tokio::spawn(serve(listener, broker));
        let broker_addr = SocketAddr::from((ns_ip, broker.port()));
        // This very binary, even if a build replaced its file since it started.
        let exe = format!("/proc/{}/exe", std::process::id());
        let spawned = tokio::process::Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(&exe)
            .args(["forward", "--listen", &broker_addr.to_string(), "--to", &relay.to_string()])
            .kill_on_drop(true)
            .spawn();
        let ns_forwarder = match spawned {
            Ok(child) => child,
            Err(error) => {
                host_forwarder.abort();
                undo_now(removal);
                bail!("no forwarder in the namespace: {error}");
            }
        };
        let pid = ns_forwarder.id().unwrap_or_default().to_string();
        let forwarder_kill = cleanup::at_exit("stop the namespace's forwarder", move || {
            cleanup::run_command("kill", &["-KILL", &pid]);
        });
        let net = Self {
            namespace,
            host_if,
            ns_if,
            broker_addr,
            host_forwarder,
            ns_forwarder,
            removal: Some(removal),
            forwarder_kill: Some(forwarder_kill),
        };
        // The path works end to end once an AMQP server answers through it.
        for _ in 0..50 {
            if let Ok(Ok(mut stream)) =
                tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(broker_addr)).await
            {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut answer = [0u8; 8];
                let probe = async {
                    stream.write_all(b"AMQP\x00\x00\x09\x01").await?;
                    stream.read(&mut answer).await
                };
                if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), probe).await
                    && n > 0
                {
                    return Ok(net);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        net.remove().await;
        bail!("RabbitMQ does not answer through the namespace at {broker_addr}")
    }

    async fn tc(&self, inside: bool, args: &[&str]) -> Result<String> {
        let mut full: Vec<&str> = Vec::new();
        if inside {
            full.extend(["-n", self.namespace.as_str()]);
        }
        full.extend(args);
        sh("tc", &full).await
    }

    fn ends(&self) -> [(bool, &str); 2] {
        [(false, self.host_if.as_str()), (true, self.ns_if.as_str())]
    }

    /// Shapes both ends of the pair as `how` says.
    pub async fn degrade(&self, how: Degradation) -> Result<()> {
        self.restore().await;
        let rate = format!("{}kbit", how.rate_kbit);
        let latency = format!("{}ms", how.latency_ms);
        // Pass when the random word exceeds the loss threshold, else into the dropping class.
        let threshold = (u64::from(how.loss_percent.min(100)) * (1u64 << 32) / 100).min(u64::from(u32::MAX));
        let classify = format!("4,32 0 0 4294963256,37 0 1 {threshold},6 0 0 65552,6 0 0 65568");
        for (inside, dev) in self.ends() {
            let commands: Vec<Vec<&str>> = vec![
                vec!["qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "10", "r2q", "1"],
                vec!["class", "add", "dev", dev, "parent", "1:", "classid", "1:10", "htb", "rate", "10gbit"],
                vec!["class", "add", "dev", dev, "parent", "1:", "classid", "1:20", "htb", "rate", "8bit"],
                vec![
                    "qdisc", "add", "dev", dev, "parent", "1:10", "handle", "10:", "tbf", "rate", &rate, "burst",
                    "16kb", "latency", &latency,
                ],
                vec![
                    "qdisc", "add", "dev", dev, "parent", "1:20", "handle", "20:", "tbf", "rate", "8bit", "burst",
                    "1b", "limit", "1b",
                ],
            ];
            for args in commands {
                self.tc(inside, &args).await?;
            }
            if how.loss_percent > 0 {
                self.tc(inside, &["filter", "add", "dev", dev, "parent", "1:", "bpf", "bytecode", &classify]).await?;
            }
        }
        Ok(())
    }

    /// Packets the shaping dropped so far (queue overflow, random loss) on both ends.
    pub async fn dropped(&self) -> (u64, u64) {
        let (mut queue, mut random) = (0, 0);
        for (inside, dev) in self.ends() {
            let Ok(text) = self.tc(inside, &["-s", "qdisc", "show", "dev", dev]).await else { continue };
            let mut current = "";
            for line in text.lines() {
                if line.starts_with("qdisc") {
                    current = if line.contains(" 10: ") {
                        "queue"
                    } else if line.contains(" 20: ") {
                        "random"
                    } else {
                        ""
                    };
                }
                let dropped = line
                    .split("dropped ")
                    .nth(1)
                    .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|n| n.parse::<u64>().ok());
                match (current, dropped) {
                    ("queue", Some(n)) => queue += n,
                    ("random", Some(n)) => random += n,
                    _ => {}
                }
            }
        }
        (queue, random)
    }

    /// Removes the shaping (a missing root qdisc is fine).
    pub async fn restore(&self) {
        for (inside, dev) in self.ends() {
            let _ = self.tc(inside, &["qdisc", "del", "dev", dev, "root"]).await;
        }
    }

    pub async fn remove(mut self) {
        self.host_forwarder.abort();
        let _ = self.ns_forwarder.kill().await;
        if let Some(token) = self.forwarder_kill.take() {
            token.disarm();
        }
        if let Some(token) = self.removal.take() {
            token.run();
        }
    }
}
