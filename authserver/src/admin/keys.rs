//! Signing keys, a fresh database's preparation, and admin clients.

use authdomain_api::{ADMIN_SCOPE, ClientInput, CreatedClient, KeyInfo};

use serde_json::json;

use super::{Actor, AdminError, key_view};
use crate::authority::Authority;

impl Authority {
    /// Every signing key (public data: anyone signed in may read them).
    pub async fn list_keys(&self, _actor: &Actor) -> Result<Vec<KeyInfo>, AdminError> {
        Ok(self.read_keys().await?.iter().map(key_view).collect())
    }

    /// Where the read model's publication stands.
    pub async fn read_model(
        &self,
        actor: &Actor,
    ) -> Result<crate::authority::ReadModelStatus, AdminError> {
        actor.require_admin("reading the read model's publication")?;
        Ok(self.read_model_status().await?)
    }

    /// Rotate signing keys (see [`Authority::rotate_keys`] for `force`).
    pub async fn rotate_signing_keys(
        &self,
        actor: &Actor,
        force: bool,
    ) -> Result<KeyInfo, AdminError> {
        actor.require_admin("rotating the signing keys")?;
        let active = self.rotate_keys(force).await?;
        tracing::info!(kid = %active.kid, "signing key rotated");
        self.audit(
            actor,
            "key.rotate",
            &active.kid,
            None,
            json!({ "alg": active.alg.as_str(), "forced": force }),
        )
        .await;
        Ok(key_view(&active))
    }

    /// Migrations, keys and the admin resource server: everything a fresh database needs.
    /// Migrate, make sure the signing keys and the admin API's resource server exist, and
    /// publish the read model when it is behind (so a new domain has one to serve from).
    pub async fn prepare(&self) -> Result<(), AdminError> {
        self.with_retry(|| self.store.migrate()).await?;
        self.ensure_keys().await?;
        self.ensure_admin_resource_server().await?;
        self.publish_if_behind().await.map_err(|e| {
            AdminError::Unavailable(format!("the read model could not be published: {e}"))
        })?;
        Ok(())
    }

    /// Create a client holding the admin scope.
    pub async fn create_admin_client(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<CreatedClient, AdminError> {
        actor.require_admin("creating an admin client")?;
        self.ensure_admin_resource_server().await?;
        self.create_client(
            actor,
            ClientInput {
                name: name.to_owned(),
                scopes: vec![ADMIN_SCOPE.into()],
                token_ttl_seconds: Some(900.min(self.settings.max_token_ttl)),
                ..Default::default()
            },
        )
        .await
    }
}
