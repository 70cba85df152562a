//! Public keys of `private_key_jwt` clients fetched from their `jwks_uri` (and the portal
//! identity provider's): cached for 5 minutes, fetched again at most every 10 s when an
//! assertion names a `kid` the cached set lacks (the client rotated), and served from the
//! cache when a refetch fails.
//!
//! The URI is someone else's (a team member registered it; an anonymous caller triggers
//! the fetch), so every fetch goes through [`crate::outbound`]: no special-purpose
//! addresses, at most [`MAX_BYTES`], within 5 s. One fetch per URI is in flight at a time
//! (callers wait for it), a failure is remembered for [`FAILURE_TTL`] (a burst of
//! assertions naming a dead URI costs one fetch), and the reason of a failure goes to the
//! log only: the caller gets [`FETCH_FAILED`], the same text whatever happened.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;

use crate::cached::Cached;
use crate::outbound::Outbound;

const MAX_AGE: Duration = Duration::from_secs(300);
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(10);
/// How long a failed fetch is remembered.
pub const FAILURE_TTL: Duration = Duration::from_secs(30);
/// The largest key set read (a JWKS of ten 4096-bit RSA keys is about 10 KB).
pub const MAX_BYTES: usize = 256 * 1024;
/// URIs kept: beyond it, the cache starts again (each URI belongs to a registered client,
/// so this bounds what a team registering many clients can make the server hold).
const MAX_URIS: usize = 10_000;
/// What the caller is told when the key set cannot be had, whatever the reason.
pub const FETCH_FAILED: &str = "the keys at the client's jwks_uri could not be fetched";

/// Cheap to share: the state is behind one `Arc`, so a fetch can outlive the request
/// that started it.
pub struct JwksClient {
    inner: Arc<Inner>,
}

struct Inner {
    outbound: Outbound,
    cache: RwLock<HashMap<String, Cached<JwkSet>>>,
    failures: Mutex<HashMap<String, Instant>>,
    /// One lock per URI: the fetch in flight for it.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Built on first use: loading root certificates costs start-up time.
    http: OnceLock<reqwest::Client>,
}

impl JwksClient {
    pub fn new(outbound: Outbound) -> JwksClient {
        JwksClient {
            inner: Arc::new(Inner {
                outbound,
                cache: RwLock::default(),
                failures: Mutex::default(),
                flights: Mutex::default(),
                http: OnceLock::new(),
            }),
        }
    }

    /// The key set at `uri`, for an assertion naming `kid`. The error is
    /// [`FETCH_FAILED`] (the reason is logged).
    ///
    /// A fetch runs in a task of its own: a caller that goes away (a client that
    /// disconnects, a timeout) does not cancel it, so its outcome is always recorded and a
    /// burst of abandoned requests still costs one fetch.
    pub async fn get(&self, uri: &str, kid: Option<&str>) -> Result<Arc<JwkSet>, String> {
        if let Some(set) = self.inner.fresh(uri, kid) {
            return Ok(set);
        }
        let inner = self.inner.clone();
        let (uri, kid) = (uri.to_owned(), kid.map(str::to_owned));
        tokio::spawn(async move { inner.get_in_flight(&uri, kid.as_deref()).await })
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "a JWKS fetch task failed");
                Err(FETCH_FAILED.to_owned())
            })
    }
}

impl Inner {
    async fn get_in_flight(&self, uri: &str, kid: Option<&str>) -> Result<Arc<JwkSet>, String> {
        let flight = {
            let mut flights = self.flights.lock().expect("flights lock");
            if flights.len() >= MAX_URIS {
                flights.retain(|_, f| Arc::strong_count(f) > 1);
            }
            flights.entry(uri.to_owned()).or_default().clone()
        };
        let _in_flight = flight.lock().await;
        // Whoever held the flight before may have fetched it.
        if let Some(set) = self.fresh(uri, kid) {
            return Ok(set);
        }
        let cached = self.cached(uri).map(|(_, set)| set);
        let failed_recently = self
            .failures
            .lock()
            .expect("failures lock")
            .get(uri)
            .is_some_and(|at| at.elapsed() < FAILURE_TTL);
        let result = if failed_recently {
            Err(None)
        } else {
            self.fetch(uri).await.map_err(Some)
        };
        match result {
            Ok(set) => {
                let set = Arc::new(set);
                let mut cache = self.cache.write().expect("cache lock");
                if cache.len() >= MAX_URIS && !cache.contains_key(uri) {
                    // Make room by dropping the oldest, not everyone's stale fallback.
                    if let Some(oldest) = cache
                        .iter()
                        .min_by_key(|(_, c)| c.at)
                        .map(|(k, _)| k.clone())
                    {
                        cache.remove(&oldest);
                    }
                }
                cache.insert(uri.to_owned(), Cached::new(set.clone()));
                self.failures.lock().expect("failures lock").remove(uri);
                Ok(set)
            }
            Err(why) => {
                if let Some(why) = why {
                    tracing::warn!(jwks_uri = uri, error = %why, "fetching a JWKS failed");
                    let mut failures = self.failures.lock().expect("failures lock");
                    if failures.len() >= MAX_URIS {
                        failures.retain(|_, at| at.elapsed() < FAILURE_TTL);
                    }
                    failures.insert(uri.to_owned(), Instant::now());
                }
                match cached {
                    Some(set) => Ok(set),
                    None => Err(FETCH_FAILED.to_owned()),
                }
            }
        }
    }

    fn cached(&self, uri: &str) -> Option<(Duration, Arc<JwkSet>)> {
        self.cache
            .read()
            .expect("cache lock")
            .get(uri)
            .map(|c| (c.at.elapsed(), c.value.clone()))
    }

    /// The cached set if it is young enough for an assertion naming `kid`.
    fn fresh(&self, uri: &str, kid: Option<&str>) -> Option<Arc<JwkSet>> {
        let (age, set) = self.cached(uri)?;
        let has_kid = kid.is_none_or(|k| set.find(k).is_some());
        (age < MAX_AGE && (has_kid || age < UNKNOWN_KID_REFETCH)).then_some(set)
    }

    async fn fetch(&self, uri: &str) -> Result<JwkSet, crate::outbound::FetchError> {
        let http = self
            .http
            .get_or_init(|| self.outbound.client(Duration::from_secs(5)));
        let body = self.outbound.get_capped(http, uri, MAX_BYTES).await?;
        serde_json::from_slice(&body)
            .map_err(|_| crate::outbound::FetchError::Request("the response is not a JWKS".into()))
    }
}

pub use authdomain_verifier::jwks::built_in_roots;
