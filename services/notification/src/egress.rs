//! The webhook egress policy: where webhooks may go. A webhook URL is chosen by an admin of the
//! API, not by the operator of the network, so it must not reach what sits behind the service:
//! loopback, link-local (cloud metadata at 169.254.169.254), private, shared (CGNAT),
//! unique-local, multicast, unspecified and other non-public addresses are refused, in whatever
//! spelling (IPv4 in hex, octal or one number; IPv4-mapped, -compatible, NAT64 or 6to4 IPv6),
//! unless the operator allowed their network (`webhooks.allowed_networks`). URLs with a user
//! name or password are refused too.
//!
//! The policy is checked when a subscription is created (the URL as written and what its name
//! resolves to then) and again when each delivery connects: the sender resolves names through
//! [`PolicyResolver`], which drops refused addresses, so a name that resolves elsewhere later
//! (DNS rebinding) or a row stored before the policy gets nowhere. A delivery refused by the
//! policy records [`REFUSED`] and nothing else, whatever its host or port, so the delivery log
//! tells nothing about what answers inside the network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Host;

/// What the delivery log records for every attempt the policy refused.
pub const REFUSED: &str = "refused by the webhook egress policy";

/// How long a subscription's creation waits for its host name to resolve.
pub const CREATE_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether webhooks may connect to `ip`: a public address, or one in an allowed network.
pub fn address_allowed(ip: IpAddr, allowed: &[IpNet]) -> bool {
    if allowed.iter().any(|network| network.contains(&ip)) {
        return true;
    }
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        // An IPv4 address in IPv6 clothing is judged as the IPv4 address it reaches.
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => address_allowed(IpAddr::V4(v4), allowed),
            None => public_v6(v6),
        },
    }
}

/// Not "this network", private, shared (CGNAT), loopback, link-local, IETF-reserved,
/// documentation, benchmarking, multicast, reserved or broadcast.
fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0
        || a == 10
        || (a == 100 && (64..128).contains(&b))
        || a == 127
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && (c == 0 || c == 2))
        || (a == 192 && b == 88 && c == 99)
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224;
    !refused
}

/// Not unspecified, loopback, unique-local, link-local, site-local, multicast, documentation,
/// discard, Teredo (it tunnels to any IPv4 address) or local-use NAT64.
fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let refused = ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] & 0xff00) == 0xff00
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x2001 && s[1] == 0)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 1);
    !refused
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`), translated
/// (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, `::` and `::1` included), NAT64
/// (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |high: u16, low: u16| Ipv4Addr::new((high >> 8) as u8, high as u8, (low >> 8) as u8, low as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, high, low]
        | [0, 0, 0, 0, 0xffff, 0, high, low]
        | [0, 0, 0, 0, 0, 0, high, low]
        | [0x0064, 0xff9b, 0, 0, 0, 0, high, low]
        | [0x2002, high, low, ..] => Some(v4(high, low)),
        _ => None,
    }
}

/// `localhost` and the names under it (RFC 6761), in any case, with or without the final dot.
fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Why a webhook URL is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlProblem {
    /// Not an absolute http(s) URL with a host.
    NotHttp,
    /// It carries a user name or password.
    Credentials,
    /// Its host is, or resolves to, an address the policy refuses.
    Refused,
}

impl UrlProblem {
    /// What a subscriber is told about the `url` field.
    pub fn fix(self) -> &'static str {
        match self {
            Self::NotHttp => "an absolute http:// or https:// URL of the agency's receiver",
            Self::Credentials => {
                "must not carry a user name or password (user:pass@): remove them; the receiver \
                 authenticates deliveries by their X-Nazer-Signature"
            }
            Self::Refused => {
                "its host is or resolves to a loopback, link-local, private, shared (CGNAT), unique-local, \
                 multicast or unspecified address, which webhooks may not reach; use the receiver's public \
                 address, or ask the operator to add its network to webhooks.allowed_networks"
            }
        }
    }
}

/// Where an acceptable URL points: an address already judged, or a name still to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Address(IpAddr),
    Name(String),
}

/// Who may be reached: public addresses and the operator's allowed networks.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    allowed: Vec<IpNet>,
}

impl EgressPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        Self { allowed }
    }

    /// The policy of `webhooks.allowed_networks`.
    pub fn from_settings(settings: &nazer_shared::config::WebhookSettings) -> Result<Self, String> {
        settings.allowed_networks().map(Self::new).map_err(|problem| format!("webhooks.allowed_networks: {problem}"))
    }

    pub fn allows(&self, ip: IpAddr) -> bool {
        address_allowed(ip, &self.allowed)
    }

    /// Judges a URL as written: its scheme, its credentials and, when its host is an address
    /// (however spelled) or `localhost`, that address. A host name is returned to be resolved.
    pub fn check_url(&self, text: &str) -> Result<Target, UrlProblem> {
        let url = Url::parse(text.trim()).map_err(|_| UrlProblem::NotHttp)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlProblem::NotHttp);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlProblem::Credentials);
        }
        let address = match url.host() {
            None => return Err(UrlProblem::NotHttp),
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
            // localhost never leaves the machine, whatever a resolver would say.
            Some(Host::Domain(name)) if is_localhost(name) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(Host::Domain(name)) => return Ok(Target::Name(name.to_string())),
        };
        if self.allows(address) { Ok(Target::Address(address)) } else { Err(UrlProblem::Refused) }
    }

    /// Judges a URL as a subscription's creation does: as written, then what its name resolves
    /// to now (every address must be allowed). A name that does not resolve (yet) within
    /// [`CREATE_LOOKUP_TIMEOUT`] is accepted: each delivery is judged again when it connects.
    pub async fn check_subscription_url(&self, text: &str) -> Result<(), UrlProblem> {
        let Target::Name(name) = self.check_url(text)? else { return Ok(()) };
        let lookup = tokio::time::timeout(CREATE_LOOKUP_TIMEOUT, tokio::net::lookup_host((name.as_str(), 0))).await;
        match lookup {
            Ok(Ok(addresses)) => {
                let addresses: Vec<SocketAddr> = addresses.collect();
                if addresses.iter().all(|a| self.allows(a.ip())) { Ok(()) } else { Err(UrlProblem::Refused) }
            }
            Ok(Err(_)) | Err(_) => Ok(()),
        }
    }
}

/// A delivery's connection refused by the policy: no address of its host may be reached.
#[derive(Debug, thiserror::Error)]
#[error("{}", REFUSED)]
pub struct Refused;

/// Whether `error` (or what caused it) is the policy's refusal.
pub fn is_refusal(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if error.is::<Refused>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The sender's resolver: the system's answer, less every address the policy refuses; none
/// left, the connection fails with [`Refused`].
pub struct PolicyResolver {
    policy: Arc<EgressPolicy>,
}

impl PolicyResolver {
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            if is_localhost(&host) && !policy.allows(IpAddr::V4(Ipv4Addr::LOCALHOST)) {
                return Err(Box::new(Refused) as _);
            }
            let kept: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| policy.allows(a.ip())).collect();
            if kept.is_empty() {
                return Err(Box::new(Refused) as _);
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn networks(text: &str) -> Vec<IpNet> {
        nazer_shared::config::parse_networks(text).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_refused() {
        for refused in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.51.100.1",
            "203.0.113.1",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::ffff:0:127.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!address_allowed(ip(refused), &[]), "{refused} allowed");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.169.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(address_allowed(ip(public), &[]), "{public} refused");
        }
    }

    #[test]
    fn allowed_networks_open_what_they_cover_and_nothing_more() {
        let allowed = networks("10.20.0.0/16,fd00:1::/64,127.0.0.1");
        assert!(address_allowed(ip("10.20.3.4"), &allowed));
        assert!(address_allowed(ip("::ffff:10.20.3.4"), &allowed), "the mapped spelling of an allowed address");
        assert!(address_allowed(ip("fd00:1::9"), &allowed));
        assert!(address_allowed(ip("127.0.0.1"), &allowed));
        assert!(!address_allowed(ip("127.0.0.2"), &allowed));
        assert!(!address_allowed(ip("10.21.0.1"), &allowed));
        assert!(!address_allowed(ip("fd00:2::1"), &allowed));
        assert!(!address_allowed(ip("169.254.169.254"), &allowed));
        assert!(address_allowed(ip("8.8.8.8"), &allowed), "public addresses stay allowed");
    }

    #[test]
    fn every_spelling_of_a_refused_host_is_refused() {
        let policy = EgressPolicy::default();
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://127.0.0.1:8080/hooks",
            "https://[::ffff:7f00:1]/",
            "http://[::127.0.0.1]/",
            "http://[::1]:9/",
            "http://[fc00::1]/",
            "http://[fe80::1]/",
            "http://100.64.0.1/",
            "http://224.0.0.1/",
            "http://0.0.0.0/",
            "http://0/",
            "http://[::]/",
            "http://10.0.0.1:5432/",
            "http://192.168.0.1/",
            "http://localhost/",
            "http://localhost:8080/hooks",
            "http://LOCALHOST./",
            "http://LocalHost/",
            "http://api.localhost/",
            "http://a.b.LOCALHOST./",
        ] {
            assert_eq!(policy.check_url(url), Err(UrlProblem::Refused), "{url}");
        }
    }

    #[test]
    fn credentials_and_other_schemes_are_refused() {
        let policy = EgressPolicy::default();
        for url in
            ["https://user:pass@agency.example/", "https://user@agency.example/", "https://:pass@agency.example/"]
        {
            assert_eq!(policy.check_url(url), Err(UrlProblem::Credentials), "{url}");
        }
        for url in ["ftp://agency.example/", "file:///etc/passwd", "not a url", "/relative", "http://"] {
            assert_eq!(policy.check_url(url), Err(UrlProblem::NotHttp), "{url}");
        }
    }

    #[test]
    fn public_urls_pass_and_names_are_left_to_resolve() {
        let policy = EgressPolicy::default();
        assert_eq!(policy.check_url("https://8.8.8.8/hooks"), Ok(Target::Address(ip("8.8.8.8"))));
        assert_eq!(policy.check_url("https://agency.example/hooks"), Ok(Target::Name("agency.example".into())));
        assert_eq!(
            policy.check_url("https://localhost.agency.example/"),
            Ok(Target::Name("localhost.agency.example".into()))
        );
    }

    #[test]
    fn an_allowed_network_lets_its_hosts_through_in_any_spelling() {
        let policy = EgressPolicy::new(networks("127.0.0.0/8,10.0.0.0/8"));
        for url in [
            "http://127.0.0.1:9/",
            "http://0x7f.1/",
            "http://[::ffff:7f00:1]/",
            "http://localhost/",
            "http://10.0.0.1:5432/",
        ] {
            assert!(policy.check_url(url).is_ok(), "{url}");
        }
        assert_eq!(policy.check_url("http://169.254.169.254/"), Err(UrlProblem::Refused));
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses() {
        let refusing = PolicyResolver::new(Arc::new(EgressPolicy::default()));
        for host in ["localhost", "127.0.0.1", "LOCALHOST."] {
            let error = match refusing.resolve(host.parse().unwrap()).await {
                Ok(addrs) => panic!("{host} resolved to {:?}", addrs.collect::<Vec<_>>()),
                Err(error) => error,
            };
            assert!(is_refusal(error.as_ref()), "{host}: {error}");
            assert_eq!(error.to_string(), REFUSED);
        }
        let allowing = PolicyResolver::new(Arc::new(EgressPolicy::new(networks("127.0.0.0/8"))));
        let addresses: Vec<SocketAddr> = allowing.resolve("127.0.0.1".parse().unwrap()).await.unwrap().collect();
        assert_eq!(addresses.iter().map(|a| a.ip()).collect::<Vec<_>>(), [ip("127.0.0.1")]);
    }

    #[tokio::test]
    async fn creation_refuses_a_literal_with_a_final_dot_and_accepts_a_name_nothing_resolves() {
        let policy = EgressPolicy::default();
        // The final dot leaves it an IPv4 literal, judged before any lookup.
        assert_eq!(policy.check_subscription_url("http://127.0.0.1.:9/").await, Err(UrlProblem::Refused));
        // A name nothing resolves is accepted; its deliveries are judged when they connect.
        assert_eq!(policy.check_subscription_url("https://receiver.nazer-test.invalid/hooks").await, Ok(()));
    }
}
