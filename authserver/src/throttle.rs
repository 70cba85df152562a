//! Throttling of failed client authentications, per (client id, source) and per source.
//!
//! A correct credential always succeeds (the caller checks credentials first): the
//! throttle decides only how a failure is answered (429 rather than 401) and spares the
//! log. Failures are counted per *(client id, source)*, so guesses sent from one place with
//! a victim's client id slow down that place only, and per *source* (every client id from
//! one place). A source is an IPv4 address, or an IPv6 /64 (one subscriber's allocation:
//! counting single IPv6 addresses would give an attacker 2^64 fresh buckets). It comes from
//! API Gateway's `sourceIp` on Lambda, and in server mode from the TCP peer, or, when the
//! peer is one of the configured trusted proxies, from `X-Forwarded-For` read from the
//! right past those proxies ([`source_of`]); never from a header a client can set alone.
//!
//! Memory is bounded whatever callers send: the keys are 64-bit keyed hashes (SipHash
//! with a per-process random key, so they cannot be aimed at a collision), the client id
//! is capped at 128 characters before it gets here, and the table holds at most
//! `MAX_TRACKED` entries (expired ones are dropped first; when all are live, new keys are
//! not tracked until some expire, and the per-source entry still counts).
//!
//! State is per process: on Lambda each instance counts separately, which still bounds a
//! guessing attack by the instance count (and secrets have 256 bits, so throttling protects
//! availability and logs, not the secrets themselves).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct ThrottleSettings {
    /// Failures allowed per (client id, source) within `window`.
    pub per_client: u32,
    /// Failures allowed per source within `window`.
    pub per_address: u32,
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        Self {
            per_client: 10,
            per_address: 30,
            window: Duration::from_secs(60),
        }
    }
}

#[derive(Debug)]
struct Window {
    started: Instant,
    failures: u32,
}

/// What a throttled caller is told: which key and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub subject: &'static str,
    pub retry_after: Duration,
}

#[derive(Debug, Default)]
pub struct Throttle {
    settings: ThrottleSettings,
    windows: Mutex<HashMap<u64, Window>>,
    hasher: RandomState,
}

/// Entries tracked at most: 100,000 × about 40 bytes.
pub const MAX_TRACKED: usize = 100_000;

impl Throttle {
    pub fn new(settings: ThrottleSettings) -> Self {
        Self {
            settings,
            windows: Mutex::default(),
            hasher: RandomState::new(),
        }
    }

    /// The counters a failure touches: (client id, source) when an id was claimed, the
    /// source when it is known.
    fn keys(&self, client_id: Option<&str>, source: Option<&str>) -> Vec<(&'static str, u64, u32)> {
        let mut keys = Vec::with_capacity(2);
        if let Some(id) = client_id {
            let pair = self.hasher.hash_one(("client", id, source));
            keys.push(("client", pair, self.settings.per_client));
        }
        if let Some(place) = source {
            let place = self.hasher.hash_one(("source", place));
            keys.push(("address", place, self.settings.per_address));
        }
        keys
    }

    /// Err when this client id from this source, or this source, has used up its failures.
    pub fn check(
        &self,
        client_id: Option<&str>,
        source: Option<&str>,
        now: Instant,
    ) -> Result<(), Throttled> {
        let windows = self.windows.lock().expect("throttle lock");
        for (subject, key, limit) in self.keys(client_id, source) {
            if let Some(w) = windows.get(&key) {
                let elapsed = now.saturating_duration_since(w.started);
                if elapsed < self.settings.window && w.failures >= limit {
                    return Err(Throttled {
                        subject,
                        retry_after: self.settings.window - elapsed,
                    });
                }
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, client_id: Option<&str>, source: Option<&str>, now: Instant) {
        let window = self.settings.window;
        let mut windows = self.windows.lock().expect("throttle lock");
        for (_, key, _) in self.keys(client_id, source) {
            if !windows.contains_key(&key) && windows.len() >= MAX_TRACKED {
                windows.retain(|_, w| now.saturating_duration_since(w.started) < window);
                if windows.len() >= MAX_TRACKED {
                    continue;
                }
            }
            let w = windows.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.saturating_duration_since(w.started) >= window {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures = w.failures.saturating_add(1);
        }
    }

    /// Entries held now.
    pub fn tracked(&self) -> usize {
        self.windows.lock().expect("throttle lock").len()
    }
}

/// The throttle's key for an address: an IPv4 address (also when written inside IPv6), or
/// the /64 of an IPv6 one.
pub fn source_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// The client's address in server mode: the TCP `peer`, unless the peer is a trusted
/// proxy; then the right-most `X-Forwarded-For` entry that is not a trusted proxy (each
/// proxy appends the address it saw; entries left of the first untrusted one could have
/// been written by the client). `None` when a trusted proxy sent no usable header.
pub fn source_of(peer: IpAddr, forwarded_for: &[&str], trusted: &[ipnet::IpNet]) -> Option<IpAddr> {
    // A dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d.
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    // The nearest proxy that forwarded: what the source is taken to be when a hop cannot
    // be read (never `None` for a malformed header a client could send on purpose).
    let mut nearest = peer;
    for hop in hops.into_iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return Some(nearest);
        };
        if !is_trusted(&ip) {
            return Some(ip);
        }
        nearest = ip;
    }
    // Every hop a trusted proxy (a caller inside the proxies' own network): the first.
    (nearest != peer).then_some(nearest)
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or
/// `[2001:db8::1]:443`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ThrottleSettings {
        ThrottleSettings {
            per_client: 2,
            per_address: 3,
            window: Duration::from_secs(10),
        }
    }

    #[test]
    fn throttles_per_client_and_source_and_per_source_then_recovers() {
        let t = Throttle::new(settings());
        let t0 = Instant::now();
        t.record_failure(Some("c"), Some("1.2.3.4"), t0);
        assert!(t.check(Some("c"), Some("1.2.3.4"), t0).is_ok());
        t.record_failure(Some("c"), Some("1.2.3.4"), t0);
        let err = t.check(Some("c"), Some("1.2.3.4"), t0).unwrap_err();
        assert_eq!(err.subject, "client");
        // The same client id from elsewhere is not slowed down: no lockout from afar.
        assert!(t.check(Some("c"), Some("9.9.9.9"), t0).is_ok());
        t.record_failure(Some("d"), Some("1.2.3.4"), t0);
        assert_eq!(
            t.check(Some("e"), Some("1.2.3.4"), t0).unwrap_err().subject,
            "address"
        );
        assert!(
            t.check(Some("c"), Some("1.2.3.4"), t0 + Duration::from_secs(11))
                .is_ok()
        );
    }

    #[test]
    fn ipv6_sources_count_by_their_64() {
        let a = source_key("2001:db8:1:2::1".parse().unwrap());
        let b = source_key("2001:db8:1:2:ffff::9".parse().unwrap());
        let other = source_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(source_key("::ffff:192.0.2.7".parse().unwrap()), "192.0.2.7");
        let t = Throttle::new(settings());
        let t0 = Instant::now();
        for id in ["x", "y", "z"] {
            t.record_failure(Some(id), Some(&a), t0);
        }
        assert_eq!(
            t.check(Some("w"), Some(&b), t0).unwrap_err().subject,
            "address"
        );
        assert!(t.check(Some("w"), Some(&other), t0).is_ok());
    }

    #[test]
    fn the_table_is_bounded_whatever_is_sent() {
        let t = Throttle::new(ThrottleSettings {
            per_client: 1_000,
            per_address: 1_000,
            window: Duration::from_secs(60),
        });
        let t0 = Instant::now();
        let long = "x".repeat(60_000);
        for i in 0..(MAX_TRACKED + 5_000) {
            t.record_failure(Some(&format!("{long}{i}")), Some("1.2.3.4"), t0);
        }
        assert!(t.tracked() <= MAX_TRACKED, "{}", t.tracked());
        // The source's own entry was kept and still counts.
        t.record_failure(Some("late"), Some("1.2.3.4"), t0);
        assert!(t.check(Some("late"), Some("1.2.3.4"), t0).is_err());
    }

    #[test]
    fn the_source_behind_trusted_proxies_is_the_first_untrusted_hop_from_the_right() {
        let proxies: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.1.1.1".parse().unwrap();
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // A client cannot choose its address by sending the header itself.
        assert_eq!(
            source_of(peer, &["6.6.6.6, 198.51.100.9, 10.2.2.2"], &proxies),
            ip("198.51.100.9")
        );
        assert_eq!(
            source_of(peer, &["6.6.6.6", "198.51.100.9"], &proxies),
            ip("198.51.100.9")
        );
        // A peer that is no trusted proxy is the source, whatever it claims.
        assert_eq!(
            source_of("203.0.113.5".parse().unwrap(), &["198.51.100.9"], &proxies),
            ip("203.0.113.5")
        );
        // A trusted proxy without a header: unknown; with an unreadable hop: the nearest
        // proxy that forwarded (a malformed header gains its sender nothing).
        assert_eq!(source_of(peer, &[], &proxies), None);
        assert_eq!(source_of(peer, &["not-an-ip"], &proxies), ip("10.1.1.1"));
        assert_eq!(
            source_of(peer, &["not-an-ip, 10.3.3.3"], &proxies),
            ip("10.3.3.3")
        );
        // Ports, brackets, and IPv4 peers of a dual-stack listener.
        assert_eq!(
            source_of(peer, &["198.51.100.9:5678"], &proxies),
            ip("198.51.100.9")
        );
        assert_eq!(
            source_of(peer, &["[2001:db8::7]:443"], &proxies),
            ip("2001:db8::7")
        );
        assert_eq!(
            source_of(
                "::ffff:10.1.1.1".parse().unwrap(),
                &["198.51.100.9"],
                &proxies
            ),
            ip("198.51.100.9")
        );
        // No trusted proxies configured: the peer, always.
        assert_eq!(source_of(peer, &["198.51.100.9"], &[]), ip("10.1.1.1"));
    }
}
