//! An issuer's keys over HTTPS: discovery (`{issuer}/.well-known/openid-configuration` →
//! `jwks_uri`, whose `issuer` must match exactly, RFC 8414 §3.3), the JWKS cached for its
//! `Cache-Control: max-age`, and a refetch when a token names a `kid` the cache lacks.
//!
//! Fetches are single-flight (concurrent callers wait for the one in flight) and at most
//! one per `min_refetch` (5 s): a flood of tokens with random `kid`s costs one fetch every
//! few seconds, not one per token. AuthDomain publishes its next key before signing with
//! it, so a rotation finds the key in the cache already; the unknown-`kid` refetch covers
//! issuers that do not. When the issuer cannot be reached, keys fetched before are used
//! for `stale_grace` past their max-age; with none at all the answer is
//! [`VerifyError::KeysUnavailable`], a 503, never an allow.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::KeySource;
use crate::error::VerifyError;
use crate::keys::{Algorithm, KeySet, PublicKey};

/// How keys are fetched and kept.
#[derive(Debug, Clone)]
pub struct RemoteSettings {
    /// Skip discovery and fetch the JWKS from here.
    pub jwks_uri: Option<String>,
    /// At most one fetch per this interval, whatever the tokens say (default 5 s).
    pub min_refetch: Duration,
    /// Max-age when the JWKS response names none (default 5 min).
    pub default_max_age: Duration,
    /// Bounds on a response's max-age (default 30 s to 24 h).
    pub max_age_bounds: (Duration, Duration),
    /// How long past their max-age cached keys serve while the issuer is unreachable
    /// (default 1 h).
    pub stale_grace: Duration,
    /// Per request (default 5 s).
    pub timeout: Duration,
}

impl Default for RemoteSettings {
    fn default() -> Self {
        RemoteSettings {
            jwks_uri: None,
            min_refetch: Duration::from_secs(5),
            default_max_age: Duration::from_secs(300),
            max_age_bounds: (Duration::from_secs(30), Duration::from_secs(86_400)),
            stale_grace: Duration::from_secs(3600),
            timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("issuer `{0}`: expected an absolute https URL (http only on loopback)")]
    Issuer(String),
    #[error("building the HTTP client: {0}")]
    Http(String),
}

#[derive(Default)]
struct State {
    keys: Arc<KeySet>,
    jwks_uri: Option<String>,
    fetched_at: Option<Instant>,
    max_age: Duration,
    last_attempt: Option<Instant>,
    last_error: Option<String>,
    generation: u64,
}

/// Keys fetched from an issuer (see the module documentation).
pub struct RemoteKeys {
    issuer: String,
    algorithms: Vec<Algorithm>,
    settings: RemoteSettings,
    http: reqwest::Client,
    state: RwLock<State>,
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// `http` is allowed only for loopback hosts (a local issuer in development and tests).
pub fn allowed_url(url: &str) -> bool {
    if url.starts_with("https://") {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

/// Mozilla's root certificates, compiled in: a Lambda image holds only its binary, so
/// there is no system store to trust.
pub fn built_in_roots() -> Vec<reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect()
}

/// The max-age a `Cache-Control` header value gives, if any (`no-cache` / `no-store`: 0).
pub fn max_age(cache_control: &str) -> Option<Duration> {
    let mut out = None;
    for directive in cache_control.split(',').map(str::trim) {
        let d = directive.to_ascii_lowercase();
        if d == "no-cache" || d == "no-store" {
            return Some(Duration::ZERO);
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            out = v
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    out
}

impl RemoteKeys {
    pub fn new(
        issuer: &str,
        algorithms: &[Algorithm],
        settings: RemoteSettings,
    ) -> Result<RemoteKeys, ConfigError> {
        if !allowed_url(issuer) {
            return Err(ConfigError::Issuer(issuer.to_owned()));
        }
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::limited(3))
            .tls_certs_merge(built_in_roots())
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        Ok(RemoteKeys {
            issuer: issuer.to_owned(),
            algorithms: algorithms.to_vec(),
            state: RwLock::new(State {
                jwks_uri: settings.jwks_uri.clone(),
                ..State::default()
            }),
            settings,
            http,
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// Fetch the keys now (at start-up, so the first request does not wait for it).
    pub async fn refresh(&self) -> Result<usize, VerifyError> {
        let _guard = self.fetching.lock().await;
        self.fetch_and_store().await.map(|set| set.len())
    }

    /// The keys cached now, and how many fetches have succeeded.
    pub fn cached(&self) -> (Arc<KeySet>, u64) {
        let s = self.state.read().expect("keys lock");
        (s.keys.clone(), s.generation)
    }

    fn lookup(set: &KeySet, kid: Option<&str>) -> Option<Arc<PublicKey>> {
        match kid {
            Some(k) => set.get(k),
            None => set.only(),
        }
    }

    async fn fetch_and_store(&self) -> Result<Arc<KeySet>, VerifyError> {
        let started = Instant::now();
        let fetched = self.fetch().await;
        let mut s = self.state.write().expect("keys lock");
        s.last_attempt = Some(started);
        match fetched {
            Ok((set, max_age, jwks_uri)) => {
                let set = Arc::new(set);
                s.keys = set.clone();
                s.fetched_at = Some(started);
                s.max_age = max_age;
                s.jwks_uri = Some(jwks_uri);
                s.last_error = None;
                s.generation += 1;
                Ok(set)
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "fetching the issuer's keys failed");
                s.last_error = Some(e.clone());
                // Discovery again next time: the JWKS may have moved.
                if self.settings.jwks_uri.is_none() {
                    s.jwks_uri = None;
                }
                Err(VerifyError::KeysUnavailable(e))
            }
        }
    }

    async fn fetch(&self) -> Result<(KeySet, Duration, String), String> {
        let known = self.state.read().expect("keys lock").jwks_uri.clone();
        let jwks_uri = match known {
            Some(u) => u,
            None => self.discover().await?,
        };
        let resp = self
            .http
            .get(&jwks_uri)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("GET {jwks_uri}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {jwks_uri}: HTTP {}", resp.status().as_u16()));
        }
        let age = resp
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(self.settings.default_max_age);
        let (lo, hi) = self.settings.max_age_bounds;
        let body = resp
            .bytes()
            .await
            .map_err(|e| format!("GET {jwks_uri}: {e}"))?;
        if body.len() > 512 * 1024 {
            return Err(format!("GET {jwks_uri}: the JWKS is larger than 512 KiB"));
        }
        let (set, skipped) = KeySet::from_jwks(&body, &self.algorithms)
            .map_err(|e| format!("GET {jwks_uri}: {e}"))?;
        for s in skipped {
            tracing::debug!(kid = ?s.kid, why = s.why, "a JWK of the issuer is not used");
        }
        Ok((set, age.clamp(lo, hi), jwks_uri))
    }

    async fn discover(&self) -> Result<String, String> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        );
        let resp = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: HTTP {}", resp.status().as_u16()));
        }
        let doc: serde_json::Value = resp
            .json()
            .await
            .map_err(|_| format!("GET {url}: not a JSON metadata document"))?;
        if doc["issuer"].as_str() != Some(self.issuer.as_str()) {
            return Err(format!(
                "GET {url}: the metadata's issuer is {}, not {}",
                doc["issuer"], self.issuer
            ));
        }
        let jwks_uri = doc["jwks_uri"]
            .as_str()
            .ok_or_else(|| format!("GET {url}: the metadata has no jwks_uri"))?;
        if !allowed_url(jwks_uri) {
            return Err(format!("GET {url}: jwks_uri {jwks_uri} is not https"));
        }
        Ok(jwks_uri.to_owned())
    }
}

impl KeySource for RemoteKeys {
    async fn key(&self, kid: Option<&str>) -> Result<Option<Arc<PublicKey>>, VerifyError> {
        let settings = &self.settings;
        // What the cache says, and whether a fetch may happen now.
        let decide = |s: &State| -> (Option<Arc<PublicKey>>, bool, bool) {
            let fresh = s.fetched_at.is_some_and(|t| t.elapsed() < s.max_age);
            let may_fetch = s
                .last_attempt
                .is_none_or(|t| t.elapsed() >= settings.min_refetch);
            (Self::lookup(&s.keys, kid), fresh, may_fetch)
        };
        let generation = {
            let s = self.state.read().expect("keys lock");
            let (found, fresh, may_fetch) = decide(&s);
            match (found, fresh, may_fetch) {
                (Some(k), true, _) => return Ok(Some(k)),
                // Unknown kid, fetched recently: it stays unknown until the next window.
                (None, true, false) => return Ok(None),
                // Stale or empty, and a fetch was tried recently: serve what there is.
                (found, false, false) => return self.stale(&s, found),
                _ => s.generation,
            }
        };
        let _guard = self.fetching.lock().await;
        {
            // Another caller may have fetched while this one waited.
            let s = self.state.read().expect("keys lock");
            let (found, fresh, may_fetch) = decide(&s);
            if s.generation != generation || !may_fetch {
                return match (found, fresh) {
                    (Some(k), _) if fresh || s.generation != generation => Ok(Some(k)),
                    (None, true) => Ok(None),
                    (found, _) => self.stale(&s, found),
                };
            }
        }
        match self.fetch_and_store().await {
            Ok(set) => Ok(Self::lookup(&set, kid)),
            Err(e) => {
                let s = self.state.read().expect("keys lock");
                let found = Self::lookup(&s.keys, kid);
                self.stale(&s, found).map_err(|_| e)
            }
        }
    }
}

impl RemoteKeys {
    /// Serve cached keys past their max-age, within the grace; else unavailable.
    fn stale(
        &self,
        s: &State,
        found: Option<Arc<PublicKey>>,
    ) -> Result<Option<Arc<PublicKey>>, VerifyError> {
        let usable = s
            .fetched_at
            .is_some_and(|t| t.elapsed() < s.max_age + self.settings.stale_grace);
        if usable {
            Ok(found)
        } else {
            Err(VerifyError::KeysUnavailable(
                s.last_error
                    .clone()
                    .unwrap_or_else(|| "the issuer's keys have not been fetched yet".into()),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_max_age() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            max_age("max-age=\"60\", must-revalidate"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
    }

    #[test]
    fn fetches_trust_the_compiled_in_web_roots() {
        let roots = built_in_roots();
        assert_eq!(roots.len(), webpki_root_certs::TLS_SERVER_ROOT_CERTS.len());
        assert!(roots.len() > 100, "{}", roots.len());
        let isrg = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .any(|der| der.windows(12).any(|w| w == b"ISRG Root X1"));
        assert!(isrg, "Let's Encrypt's root is among them");
        // The client builds with them (rustls merges them with the system's roots).
        reqwest::Client::builder()
            .tls_certs_merge(roots)
            .build()
            .unwrap();
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(allowed_url("https://auth.example.com"));
        assert!(allowed_url("http://127.0.0.1:8080"));
        assert!(allowed_url("http://localhost/x"));
        assert!(allowed_url("http://[::1]:9/jwks"));
        assert!(!allowed_url("http://auth.example.com"));
        assert!(!allowed_url("http://127.0.0.1.evil.com"));
        assert!(!allowed_url("ftp://127.0.0.1"));
    }
}
