//! After a change: forget what this instance cached and, with a read model, publish the
//! new version (see `crate::read_model`). A failed publication is logged, counted and
//! recorded in the database, and does not undo the change; the next change, the next
//! `prepare`, or `publish_if_behind` publishes again.

use serde::Serialize;

use super::Authority;
use crate::ids::now;
use crate::read_model::publish::{self, PublishError, Published as Outcome};
use crate::store::StoreError;

/// Where publication stands, for the admin API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReadModelStatus {
    /// `s3://bucket/prefix`, or null when the token path reads the database.
    pub location: Option<String>,
    /// The version of what the database holds.
    pub version: i64,
    /// The highest version published.
    pub published_version: i64,
    /// When it was published (Unix seconds).
    pub published_at: Option<i64>,
    /// Whether the published copy is behind the database.
    pub behind: bool,
    /// Seconds since the last publication while the copy is behind (0 when current).
    pub lag_seconds: i64,
    /// The last failure, until a publication succeeds.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    /// The version this instance serves from.
    pub loaded_version: Option<i64>,
}

impl Authority {
    /// A change was committed: caches go, and the read model is published.
    pub(crate) async fn after_change(&self) {
        self.invalidate();
        if self.published.is_some()
            && let Err(e) = self.publish().await
        {
            self.publication_failed(&e).await;
        }
    }

    /// Publish what the database holds unless S3 holds that version or a newer one. The
    /// publishing instance serves the new version at once.
    pub async fn publish(&self) -> Result<Option<Outcome>, PublishError> {
        let Some(published) = &self.published else {
            return Ok(None);
        };
        let t = now();
        let records = self.with_retry(|| self.store.read_model_records(t)).await?;
        let (outcome, view) = publish::publish(
            published.store(),
            &self.kek,
            &self.settings.issuer,
            &records,
            t,
        )
        .await?;
        if let Some((etag, view)) = view {
            published.install(etag, view);
        }
        let version = match &outcome {
            Outcome::Wrote { version, bytes } => {
                tracing::info!(version, bytes, "read model published");
                *version
            }
            // A newer copy, published by another instance, holds this data too.
            Outcome::Current { .. } => records.version,
        };
        self.with_retry(|| self.store.mark_published(version, t))
            .await?;
        Ok(Some(outcome))
    }

    /// Publish when the database holds a newer version than the one published (at
    /// `prepare`, and after a failure).
    pub async fn publish_if_behind(&self) -> Result<Option<Outcome>, PublishError> {
        if self.published.is_none() {
            return Ok(None);
        }
        let state = self.with_retry(|| self.store.read_model_state()).await?;
        if state.published_version >= state.version {
            return Ok(None);
        }
        match self.publish().await {
            Ok(o) => Ok(o),
            Err(e) => {
                self.publication_failed(&e).await;
                Err(e)
            }
        }
    }

    async fn publication_failed(&self, e: &PublishError) {
        metrics::counter!("authserver_read_model_publish_failures_total").increment(1);
        tracing::error!(error = %e, "publishing the read model failed; the change is committed and the next change or `prepare` publishes again");
        if let Err(store) = self.store.mark_publish_failed(&e.to_string(), now()).await {
            tracing::error!(error = %store, "could not record the publication failure");
        }
    }

    /// Where publication stands (reads the database).
    pub async fn read_model_status(&self) -> Result<ReadModelStatus, StoreError> {
        let state = self.with_retry(|| self.store.read_model_state()).await?;
        let behind = state.published_version < state.version;
        Ok(ReadModelStatus {
            location: self.published.as_ref().map(|p| p.store().location()),
            version: state.version,
            published_version: state.published_version,
            published_at: state.published_at,
            behind,
            lag_seconds: match (behind, state.published_at) {
                (true, Some(at)) => (now() - at).max(0),
                _ => 0,
            },
            last_error: state.last_error,
            last_error_at: state.last_error_at,
            loaded_version: self.read_model_version(),
        })
    }
}
