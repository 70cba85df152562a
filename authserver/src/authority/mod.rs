//! The authorization server's service: the store behind per-instance caches (clients, the
//! scope catalogue, the key ring), retries of an unavailable database inside the request
//! deadline, and the signing keys' lifecycle. Client authentication ([`client_auth`]),
//! tokens ([`token`]) and our own tokens' verification ([`own_tokens`]) are further
//! `impl Authority` blocks in this directory; administration (`crate::admin`) builds on
//! it from above. HTTP handlers, the CLI and Lambda management events all call it; none of
//! them talks to the store directly.

pub mod client_auth;
pub mod own_tokens;
mod publication;
mod reads;
mod sessions;
pub mod token;

pub use own_tokens::{KeyRingCache, OwnTokenError};
pub use publication::ReadModelStatus;
pub use token::{RequestContext, TokenResponse};

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

use authdomain_verifier::Verifier;

use crate::cached::Cached;
use crate::ids::now;
use crate::jwks_client::JwksClient;
use crate::keys::{Kek, KeyRing, KeyState, StoredKey};
use crate::oauth::OAuthError;
use crate::oauth::grant::Catalog;
use crate::outbound::Outbound;
use crate::read_model::{Assertions, ObjectStore, Published, ReadModelError, View};
use crate::settings::Settings;
use crate::store::retry::retry_while_unavailable;
use crate::store::{ClientRecord, Store, StoreError};
use crate::throttle::Throttle;

/// Bounded so a flood of distinct client ids cannot grow memory without limit.
const MAX_CACHED_CLIENTS: usize = 10_000;

pub struct Authority {
    pub(crate) store: Store,
    pub(crate) kek: Arc<Kek>,
    pub(crate) settings: Settings,
    pub(crate) throttle: Throttle,
    clients: RwLock<HashMap<String, Cached<ClientRecord>>>,
    catalog: RwLock<Option<Cached<Catalog>>>,
    /// The signing keys, and the verifier of our own tokens over them.
    pub(crate) ring: Arc<KeyRingCache>,
    pub(crate) own_tokens: Verifier<Arc<KeyRingCache>>,
    /// Keys of `private_key_jwt` clients registered with a `jwks_uri`.
    pub(crate) client_keys: JwksClient,
    /// The published read model (Lambda): with it, the token path reads no database.
    pub(crate) published: Option<Arc<Published>>,
    /// Used client assertions, on the read model's path (create-only objects).
    pub(crate) assertions: Option<Assertions>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl Authority {
    /// An authority over `store`. With `settings.read_model`, the token path reads the
    /// published read model and every change publishes a new version (see
    /// `crate::read_model`); without, it reads the database behind per-instance caches.
    /// The read model's location is checked by [`Settings::validate`].
    pub fn new(store: Store, kek: Kek, settings: Settings) -> Authority {
        let kek = Arc::new(kek);
        let objects = settings.read_model.as_ref().map(|r| {
            ObjectStore::new(r).expect("Settings::validate checked the read model's location")
        });
        // The read model is looked for anew at four fifths of the cache lifetime, so a
        // change reaches every instance within the lifetime itself, revalidation included.
        let published = objects.clone().map(|o| {
            Arc::new(Published::new(
                o,
                kek.clone(),
                &settings.issuer,
                settings.cache_ttl * 4 / 5,
            ))
        });
        let ring = Arc::new(KeyRingCache::new(
            store.clone(),
            published.clone(),
            kek.clone(),
            &settings,
        ));
        Authority {
            own_tokens: own_tokens::verifier(&settings, ring.clone()),
            ring,
            store,
            kek,
            throttle: Throttle::new(settings.throttle),
            client_keys: JwksClient::new(Outbound::for_issuer(&settings.issuer)),
            settings,
            clients: RwLock::new(HashMap::new()),
            catalog: RwLock::new(None),
            assertions: objects.map(Assertions::new),
            published,
        }
    }

    /// What the server may fetch from on others' behalf (loopback only under a loopback
    /// issuer).
    pub(crate) fn outbound(&self) -> Outbound {
        Outbound::for_issuer(&self.settings.issuer)
    }

    /// Whether the token path reads the published read model (not the database).
    pub fn reads_published(&self) -> bool {
        self.published.is_some()
    }

    /// The read model as the token path sees it now (loading or revalidating it as it
    /// would); an error in database mode.
    pub async fn published_view(&self) -> Result<Arc<View>, ReadModelError> {
        match &self.published {
            Some(p) => p.view().await,
            None => Err(ReadModelError::Absent("(no read model configured)".into())),
        }
    }

    /// The read model in hand (None in database mode, or before the first load).
    pub fn read_model_version(&self) -> Option<i64> {
        self.published.as_ref().and_then(|p| p.loaded_version())
    }

    /// Load what the first request needs before it arrives: the read model (or, in
    /// database mode, nothing) and the signing keys. A failure is logged, not fatal: the
    /// first request tries again.
    pub async fn warm(&self) {
        if let Some(p) = &self.published
            && let Err(e) = p.view().await
        {
            tracing::warn!(error = %e, "read model not loaded yet; the first request tries again");
        }
        if let Err(e) = self.keyring().await {
            tracing::warn!(error = %e, "signing keys not loaded yet; the first request tries again");
        }
    }

    /// Close the database connections opened by this invocation (Lambda, after an
    /// administrative request): a frozen execution environment keeps none open.
    pub async fn release_connections(&self) {
        self.store.release().await;
    }

    /// Open database connections now (tests and metrics).
    pub fn open_connections(&self) -> u32 {
        self.store.open_connections()
    }

    /// Entries the failure throttle holds now (bounded; see [`crate::throttle`]).
    pub fn throttled_keys(&self) -> usize {
        self.throttle.tracked()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Close the database connections (at shutdown).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Which database backs this authority (`postgres` or `sqlite`).
    pub fn backend(&self) -> &'static str {
        self.store.backend()
    }

    /// Whether the database answers now (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }

    /// Run `op` against the store, retrying while the database is unavailable (Aurora
    /// resuming from pause), until the request deadline.
    pub(crate) async fn with_retry<T, F, Fut>(&self, op: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        retry_while_unavailable(self.settings.db_retry_deadline, op).await
    }

    /// Map a store failure to the OAuth error a client sees (never with internal detail).
    pub(crate) fn store_failure(&self, e: StoreError) -> OAuthError {
        store_failure(e)
    }

    // ---- cached reads ----------------------------------------------------------------

    /// The published read model (revalidated when older than the cache lifetime), as the
    /// token path reads it; None in database mode.
    pub(crate) async fn view(&self) -> Result<Option<Arc<View>>, OAuthError> {
        match &self.published {
            Some(p) => p.view().await.map(Some).map_err(read_model_failure),
            None => Ok(None),
        }
    }

    pub(crate) async fn client(
        &self,
        client_id: &str,
    ) -> Result<Option<Arc<ClientRecord>>, OAuthError> {
        if let Some(view) = self.view().await? {
            return Ok(view.clients.get(client_id).cloned());
        }
        if let Some(c) = self.clients.read().expect("cache lock").get(client_id)
            && let Some(value) = c.fresh(self.settings.cache_ttl)
        {
            return Ok(Some(value));
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
                cache.insert(client_id.to_owned(), Cached::new(value.clone()));
                Ok(Some(value))
            }
            None => {
                cache.remove(client_id);
                Ok(None)
            }
        }
    }

    pub(crate) async fn catalog(&self) -> Result<Arc<Catalog>, OAuthError> {
        if let Some(view) = self.view().await? {
            return Ok(view.catalog.clone());
        }
        if let Some(c) = self.catalog.read().expect("cache lock").as_ref()
            && let Some(value) = c.fresh(self.settings.cache_ttl)
        {
            return Ok(value);
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
        *self.catalog.write().expect("cache lock") = Some(Cached::new(catalog.clone()));
        Ok(catalog)
    }

    /// The signing keys (see [`KeyRingCache::get`]).
    pub async fn keyring(&self) -> Result<Arc<KeyRing>, OAuthError> {
        self.ring.get().await
    }

    /// Forget cached state (after an admin change on this instance).
    pub fn invalidate(&self) {
        self.clients.write().expect("cache lock").clear();
        *self.catalog.write().expect("cache lock") = None;
        self.ring.invalidate();
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
            self.after_change().await;
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
        self.after_change().await;
        let keys = self.with_retry(|| self.store.list_keys()).await?;
        keys.into_iter()
            .find(|k| k.alg == alg && k.state == KeyState::Active)
            .ok_or_else(|| StoreError::Corrupt("no active key after rotation".into()))
    }
}

/// The OAuth error a client sees when the read model cannot be read.
pub(crate) fn read_model_failure(e: ReadModelError) -> OAuthError {
    if e.is_unavailable() {
        metrics::counter!("authserver_read_model_unavailable_total").increment(1);
        tracing::warn!(error = %e, "read model unavailable");
        OAuthError::unavailable(5)
    } else {
        tracing::error!(error = %e, "read model unreadable");
        OAuthError::server_error("internal error while reading the client registry")
    }
}

/// A read model failure where a store failure is expected (admin reads).
pub(crate) fn read_model_as_store(e: ReadModelError) -> StoreError {
    if e.is_unavailable() {
        StoreError::Unavailable(e.to_string())
    } else {
        StoreError::Corrupt(e.to_string())
    }
}

/// The OAuth error a client sees for a store failure (never with internal detail).
fn store_failure(e: StoreError) -> OAuthError {
    if e.is_unavailable() {
        metrics::counter!("authserver_store_unavailable_total").increment(1);
        OAuthError::unavailable(5)
    } else {
        tracing::error!(error = %e, "store error");
        OAuthError::server_error("internal error while reading the client registry")
    }
}
