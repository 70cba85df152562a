//! Verify OAuth 2.0 access tokens (RFC 9068 JWTs) for a resource server.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use authdomain_verifier::{Config, Verifier};
//! // Keys come from the issuer's metadata (`/.well-known/openid-configuration` →
//! // `jwks_uri`), cached as the JWKS's `Cache-Control: max-age` says.
//! let verifier = Verifier::remote(Config::new("https://auth.example.com", "https://api.example.com"))?;
//! let token = verifier.verify_for("eyJ…", &["orders:read"]).await?;
//! println!("{} may {}", token.client_id, token.scopes.join(" "));
//! # Ok(()) }
//! ```
//!
//! Every check of RFC 9068 §4 and RFC 8725, in this order: a strict compact JWS; `alg`
//! from the allow-list (never `none`, never HMAC); `typ` `at+jwt`; the key named by `kid`
//! of the type `alg` needs; the signature; the required claims; `iss` exactly the issuer;
//! `aud` containing the resource server; `exp`, `nbf`, `iat` within the leeway; the
//! scopes. Refusals are [`VerifyError`]s that map to RFC 6750 answers.
//!
//! Layers: [`jwt`], [`keys`], [`claims`] and [`error`] are pure; [`jwks`] (feature
//! `remote`) fetches keys; [`http`] (feature `axum`) is the tower layer and the axum
//! extractor.

pub mod claims;
pub mod error;
#[cfg(feature = "axum")]
pub mod http;
#[cfg(feature = "remote")]
pub mod jwks;
pub mod jwt;
pub mod keys;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use claims::{AccessToken, AudiencePolicy};
pub use error::{Refusal, VerifyError};
#[cfg(feature = "remote")]
pub use jwks::{RemoteKeys, RemoteSettings};
pub use keys::{Algorithm, KeySet, PublicKey};

/// Where a verifier's keys come from.
pub trait KeySource: Send + Sync + 'static {
    /// The key `kid` names (`None`: the token has no `kid`, and the source's only key is
    /// meant). `Ok(None)` when the source has no such key (after whatever refetch it
    /// allows); `Err(KeysUnavailable)` when it cannot tell.
    fn key(
        &self,
        kid: Option<&str>,
    ) -> impl Future<Output = Result<Option<Arc<PublicKey>>, VerifyError>> + Send;
}

/// A fixed set of keys (tests; sources that rebuild a set themselves).
impl KeySource for KeySet {
    async fn key(&self, kid: Option<&str>) -> Result<Option<Arc<PublicKey>>, VerifyError> {
        Ok(match kid {
            Some(k) => self.get(k),
            None => self.only(),
        })
    }
}

impl<T: KeySource> KeySource for Arc<T> {
    fn key(
        &self,
        kid: Option<&str>,
    ) -> impl Future<Output = Result<Option<Arc<PublicKey>>, VerifyError>> + Send {
        (**self).key(kid)
    }
}

/// What a verifier accepts.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer, exactly as the tokens' `iss` must read.
    pub issuer: String,
    pub audience: AudiencePolicy,
    /// The algorithms accepted (default RS256, ES256, EdDSA: what AuthDomain signs with).
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (default 30 s).
    pub leeway: Duration,
    /// Scopes every token must carry (besides those a call asks for).
    pub required_scopes: Vec<String>,
    /// Verified tokens remembered, so that a token presented again costs a lookup and
    /// the time checks instead of a signature check (0: no cache). Default 10,000.
    pub cache_capacity: usize,
}

impl Config {
    /// Accept tokens of `issuer` for the resource server `audience`.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Config {
        Config {
            issuer: issuer.into(),
            audience: AudiencePolicy::Is(audience.into()),
            algorithms: vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA],
            leeway: Duration::from_secs(30),
            required_scopes: Vec::new(),
            cache_capacity: 10_000,
        }
    }

    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Config {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    pub fn leeway(mut self, leeway: Duration) -> Config {
        self.leeway = leeway;
        self
    }

    pub fn require_scopes<S: Into<String>>(
        mut self,
        scopes: impl IntoIterator<Item = S>,
    ) -> Config {
        self.required_scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    pub fn cache_capacity(mut self, entries: usize) -> Config {
        self.cache_capacity = entries;
        self
    }
}

struct Inner<K> {
    config: Config,
    keys: K,
    cache: Option<quick_cache::sync::Cache<String, Arc<AccessToken>>>,
}

/// Verifies tokens with the keys of `K`. Cheap to clone (shared).
pub struct Verifier<K = DefaultKeys> {
    inner: Arc<Inner<K>>,
}

#[cfg(feature = "remote")]
type DefaultKeys = RemoteKeys;
#[cfg(not(feature = "remote"))]
type DefaultKeys = KeySet;

impl<K> Clone for Verifier<K> {
    fn clone(&self) -> Self {
        Verifier {
            inner: self.inner.clone(),
        }
    }
}

impl<K> std::fmt::Debug for Verifier<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.config.issuer)
            .field("audience", &self.inner.config.audience)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "remote")]
impl Verifier<RemoteKeys> {
    /// A verifier whose keys come from the issuer's metadata and JWKS over HTTPS.
    pub fn remote(config: Config) -> Result<Verifier<RemoteKeys>, jwks::ConfigError> {
        let keys = RemoteKeys::new(
            &config.issuer,
            &config.algorithms,
            RemoteSettings::default(),
        )?;
        Ok(Verifier::with_keys(config, keys))
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl<K: KeySource> Verifier<K> {
    pub fn with_keys(config: Config, keys: K) -> Verifier<K> {
        let cache = (config.cache_capacity > 0)
            .then(|| quick_cache::sync::Cache::new(config.cache_capacity));
        Verifier {
            inner: Arc::new(Inner {
                config,
                keys,
                cache,
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn keys(&self) -> &K {
        &self.inner.keys
    }

    /// Verify `token` against the configuration.
    pub async fn verify(&self, token: &str) -> Result<Arc<AccessToken>, VerifyError> {
        self.verify_for(token, &[]).await
    }

    /// Verify `token`, which must also carry `scopes`.
    pub async fn verify_for(
        &self,
        token: &str,
        scopes: &[&str],
    ) -> Result<Arc<AccessToken>, VerifyError> {
        let config = &self.inner.config;
        let verified = match self.inner.cache.as_ref().and_then(|c| c.get(token)) {
            // Verified before: its key must still be published (a key withdrawn from the
            // JWKS takes its tokens with it).
            Some(t) if self.inner.keys.key(Some(&t.key_id)).await?.is_some() => t,
            _ => {
                let t = Arc::new(self.verify_signature(token).await?);
                if let Some(c) = &self.inner.cache {
                    c.insert(token.to_owned(), t.clone());
                }
                t
            }
        };
        let required: Vec<&str> = config
            .required_scopes
            .iter()
            .map(String::as_str)
            .chain(scopes.iter().copied())
            .collect();
        claims::check(
            &verified,
            &config.issuer,
            &config.audience,
            now(),
            config.leeway.as_secs() as i64,
            &required,
        )?;
        Ok(verified)
    }

    /// Everything up to the signature, and the claims parsed (not yet checked).
    async fn verify_signature(&self, token: &str) -> Result<AccessToken, VerifyError> {
        let config = &self.inner.config;
        let compact = jwt::split(token)?;
        let alg = Algorithm::from_name(&compact.header.alg)
            .filter(|a| config.algorithms.contains(a))
            .ok_or_else(|| VerifyError::Algorithm(printable(&compact.header.alg)))?;
        if !compact
            .header
            .typ
            .as_deref()
            .is_some_and(jwt::is_access_token_type)
        {
            return Err(VerifyError::TokenType(
                compact.header.typ.as_deref().map(printable),
            ));
        }
        let kid = compact.header.kid.as_deref();
        let key = self
            .inner
            .keys
            .key(kid)
            .await?
            .ok_or_else(|| VerifyError::UnknownKey(kid.map(printable).unwrap_or_default()))?;
        key.verify(alg, compact.signing_input.as_bytes(), &compact.signature)?;
        claims::parse(&jwt::payload(&compact)?, key.kid(), alg)
    }
}

/// A value from a token, safe to show in a log line: printable ASCII, at most 80 characters.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(80)
        .collect()
}

#[cfg(test)]
mod tests;
