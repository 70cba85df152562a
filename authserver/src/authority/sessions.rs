//! The portal's sign-ins under way and its sessions, through the same retry as every
//! other read and write of the store (a sign-in may meet Aurora resuming).

use super::Authority;
use crate::store::{PendingLogin, SessionRecord, StoreError};

impl Authority {
    /// Remember a sign-in started at the provider (and forget expired ones).
    pub async fn begin_login(&self, login: &PendingLogin, now: i64) -> Result<(), StoreError> {
        self.with_retry(|| self.store.insert_login(login, now))
            .await
    }

    /// The sign-in that `state` names, used once: a second call finds nothing.
    pub async fn take_login(
        &self,
        state: &str,
        now: i64,
    ) -> Result<Option<PendingLogin>, StoreError> {
        self.with_retry(|| self.store.take_login(state, now)).await
    }

    pub async fn start_portal_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.with_retry(|| self.store.insert_session(session)).await
    }

    /// The live session stored under `id_hash`, if any.
    pub async fn portal_session(
        &self,
        id_hash: &str,
        now: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.with_retry(|| self.store.get_session(id_hash, now))
            .await
    }

    pub async fn end_portal_session(&self, id_hash: &str) -> Result<(), StoreError> {
        self.with_retry(|| self.store.delete_session(id_hash)).await
    }
}
