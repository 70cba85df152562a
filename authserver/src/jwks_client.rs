//! Public keys of `private_key_jwt` clients fetched from their `jwks_uri`: cached for
//! 5 minutes, fetched again at most every 10 s when an assertion names a `kid` the cached
//! set lacks (the client rotated), and served from the cache when a refetch fails.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;

use crate::cached::Cached;

const MAX_AGE: Duration = Duration::from_secs(300);
const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct JwksClient {
    cache: RwLock<HashMap<String, Cached<JwkSet>>>,
    /// Built on first use: loading root certificates costs start-up time.
    http: OnceLock<reqwest::Client>,
}

impl JwksClient {
    /// The key set at `uri`, for an assertion naming `kid`. The error says why, for the
    /// client (never with a credential in it).
    pub async fn get(&self, uri: &str, kid: Option<&str>) -> Result<Arc<JwkSet>, String> {
        let cached = self
            .cache
            .read()
            .expect("cache lock")
            .get(uri)
            .map(|c| (c.at.elapsed(), c.value.clone()));
        if let Some((age, set)) = &cached {
            let has_kid = kid.is_none_or(|k| set.find(k).is_some());
            if *age < MAX_AGE && (has_kid || *age < UNKNOWN_KID_REFETCH) {
                return Ok(set.clone());
            }
        }
        match self.fetch(uri).await {
            Ok(set) => {
                let set = Arc::new(set);
                self.cache
                    .write()
                    .expect("cache lock")
                    .insert(uri.to_owned(), Cached::new(set.clone()));
                Ok(set)
            }
            Err(why) => match cached {
                Some((_, set)) => {
                    tracing::warn!(jwks_uri = uri, error = %why, "using the cached client JWKS");
                    Ok(set)
                }
                None => Err(why),
            },
        }
    }

    async fn fetch(&self, uri: &str) -> Result<JwkSet, String> {
        let http = self.http.get_or_init(|| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .tls_certs_merge(built_in_roots())
                .build()
                .expect("HTTP client")
        });
        let resp = http
            .get(uri)
            .send()
            .await
            .map_err(|e| format!("fetching jwks_uri failed: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("jwks_uri answered HTTP {}", resp.status().as_u16()));
        }
        resp.json::<JwkSet>()
            .await
            .map_err(|_| "jwks_uri did not return a JWKS".to_owned())
    }
}

pub use authdomain_verifier::jwks::built_in_roots;
