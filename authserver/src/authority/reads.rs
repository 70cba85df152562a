//! What the admin API's reads see: the database, or, with a read model, the read model as
//! S3 has it now (one conditional GET). A read through the admin API then never wakes the
//! database, and still sees a change another instance has just published (S3 reads after
//! a write are strongly consistent). The reads that precede a write (the current record of
//! an update) always come from the database.

use std::sync::Arc;

use super::{Authority, read_model_as_store};
use crate::keys::StoredKey;
use crate::store::{ClientRecord, ResourceServerRecord, StoreError};

impl Authority {
    /// The current registrations for a read, when they come from the read model.
    async fn admin_view(&self) -> Result<Option<Arc<crate::read_model::View>>, StoreError> {
        match &self.published {
            Some(p) => p.fresh_view().await.map(Some).map_err(read_model_as_store),
            None => Ok(None),
        }
    }

    /// Every client, oldest first.
    pub(crate) async fn read_clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        match self.admin_view().await? {
            Some(v) => Ok(v.clients_sorted().iter().map(|c| (**c).clone()).collect()),
            None => self.with_retry(|| self.store.list_clients()).await,
        }
    }

    pub(crate) async fn read_client(&self, id: &str) -> Result<Option<ClientRecord>, StoreError> {
        match self.admin_view().await? {
            Some(v) => Ok(v.clients.get(id).map(|c| (**c).clone())),
            None => self.with_retry(|| self.store.get_client(id)).await,
        }
    }

    pub(crate) async fn read_resource_servers(
        &self,
    ) -> Result<Vec<ResourceServerRecord>, StoreError> {
        match self.admin_view().await? {
            Some(v) => Ok(v.resource_servers.clone()),
            None => self.with_retry(|| self.store.list_resource_servers()).await,
        }
    }

    pub(crate) async fn read_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        match self.admin_view().await? {
            Some(v) => Ok(v.keys.clone()),
            None => self.with_retry(|| self.store.list_keys()).await,
        }
    }
}
