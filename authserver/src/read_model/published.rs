//! EDGE. The published read model as the token path reads it: loaded at cold start,
//! revalidated with a conditional GET when older than `max_age` (one request revalidates,
//! the others go on with the copy they have), never replaced by a lower version. A failed
//! revalidation keeps the copy in hand; only an instance that has never loaded one answers
//! "unavailable".

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use super::object::{Fetched, ObjectError, ObjectStore};
use super::snapshot::{self, Snapshot, SnapshotError, View};
use crate::keys::Kek;

/// The key of the snapshot under the read model's prefix.
pub const SNAPSHOT_KEY: &str = authdomain_read_model::SNAPSHOT_OBJECT;

/// Why the read model could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadModelError {
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("no read model has been published yet at {0}")]
    Absent(String),
}

impl ReadModelError {
    /// Whether waiting can help (S3 unreachable, nothing published yet).
    pub fn is_unavailable(&self) -> bool {
        match self {
            ReadModelError::Object(e) => e.is_unavailable(),
            ReadModelError::Absent(_) => true,
            ReadModelError::Snapshot(_) => false,
        }
    }
}

struct Loaded {
    etag: String,
    checked: Instant,
    view: Arc<View>,
}

/// The published read model of one domain.
pub struct Published {
    store: ObjectStore,
    kek: Arc<Kek>,
    issuer: String,
    max_age: Duration,
    current: RwLock<Option<Loaded>>,
    revalidating: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Published")
            .field("location", &self.store.location())
            .finish_non_exhaustive()
    }
}

impl Published {
    pub fn new(store: ObjectStore, kek: Arc<Kek>, issuer: &str, max_age: Duration) -> Published {
        Published {
            store,
            kek,
            issuer: issuer.to_owned(),
            max_age,
            current: RwLock::new(None),
            revalidating: tokio::sync::Mutex::new(()),
        }
    }

    pub fn store(&self) -> &ObjectStore {
        &self.store
    }

    /// The version in hand, if any (readiness, the admin API's lag).
    pub fn loaded_version(&self) -> Option<i64> {
        self.current
            .read()
            .expect("read model lock")
            .as_ref()
            .map(|l| l.view.version)
    }

    /// The read model, revalidated when older than `max_age`.
    pub async fn view(&self) -> Result<Arc<View>, ReadModelError> {
        let held = self
            .current
            .read()
            .expect("read model lock")
            .as_ref()
            .map(|l| (l.checked.elapsed(), l.view.clone()));
        match held {
            Some((age, view)) if age < self.max_age => Ok(view),
            // Stale: one request revalidates; the others answer from what is in hand.
            Some((_, view)) => match self.revalidating.try_lock() {
                Ok(_guard) => Ok(self.revalidate().await.unwrap_or_else(|e| {
                    metrics::counter!("authserver_read_model_fetch_failures_total").increment(1);
                    tracing::warn!(error = %e, version = view.version, "read model revalidation failed; serving the copy in hand");
                    view
                })),
                Err(_) => Ok(view),
            },
            None => {
                let _guard = self.revalidating.lock().await;
                if let Some(l) = self.current.read().expect("read model lock").as_ref() {
                    return Ok(l.view.clone());
                }
                self.revalidate().await
            }
        }
    }

    /// The read model as S3 has it now (one conditional GET): for reads that must see
    /// a write another instance has just published (the admin API's reads).
    pub async fn fresh_view(&self) -> Result<Arc<View>, ReadModelError> {
        let _guard = self.revalidating.lock().await;
        self.revalidate().await
    }

    /// Take a view this instance built itself (after publishing it), unless a newer one
    /// is in hand already.
    pub fn install(&self, etag: String, view: Arc<View>) {
        let mut current = self.current.write().expect("read model lock");
        if current
            .as_ref()
            .is_none_or(|l| l.view.version <= view.version)
        {
            *current = Some(Loaded {
                etag,
                checked: Instant::now(),
                view,
            });
        }
    }

    async fn revalidate(&self) -> Result<Arc<View>, ReadModelError> {
        let (etag, held) = match self.current.read().expect("read model lock").as_ref() {
            Some(l) => (Some(l.etag.clone()), Some(l.view.clone())),
            None => (None, None),
        };
        let started = Instant::now();
        let fetched = self.store.get(SNAPSHOT_KEY, etag.as_deref()).await?;
        let (etag, body) = match fetched {
            Fetched::NotModified => {
                let mut current = self.current.write().expect("read model lock");
                let l = current.as_mut().expect("a copy was in hand");
                l.checked = Instant::now();
                return Ok(l.view.clone());
            }
            Fetched::Absent => return Err(ReadModelError::Absent(self.store.location())),
            Fetched::Found { etag, body } => (etag, body),
        };
        // A lower version than the one in hand is never taken (a writer that raced or a
        // copy put back): keep serving the newer one.
        let claimed = Snapshot::claimed_version(&body)?;
        if let Some(view) = held.as_ref()
            && claimed < view.version
        {
            tracing::warn!(
                held = view.version,
                found = claimed,
                "the published read model is older than the one in hand; keeping it"
            );
            return Ok(view.clone());
        }
        let view = Arc::new(snapshot::index(Snapshot::open(
            &body,
            self.kek.read_model_key(),
            &self.issuer,
        )?)?);
        metrics::histogram!("authserver_read_model_load_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::gauge!("authserver_read_model_version").set(view.version as f64);
        tracing::debug!(
            version = view.version,
            bytes = body.len(),
            ms = started.elapsed().as_millis() as u64,
            "read model loaded"
        );
        self.install(etag, view.clone());
        Ok(view)
    }
}
