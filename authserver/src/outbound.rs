//! HTTP the server makes because someone else named the URL: a `private_key_jwt` client's
//! `jwks_uri` (registered by a team member, fetched when an anonymous caller presents an
//! assertion) and the portal's identity provider (discovery, token endpoint, JWKS).
//!
//! An attacker who controls such a URL must not reach what only the server can reach:
//! loopback, the VPC's private addresses, link-local (the instance metadata service at
//! 169.254.169.254 and fd00:ec2::254, the VPC resolver), unique-local, and the other
//! special-purpose ranges of the IANA registries (RFC 6890). So:
//!
//! - a URL is checked when it is registered ([`Outbound::check_url`] for its form and any
//!   IP literal, [`Outbound::check_resolved`] for what its name resolves to now);
//! - and again at every connection: the client's resolver ([`GuardedResolver`]) refuses a
//!   name any of whose addresses is special (DNS rebinding: a name that resolved to a
//!   public address at registration may not later), redirects are re-checked
//!   ([`Outbound::client`]), and no proxy from the environment is used (a proxy would do
//!   the resolving);
//! - a response is read up to a size cap ([`Outbound::get_capped`]), within a timeout.
//!
//! Loopback is allowed only when the server's own issuer is loopback (`authdomain dev`,
//! the tests): there everything runs on one machine.
//!
//! The ranges are written out here rather than taken from a crate: std's
//! `IpAddr::is_global` is unstable, and the small crates that classify addresses do not
//! cover the embedded IPv4 of NAT64 and 6to4 addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a URL or an address was refused (for the server's log and the admin API's 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("expected an absolute URL")]
    NotAUrl,
    #[error("expected an https URL (http only for a loopback address under a loopback issuer)")]
    Scheme,
    #[error("a URL with a user name or password is not accepted")]
    Credentials,
    #[error(
        "{0} is a loopback, private, link-local or otherwise special-purpose address, which the server does not fetch from"
    )]
    Address(IpAddr),
    #[error(
        "{host} resolves to {address}, a loopback, private, link-local or otherwise special-purpose address"
    )]
    Resolves { host: String, address: IpAddr },
    #[error("{0} does not resolve")]
    NoAddress(String),
}

impl Refused {
    /// The reason without what a name resolved to (for the caller; the log has it).
    pub fn public_message(&self) -> String {
        match self {
            Refused::Resolves { host, .. } => format!(
                "{host} resolves to a loopback, private, link-local or otherwise special-purpose address, which the server does not fetch from"
            ),
            other => other.to_string(),
        }
    }
}

/// A fetch that failed: the detail is for the server's log only (it would make the
/// server a port scanner if it went back to whoever triggered the fetch).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("request failed: {0}")]
    Request(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
}

/// The policy: whether loopback is allowed (a loopback issuer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outbound {
    allow_loopback: bool,
}

impl Outbound {
    /// The policy for a server whose issuer is `issuer`: loopback only for a loopback one.
    pub fn for_issuer(issuer: &str) -> Outbound {
        let loopback = url::Url::parse(issuer)
            .ok()
            .is_some_and(|u| is_loopback_host(&u));
        Outbound {
            allow_loopback: loopback,
        }
    }

    /// Whether `ip` may be connected to.
    pub fn allows(&self, ip: IpAddr) -> bool {
        !is_special(ip) || (self.allow_loopback && canonical(ip).is_loopback())
    }

    /// The URL's form: https (http only to loopback when loopback is allowed), no
    /// credentials, and an IP literal host must be allowed.
    pub fn check_url(&self, value: &str) -> Result<url::Url, Refused> {
        let u = url::Url::parse(value).map_err(|_| Refused::NotAUrl)?;
        let loopback = is_loopback_host(&u);
        match u.scheme() {
            "https" => {}
            "http" if loopback && self.allow_loopback => {}
            _ => return Err(Refused::Scheme),
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(Refused::Credentials);
        }
        match u.host() {
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(url::Host::Domain(_)) if loopback && !self.allow_loopback => {
                return Err(Refused::Address(IpAddr::V4(Ipv4Addr::LOCALHOST)));
            }
            Some(url::Host::Domain(_)) => {}
            None => return Err(Refused::NotAUrl),
        }
        Ok(u)
    }

    fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.allows(ip) {
            Ok(())
        } else {
            Err(Refused::Address(ip))
        }
    }

    /// [`Self::check_url`], then what the name resolves to now (at registration; the
    /// connection checks again). A name that does not resolve yet is accepted: the
    /// connection will check what it resolves to then.
    pub async fn check_resolved(&self, value: &str) -> Result<url::Url, Refused> {
        let u = self.check_url(value)?;
        if let Some(url::Host::Domain(host)) = u.host() {
            match resolve(*self, host).await {
                Ok(_) | Err(Refused::NoAddress(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(u)
    }

    /// An HTTP client that connects only to allowed addresses: its resolver refuses the
    /// rest, redirects (at most 3) are checked as URLs, no environment proxy.
    pub fn client(&self, timeout: Duration) -> reqwest::Client {
        let policy = *self;
        reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver(policy)))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                // `previous` holds the first URL too: 3 redirects followed, the 4th refused.
                if attempt.previous().len() > 3 {
                    attempt.error("more than 3 redirects")
                } else if let Err(e) = policy.check_url(attempt.url().as_str()) {
                    attempt.error(e)
                } else {
                    attempt.follow()
                }
            }))
            .tls_certs_merge(authdomain_verifier::jwks::built_in_roots())
            .build()
            .expect("HTTP client")
    }

    /// GET `url` with `client` (from [`Self::client`]), reading at most `cap` bytes.
    pub async fn get_capped(
        &self,
        client: &reqwest::Client,
        url: &str,
        cap: usize,
    ) -> Result<Vec<u8>, FetchError> {
        let url = self.check_url(url)?;
        let resp = client
            .get(url)
            .send()
            .await
            .map_err(|e| FetchError::Request(describe(&e)))?;
        read_capped(resp, cap).await
    }
}

/// The body of a successful response, at most `cap` bytes (refused as soon as more come,
/// without reading the rest).
pub async fn read_capped(resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, FetchError> {
    if !resp.status().is_success() {
        return Err(FetchError::Status(resp.status().as_u16()));
    }
    read_body_capped(resp, cap).await
}

/// The body of any response, at most `cap` bytes.
pub async fn read_body_capped(
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, FetchError> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(FetchError::TooLarge(cap));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::Request(describe(&e)))?
    {
        if body.len() + chunk.len() > cap {
            return Err(FetchError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A reqwest error with its causes (a refused address is one of them), without the URL's
/// query.
fn describe(e: &reqwest::Error) -> String {
    let mut text = match e.url() {
        Some(url) => e.to_string().replace(url.as_str(), url.path()),
        None => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Resolves through the system, then refuses the name if any address is not allowed
/// (not just drops those: a name that answers with a private address is not one to talk
/// to at all).
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver(pub Outbound);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve(policy, &host).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

async fn resolve(policy: Outbound, host: &str) -> Result<Vec<SocketAddr>, Refused> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|_| Refused::NoAddress(host.to_owned()))?
        .collect();
    if addrs.is_empty() {
        return Err(Refused::NoAddress(host.to_owned()));
    }
    if let Some(bad) = addrs.iter().find(|a| !policy.allows(a.ip())) {
        return Err(Refused::Resolves {
            host: host.to_owned(),
            address: bad.ip(),
        });
    }
    Ok(addrs)
}

fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => canonical(IpAddr::V6(ip)).is_loopback(),
        None => false,
    }
}

/// An IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4) as that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible, deprecated)
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(tail),
        [0, 0, 0, 0, 0, 0, _, _] if v6 != Ipv6Addr::UNSPECIFIED && v6 != Ipv6Addr::LOCALHOST => {
            Some(tail)
        }
        // 64:ff9b::/96, NAT64 (RFC 6052)
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail),
        // 2002::/16, 6to4 (RFC 3056): the IPv4 address is in bits 16-47
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))),
        _ => None,
    }
}

/// Not a public unicast address (the IANA special-purpose registries, RFC 6890 and its
/// updates), or one that leads inside (link-local, unique-local, NAT64 local-use).
pub fn is_special(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            a == 0 // "this network" (RFC 791)
                || a == 10 // private (RFC 1918)
                || (a == 100 && (64..128).contains(&b)) // shared, carrier-grade NAT (RFC 6598)
                || a == 127 // loopback
                || (a == 169 && b == 254) // link-local: instance metadata, VPC resolver
                || (a == 172 && (16..32).contains(&b)) // private
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments (RFC 6890)
                || (a == 192 && b == 0 && c == 2) // documentation
                || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
                || (a == 192 && b == 168) // private
                || (a == 198 && (b == 18 || b == 19)) // benchmarking (RFC 2544)
                || (a == 198 && b == 51 && c == 100) // documentation
                || (a == 203 && b == 0 && c == 113) // documentation
                || a >= 224 // multicast, reserved, broadcast
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1) // NAT64 local-use (RFC 8215)
                || (s[0] == 0x100 && s[1..4] == [0, 0, 0]) // discard-only (RFC 6666)
                || (s[0] == 0x2001 && s[1] < 0x200) // IETF protocol assignments, Teredo
                || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
                || (s[0] & 0xfe00) == 0xfc00 // unique-local, incl. fd00:ec2::254 (metadata)
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] & 0xff00) == 0xff00 // multicast
                || s[0] == 0 // the rest of ::/8 (reserved)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_addresses_are_refused_and_public_ones_allowed() {
        for s in [
            "0.0.0.0",
            "10.1.2.3",
            "100.64.0.1",
            "127.0.0.1",
            "127.8.9.10",
            "169.254.169.254",
            "169.254.169.253",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
            "64:ff9b:1::1",
            "2002:a9fe:a9fe::1", // 6to4 of 169.254.169.254
            "2002:7f00:1::",     // 6to4 of 127.0.0.1
            "fd00:ec2::254",     // the instance metadata service over IPv6
            "fc00::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1", // Teredo
        ] {
            assert!(is_special(ip(s)), "{s} should be special");
        }
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "52.94.1.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_special(ip(s)), "{s} should be public");
        }
    }

    #[test]
    fn urls_are_checked_by_form_and_ip_literal() {
        let prod = Outbound::for_issuer("https://auth.example.com");
        let dev = Outbound::for_issuer("http://127.0.0.1:8080");
        assert!(prod.check_url("https://keys.example.com/jwks.json").is_ok());
        for bad in [
            "https://169.254.169.254/latest/meta-data/",
            "https://10.0.0.5/jwks",
            "https://[::1]:8443/",
            "https://[::ffff:127.0.0.1]/",
            "https://[fd00:ec2::254]/",
            "http://127.0.0.1:9000/jwks",
            "https://localhost/jwks",
            "https://a.localhost./jwks",
            "https://0x7f000001/", // url parses it as 127.0.0.1
            "https://2130706433/", // and this
            "http://keys.example.com/jwks",
            "https://user:pw@keys.example.com/",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(prod.check_url(bad).is_err(), "{bad} accepted");
        }
        assert!(dev.check_url("http://127.0.0.1:9000/jwks").is_ok());
        assert!(dev.check_url("http://localhost:9000/jwks").is_ok());
        assert!(dev.check_url("https://10.0.0.5/jwks").is_err());
        assert!(dev.check_url("http://keys.example.com/jwks").is_err());
    }

    /// A name (not a literal) that /etc/hosts maps to a loopback address, like Debian's
    /// `ip6-localhost`: refused at registration and by the connection's resolver.
    #[tokio::test]
    async fn names_are_checked_by_what_they_resolve_to() {
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        let name = hosts
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let address: IpAddr = words.next()?.parse().ok()?;
                is_special(address).then_some(words.collect::<Vec<_>>())
            })
            .flatten()
            .find(|n| !n.eq_ignore_ascii_case("localhost") && !n.ends_with(".localhost"))
            .expect("/etc/hosts names a special address under a name other than localhost")
            .to_owned();
        let prod = Outbound::for_issuer("https://auth.example.com");
        let url = format!("https://{name}/jwks");
        assert!(prod.check_url(&url).is_ok(), "the form alone passes");
        assert!(matches!(
            prod.check_resolved(&url).await,
            Err(Refused::Resolves { .. })
        ));
        let err = prod
            .get_capped(&prod.client(Duration::from_secs(2)), &url, 1024)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("special-purpose"),
            "the connection refuses it too: {err}"
        );
    }
}
