//! Publishing the read model after a change, and the one write the token path makes on
//! it: a client assertion's `jti`, once.
//!
//! A version only goes up. The database bumps it in the same transaction as every change
//! (triggers, migration 0003); a publisher reads the version and the data in one
//! consistent read, so a higher version always holds newer data. S3's conditional PUT is
//! the compare-and-swap: a publisher replaces only the object it looked at (`If-Match`),
//! or creates the first one (`If-None-Match: *`); when another publisher wrote first, it
//! looks again, and stops if what is there is as new as its own.

use std::sync::Arc;

use aws_lc_rs::digest;
use bytes::Bytes;

use super::object::{Condition, ObjectError, ObjectStore, VERSION_HEADER, Written};
use super::published::SNAPSHOT_KEY;
use super::snapshot::{self, SnapshotError, View};
use crate::keys::Kek;
use crate::store::read_model::ReadModelRecords;

/// Why a publication failed. The change it follows is committed either way.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("reading the database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("another publisher kept winning; gave up after {0} attempts")]
    Contended(u32),
}

/// What a publication did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// This version is published now.
    Wrote { version: i64, bytes: usize },
    /// What is published is already this version or newer.
    Current { published: i64 },
}

const ATTEMPTS: u32 = 8;

/// Publish `records` unless S3 already holds that version or a newer one. On success the
/// view built from them is returned too (the publishing instance takes it at once).
pub async fn publish(
    store: &ObjectStore,
    kek: &Kek,
    issuer: &str,
    records: &ReadModelRecords,
    now: i64,
) -> Result<(Published, Option<(String, Arc<View>)>), PublishError> {
    let snapshot = snapshot::build(
        records.version,
        now,
        &records.clients,
        &records.resource_servers,
        &records.keys,
        records.revoked.clone(),
    );
    let sealed = Bytes::from(snapshot.seal(kek.read_model_key(), issuer));
    let version = records.version;
    for attempt in 1..=ATTEMPTS {
        let current = store.head(SNAPSHOT_KEY).await?;
        if let Some((_, Some(published))) = &current
            && *published >= version
        {
            return Ok((
                Published::Current {
                    published: *published,
                },
                None,
            ));
        }
        let condition = match &current {
            None => Condition::Create,
            Some((etag, _)) => Condition::Replace(etag),
        };
        let written = store
            .put(
                SNAPSHOT_KEY,
                sealed.clone(),
                condition,
                &[(VERSION_HEADER, version.to_string())],
            )
            .await?;
        match written {
            Written::Done { etag } => {
                metrics::counter!("authserver_read_model_published_total").increment(1);
                metrics::gauge!("authserver_read_model_published_version").set(version as f64);
                let view = Arc::new(snapshot::index(snapshot)?);
                return Ok((
                    Published::Wrote {
                        version,
                        bytes: sealed.len(),
                    },
                    Some((etag, view)),
                ));
            }
            Written::Lost => {
                tracing::debug!(
                    version,
                    attempt,
                    "another publisher wrote first; looking again"
                );
                // Back off a little: the winner's PUT may still be settling (409).
                tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
            }
        }
    }
    Err(PublishError::Contended(ATTEMPTS))
}

/// The assertions already used, one create-only object each under `assertions/`: S3
/// accepts exactly one `If-None-Match: *` PUT of a key, across every instance, so the
/// second use of a `jti` is refused wherever it arrives (RFC 7523 §3). The bucket's
/// lifecycle rule removes them after a day, longer than any assertion may live.
#[derive(Debug, Clone)]
pub struct Assertions {
    store: ObjectStore,
}

impl Assertions {
    pub fn new(store: ObjectStore) -> Assertions {
        Assertions { store }
    }

    /// Record `(client_id, jti)`; false when it was recorded before (a replay).
    pub async fn first_use(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
    ) -> Result<bool, ObjectError> {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(client_id.as_bytes());
        ctx.update(&[0]);
        ctx.update(jti.as_bytes());
        let key = format!("assertions/{}", hex(ctx.finish().as_ref()));
        let written = self
            .store
            .put(
                &key,
                Bytes::new(),
                Condition::Create,
                &[("x-amz-meta-expires", expires_at.to_string())],
            )
            .await?;
        Ok(matches!(written, Written::Done { .. }))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
