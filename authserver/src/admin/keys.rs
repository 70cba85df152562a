//! Signing keys, a fresh database's preparation, and admin clients.

use authdomain_api::{ADMIN_SCOPE, ClientInput, CreatedClient, KeyInfo};

use serde_json::json;

use super::{Actor, AdminError, key_view};
use crate::authority::Authority;

impl Authority {
    /// Every signing key (public data: anyone signed in may read them).
    pub async fn list_keys(&self, _actor: &Actor) -> Result<Vec<KeyInfo>, AdminError> {
        Ok(self
            .with_retry(|| self.store.list_keys())
            .await?
            .iter()
            .map(key_view)
            .collect())
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
    pub async fn prepare(&self) -> Result<(), AdminError> {
        self.with_retry(|| self.store.migrate()).await?;
        self.ensure_keys().await?;
        self.ensure_admin_resource_server().await?;
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
