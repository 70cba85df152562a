//! The authorization server's service layer: it joins the pure OAuth rules (`oauth`), the
//! keys (`keys`) and the store (`store`). HTTP handlers, the CLI and Lambda management
//! events all call it; none of them talks to the store directly.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;

use crate::keys::{Kek, KeyRing, KeyState, StoredKey};
use crate::oauth::grant::{self, Catalog, ClientPolicy};
use crate::oauth::request::{PresentedCredentials, TokenReference, TokenRequest};
use crate::oauth::{AccessTokenClaims, Audience, OAuthError};
use crate::settings::Settings;
use crate::store::{ClientRecord, Store, StoreError};
use crate::throttle::Throttle;

/// `n` random bytes as an identifier: base64url that starts with a letter or digit, so it
/// is never mistaken for a command-line option.
pub fn random_id(n: usize) -> String {
    loop {
        let id = random_token(n);
        if id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return id;
        }
    }
}

/// Unix time in seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `n` random bytes, base64url.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system randomness");
    B64.encode(bytes)
}

/// Where a request came from (for throttling) and which endpoint URL it reached (the
/// accepted `aud` of a client assertion besides the issuer).
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub source_address: Option<String>,
    pub endpoint_url: String,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

struct Cached<T> {
    at: Instant,
    value: Arc<T>,
}

/// Bounded so a flood of distinct client ids cannot grow memory without limit.
const MAX_CACHED_CLIENTS: usize = 10_000;

pub struct Authority {
    pub(crate) store: Store,
    pub(crate) kek: Kek,
    pub(crate) settings: Settings,
    throttle: Throttle,
    clients: RwLock<HashMap<String, Cached<ClientRecord>>>,
    catalog: RwLock<Option<Cached<Catalog>>>,
    keyring: RwLock<Option<Cached<KeyRing>>>,
    keyring_refresh: tokio::sync::Mutex<()>,
    remote_jwks: RwLock<HashMap<String, Cached<jsonwebtoken::jwk::JwkSet>>>,
    /// Built on first use (a `jwks_uri` client): loading root certificates costs start-up time.
    http: std::sync::OnceLock<reqwest::Client>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl Authority {
    pub fn new(store: Store, kek: Kek, settings: Settings) -> Authority {
        Authority {
            store,
            kek,
            throttle: Throttle::new(settings.throttle),
            settings,
            clients: RwLock::new(HashMap::new()),
            catalog: RwLock::new(None),
            keyring: RwLock::new(None),
            keyring_refresh: tokio::sync::Mutex::new(()),
            remote_jwks: RwLock::new(HashMap::new()),
            http: std::sync::OnceLock::new(),
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Run `op` against the store, retrying while the database is unavailable (Aurora
    /// resuming from pause) with capped exponential backoff, until the request deadline.
    pub(crate) async fn with_retry<T, F, Fut>(&self, mut op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let deadline = Instant::now() + self.settings.db_retry_deadline;
        let mut delay = Duration::from_millis(100);
        loop {
            match op().await {
                Err(e) if e.is_unavailable() && Instant::now() + delay < deadline => {
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database unavailable; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// Map a store failure to the OAuth error a client sees (never with internal detail).
    pub(crate) fn store_failure(&self, e: StoreError) -> OAuthError {
        if e.is_unavailable() {
            metrics::counter!("authserver_store_unavailable_total").increment(1);
            OAuthError::unavailable(5)
        } else {
            tracing::error!(error = %e, "store error");
            OAuthError::server_error("internal error while reading the client registry")
        }
    }

    // ---- cached reads ----------------------------------------------------------------

    async fn client(&self, client_id: &str) -> Result<Option<Arc<ClientRecord>>, OAuthError> {
        if let Some(c) = self.clients.read().expect("cache lock").get(client_id)
            && c.at.elapsed() < self.settings.cache_ttl
        {
            return Ok(Some(c.value.clone()));
        }
        let found = self
            .with_retry(|| self.store.get_client(client_id))
            .await
            .map_err(|e| self.store_failure(e))?;
        let mut cache = self.clients.write().expect("cache lock");
        match found {
            Some(record) => {
                if cache.len() >= MAX_CACHED_CLIENTS {
                    cache.clear();
                }
                let value = Arc::new(record);
                cache.insert(
                    client_id.to_owned(),
                    Cached {
                        at: Instant::now(),
                        value: value.clone(),
                    },
                );
                Ok(Some(value))
            }
            None => {
                cache.remove(client_id);
                Ok(None)
            }
        }
    }

    pub(crate) async fn catalog(&self) -> Result<Arc<Catalog>, OAuthError> {
        if let Some(c) = self.catalog.read().expect("cache lock").as_ref()
            && c.at.elapsed() < self.settings.cache_ttl
        {
            return Ok(c.value.clone());
        }
        let servers = self
            .with_retry(|| self.store.list_resource_servers())
            .await
            .map_err(|e| self.store_failure(e))?;
        let catalog = Arc::new(Catalog::new(servers.iter().map(|r| {
            (
                r.identifier.as_str(),
                r.scopes.iter().map(|s| s.name.as_str()).collect(),
            )
        })));
        *self.catalog.write().expect("cache lock") = Some(Cached {
            at: Instant::now(),
            value: catalog.clone(),
        });
        Ok(catalog)
    }

    /// The signing keys, reloaded every `key_refresh` (one request reloads, others go on
    /// with the previous ring; a failed reload keeps the previous ring).
    pub async fn keyring(&self) -> Result<Arc<KeyRing>, OAuthError> {
        let current = self
            .keyring
            .read()
            .expect("cache lock")
            .as_ref()
            .map(|c| (c.at.elapsed(), c.value.clone()));
        match current {
            Some((age, ring)) if age < self.settings.key_refresh => Ok(ring),
            Some((_, ring)) => match self.keyring_refresh.try_lock() {
                Ok(_guard) => Ok(self.reload_keyring().await.unwrap_or(ring)),
                Err(_) => Ok(ring),
            },
            None => {
                let _guard = self.keyring_refresh.lock().await;
                if let Some(c) = self.keyring.read().expect("cache lock").as_ref() {
                    return Ok(c.value.clone());
                }
                self.reload_keyring().await
            }
        }
    }

    async fn reload_keyring(&self) -> Result<Arc<KeyRing>, OAuthError> {
        let stored = self
            .with_retry(|| self.store.list_keys())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "could not load signing keys");
                self.store_failure(e)
            })?;
        match KeyRing::load(&stored, self.settings.signing_alg, &self.kek, now()) {
            Ok(ring) => {
                let ring = Arc::new(ring);
                *self.keyring.write().expect("cache lock") = Some(Cached {
                    at: Instant::now(),
                    value: ring.clone(),
                });
                Ok(ring)
            }
            Err(e) => {
                // A wrong KEK or missing keys is a configuration fault, not an outage.
                tracing::error!(error = %e, "signing keys are unusable");
                Err(OAuthError::server_error(
                    "signing keys are unavailable on this server",
                ))
            }
        }
    }

    /// Forget cached state (after an admin change on this instance).
    pub fn invalidate(&self) {
        self.clients.write().expect("cache lock").clear();
        *self.catalog.write().expect("cache lock") = None;
        *self.keyring.write().expect("cache lock") = None;
    }

    // ---- keys ------------------------------------------------------------------------

    /// Create the configured algorithm's active and next keys when missing; retire keys of
    /// other algorithms. Returns whether anything changed.
    pub async fn ensure_keys(&self) -> Result<bool, StoreError> {
        let alg = self.settings.signing_alg;
        let t = now();
        let changed = self
            .with_retry(|| {
                self.store
                    .ensure_keys(alg, t, t + self.settings.max_token_ttl, |state| {
                        StoredKey::generate(alg, state, &self.kek, t)
                    })
            })
            .await;
        let changed = match changed {
            // Another instance created the keys at the same moment: theirs stand.
            Err(StoreError::Conflict(_)) => false,
            other => other?,
        };
        if changed {
            self.invalidate();
        }
        Ok(changed)
    }

    /// Rotate signing keys: the pre-published next key becomes active. Unless `force`,
    /// refuses while the next key has been published for less than the JWKS cache
    /// lifetime (relying parties might not have fetched it yet).
    pub async fn rotate_keys(&self, force: bool) -> Result<StoredKey, StoreError> {
        self.ensure_keys().await?;
        let alg = self.settings.signing_alg;
        let t = now();
        if !force {
            let keys = self.with_retry(|| self.store.list_keys()).await?;
            if let Some(next) = keys
                .iter()
                .find(|k| k.alg == alg && k.state == KeyState::Next)
            {
                let age = t - next.created_at;
                let max_age = self.settings.jwks_max_age as i64;
                if age < max_age {
                    return Err(StoreError::Conflict(format!(
                        "the next key {} has been published for {age} s, less than the JWKS cache lifetime ({max_age} s): \
                         relying parties may not have it yet; retry in {} s or force the rotation",
                        next.kid,
                        max_age - age
                    )));
                }
            }
        }
        let next = StoredKey::generate(alg, KeyState::Next, &self.kek, t)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.with_retry(|| {
            self.store
                .rotate_keys(alg, &next, t, t + self.settings.max_token_ttl)
        })
        .await?;
        self.invalidate();
        let keys = self.store.list_keys().await?;
        keys.into_iter()
            .find(|k| k.alg == alg && k.state == KeyState::Active)
            .ok_or_else(|| StoreError::Corrupt("no active key after rotation".into()))
    }

    // ---- client authentication -------------------------------------------------------

    /// Authenticate the client of a token, introspection or revocation request.
    pub async fn authenticate(
        &self,
        credentials: &PresentedCredentials,
        ctx: &RequestContext,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        let header = credentials.used_authorization_header();
        let started = Instant::now();
        let claimed = credentials.claimed_client_id();
        if let Err(t) = self
            .throttle
            .check(claimed, ctx.source_address.as_deref(), started)
        {
            metrics::counter!("authserver_client_auth_throttled_total").increment(1);
            let secs = t.retry_after.as_secs().max(1);
            let mut e = OAuthError::new(
                crate::oauth::ErrorCode::TooManyAttempts,
                format!(
                    "too many failed client authentications from this {}; retry after {secs} s",
                    t.subject
                ),
            )
            .with_header(header);
            e.retry_after = Some(secs);
            return Err(e);
        }
        let outcome = match credentials {
            PresentedCredentials::Basic { client_id, secret }
            | PresentedCredentials::Post { client_id, secret } => {
                self.authenticate_secret(client_id, secret, credentials.method())
                    .await
            }
            PresentedCredentials::Assertion {
                client_id,
                assertion,
            } => {
                self.authenticate_assertion(client_id.as_deref(), assertion, ctx)
                    .await
            }
        };
        match outcome {
            Ok(client) => Ok(client),
            Err(e) => {
                if e.code == crate::oauth::ErrorCode::InvalidClient {
                    metrics::counter!("authserver_client_auth_failures_total").increment(1);
                    self.throttle.record_failure(
                        claimed,
                        ctx.source_address.as_deref(),
                        Instant::now(),
                    );
                    tracing::info!(client_id = claimed.unwrap_or("-"), reason = %e.description, "client authentication failed");
                }
                Err(e.with_header(header))
            }
        }
    }

    async fn authenticate_secret(
        &self,
        client_id: &str,
        secret: &str,
        method: &str,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        let presented = self.kek.hash_secret(secret);
        let client = self.client(client_id).await?;
        let Some(client) = client else {
            return Err(OAuthError::invalid_client(
                "client authentication failed (unknown client or wrong secret)",
            ));
        };
        // Compare against every stored secret in constant time, without an early exit.
        let mut matched = false;
        for s in &client.secrets {
            matched |=
                aws_lc_rs::constant_time::verify_slices_are_equal(&s.hash, &presented).is_ok();
        }
        if client.auth_method != method {
            return Err(OAuthError::invalid_client(format!(
                "the client is registered for `{}`, not `{method}`",
                client.auth_method
            )));
        }
        if !matched {
            return Err(OAuthError::invalid_client(
                "client authentication failed (unknown client or wrong secret)",
            ));
        }
        Ok(client)
    }

    async fn authenticate_assertion(
        &self,
        body_client_id: Option<&str>,
        assertion: &str,
        ctx: &RequestContext,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        use jsonwebtoken::{Algorithm as A, Validation};
        let bad =
            |why: &str| OAuthError::invalid_client(format!("client assertion rejected: {why}"));
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| bad("not a compact JWS with a valid header"))?;
        if !matches!(
            header.alg,
            A::RS256
                | A::RS384
                | A::RS512
                | A::PS256
                | A::PS384
                | A::PS512
                | A::ES256
                | A::ES384
                | A::EdDSA
        ) {
            return Err(bad(
                "`alg` must be an asymmetric algorithm (RS*, PS*, ES256, ES384, EdDSA)",
            ));
        }
        // Read `iss` before verification only to find the client whose keys verify it.
        let unverified: serde_json::Value = assertion
            .split('.')
            .nth(1)
            .and_then(|p| B64.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("the payload is not base64url JSON"))?;
        let client_id = unverified["iss"]
            .as_str()
            .ok_or_else(|| bad("`iss` is missing"))?
            .to_owned();
        if let Some(id) = body_client_id
            && id != client_id
        {
            return Err(bad("`client_id` differs from the assertion's `iss`"));
        }
        let client = self
            .client(&client_id)
            .await?
            .ok_or_else(|| bad("unknown client"))?;
        if client.auth_method != "private_key_jwt" {
            return Err(OAuthError::invalid_client(format!(
                "the client is registered for `{}`, not `private_key_jwt`",
                client.auth_method
            )));
        }
        let jwks = self.client_jwks(&client, header.kid.as_deref()).await?;
        let jwk = match &header.kid {
            Some(kid) => jwks
                .find(kid)
                .ok_or_else(|| bad("no key with the assertion's `kid` in the client's JWKS"))?,
            None if jwks.keys.len() == 1 => &jwks.keys[0],
            None => {
                return Err(bad(
                    "the assertion has no `kid` and the client's JWKS has several keys",
                ));
            }
        };
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
            .map_err(|_| bad("the client's JWK is not usable"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.set_issuer(&[&client_id]);
        validation.sub = Some(client_id.clone());
        let token_url = self.settings.endpoint("/oauth2/token");
        validation.set_audience(&[
            self.settings.issuer.as_str(),
            token_url.as_str(),
            ctx.endpoint_url.as_str(),
        ]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::ExpiredSignature => bad("it has expired"),
                    K::InvalidAudience => bad("`aud` must be the issuer or the endpoint URL"),
                    K::InvalidIssuer | K::InvalidSubject => {
                        bad("`iss` and `sub` must both be the client id")
                    }
                    K::InvalidSignature => {
                        bad("the signature does not verify with the client's key")
                    }
                    K::MissingRequiredClaim(c) => bad(&format!("claim `{c}` is required")),
                    K::ImmatureSignature => bad("it is not valid yet (`nbf`)"),
                    _ => bad("it is not a valid JWT"),
                }
            })?;
        let t = now();
        let exp = data.claims["exp"]
            .as_i64()
            .ok_or_else(|| bad("`exp` must be a number"))?;
        if exp - t > self.settings.assertion_max_lifetime {
            return Err(bad(&format!(
                "`exp` is more than {} s in the future",
                self.settings.assertion_max_lifetime
            )));
        }
        let jti = data.claims["jti"]
            .as_str()
            .ok_or_else(|| bad("claim `jti` is required (RFC 7523 §3)"))?;
        let first_use = self
            .with_retry(|| self.store.use_assertion(&client_id, jti, exp + 30, t))
            .await
            .map_err(|e| self.store_failure(e))?;
        if !first_use {
            return Err(bad("its `jti` has been used before (replay)"));
        }
        Ok(client)
    }

    async fn client_jwks(
        &self,
        client: &ClientRecord,
        kid: Option<&str>,
    ) -> Result<Arc<jsonwebtoken::jwk::JwkSet>, OAuthError> {
        let bad =
            |why: String| OAuthError::invalid_client(format!("client assertion rejected: {why}"));
        if let Some(inline) = &client.jwks {
            let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(inline)
                .map_err(|_| bad("the client's registered JWKS is not valid".into()))?;
            return Ok(Arc::new(set));
        }
        let uri = client
            .jwks_uri
            .as_deref()
            .ok_or_else(|| bad("the client has neither `jwks` nor `jwks_uri`".into()))?;
        let cached = self
            .remote_jwks
            .read()
            .expect("cache lock")
            .get(uri)
            .map(|c| (c.at.elapsed(), c.value.clone()));
        if let Some((age, set)) = &cached {
            let has_kid = kid.is_none_or(|k| set.find(k).is_some());
            // Refetch at most every 10 s when an unknown kid appears (key rotation at the client).
            if age < &Duration::from_secs(300) && (has_kid || age < &Duration::from_secs(10)) {
                return Ok(set.clone());
            }
        }
        let fetched = async {
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
            resp.json::<jsonwebtoken::jwk::JwkSet>()
                .await
                .map_err(|_| "jwks_uri did not return a JWKS".to_owned())
        }
        .await;
        match fetched {
            Ok(set) => {
                let set = Arc::new(set);
                self.remote_jwks.write().expect("cache lock").insert(
                    uri.to_owned(),
                    Cached {
                        at: Instant::now(),
                        value: set.clone(),
                    },
                );
                Ok(set)
            }
            Err(why) => match cached {
                Some((_, set)) => {
                    tracing::warn!(jwks_uri = uri, error = %why, "using the cached client JWKS");
                    Ok(set)
                }
                None => Err(bad(why)),
            },
        }
    }

    // ---- token endpoint --------------------------------------------------------------

    pub async fn issue_token(
        &self,
        request: &TokenRequest,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let header = request.credentials.used_authorization_header();
        let client = self.authenticate(&request.credentials, ctx).await?;
        if !client
            .grant_types
            .iter()
            .any(|g| g == crate::oauth::request::GRANT_CLIENT_CREDENTIALS)
        {
            return Err(OAuthError::unauthorized_client(
                "the client is not allowed the client_credentials grant",
            )
            .with_header(header));
        }
        let catalog = self.catalog().await?;
        let grant = grant::resolve(
            &catalog,
            ClientPolicy {
                allowed_scopes: &client.allowed_scopes,
                default_scopes: &client.default_scopes,
            },
            request.scopes.as_deref(),
            &request.resources,
        )
        .map_err(|e| e.with_header(header))?;
        let ring = self.keyring().await?;
        let iat = now();
        let ttl = client
            .token_ttl_seconds
            .unwrap_or(self.settings.default_token_ttl)
            .min(self.settings.max_token_ttl);
        let scope = grant.scope_string();
        let claims = AccessTokenClaims {
            iss: self.settings.issuer.clone(),
            sub: client.client_id.clone(),
            aud: Audience::from_list(grant.audiences),
            exp: iat + ttl,
            iat,
            jti: random_token(16),
            client_id: client.client_id.clone(),
            scope: scope.clone(),
        };
        let payload = serde_json::to_vec(&claims).expect("serialisable");
        let access_token = ring
            .active()
            .sign_jwt(&payload)
            .map_err(|_| OAuthError::server_error("signing failed"))?;
        metrics::counter!("authserver_tokens_issued_total", "alg" => ring.active().alg().as_str())
            .increment(1);
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope,
        })
    }

    // ---- our own tokens --------------------------------------------------------------

    /// Verify an access token we issued: signature by a published key, issuer, expiry.
    /// Does not consult the revocation list (see `is_revoked`).
    pub async fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<Option<AccessTokenClaims>, OAuthError> {
        let Some(header) = crate::keys::peek_header(token) else {
            return Ok(None);
        };
        let Some(kid) = header["kid"].as_str() else {
            return Ok(None);
        };
        let ring = self.keyring().await?;
        let Some(key) = ring.get(kid) else {
            return Ok(None);
        };
        if header["alg"].as_str() != Some(key.alg().as_str())
            || header["typ"].as_str() != Some("at+jwt")
        {
            return Ok(None);
        }
        let Some(payload) = key.verify_jwt(token) else {
            return Ok(None);
        };
        let Ok(claims) = serde_json::from_slice::<AccessTokenClaims>(&payload) else {
            return Ok(None);
        };
        if claims.iss != self.settings.issuer || claims.exp <= now() {
            return Ok(None);
        }
        Ok(Some(claims))
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, OAuthError> {
        self.with_retry(|| self.store.is_revoked(jti))
            .await
            .map_err(|e| self.store_failure(e))
    }

    /// RFC 7662 introspection. Any authenticated client may introspect.
    pub async fn introspect(
        &self,
        request: &TokenReference,
        ctx: &RequestContext,
    ) -> Result<serde_json::Value, OAuthError> {
        self.authenticate(&request.credentials, ctx).await?;
        let inactive = serde_json::json!({ "active": false });
        let Some(claims) = self.verify_access_token(&request.token).await? else {
            return Ok(inactive);
        };
        if self.is_revoked(&claims.jti).await? {
            return Ok(inactive);
        }
        let mut body = serde_json::to_value(&claims).expect("serialisable");
        let obj = body.as_object_mut().expect("object");
        obj.insert("active".into(), true.into());
        obj.insert("token_type".into(), "Bearer".into());
        Ok(body)
    }

    /// RFC 7009 revocation: a client may revoke only its own tokens; unknown or invalid
    /// tokens are answered with success (§2.2).
    pub async fn revoke(
        &self,
        request: &TokenReference,
        ctx: &RequestContext,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate(&request.credentials, ctx).await?;
        if let Some(hint) = request.token_type_hint.as_deref()
            && hint != "access_token"
            && hint != "refresh_token"
        {
            return Err(OAuthError::new(
                crate::oauth::ErrorCode::UnsupportedTokenType,
                format!(
                    "token_type_hint `{hint}` is not supported (this server issues access tokens only)"
                ),
            ));
        }
        let Some(claims) = self.verify_access_token(&request.token).await? else {
            return Ok(());
        };
        if claims.client_id != client.client_id {
            return Err(
                OAuthError::unauthorized_client("the token was not issued to this client")
                    .with_header(request.credentials.used_authorization_header()),
            );
        }
        let t = now();
        self.with_retry(|| {
            self.store
                .revoke_token(&claims.jti, &claims.client_id, claims.exp, t)
        })
        .await
        .map_err(|e| self.store_failure(e))?;
        metrics::counter!("authserver_tokens_revoked_total").increment(1);
        Ok(())
    }
}

/// Mozilla's root certificates, compiled in (webpki-root-certs), trusted for `jwks_uri`
/// fetches besides the system's. The Lambda image holds only the binary: without these,
/// no HTTPS certificate could be verified there.
fn built_in_roots() -> Vec<reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_fetches_trust_the_compiled_in_web_roots() {
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
    fn identifiers_never_look_like_options() {
        for _ in 0..2000 {
            let id = random_id(16);
            assert!(id.starts_with(|c: char| c.is_ascii_alphanumeric()), "{id}");
            assert_eq!(id.len(), 22);
        }
        assert_eq!(random_token(32).len(), 43, "256-bit secrets");
    }
}
