//! Resource servers (APIs) and their scopes.

use authdomain_api::{
    ADMIN_AUDIENCE, ADMIN_SCOPE, ResourceServer, ResourceServerInput, ScopeInput,
};

use super::{AdminError, invalid, is_scope_token, rs_view};
use crate::authority::Authority;
use crate::ids::now;
use crate::store::{ResourceServerRecord, ScopeDef};

impl Authority {
    fn validate_resource_server(input: &ResourceServerInput) -> Result<(), AdminError> {
        match url::Url::parse(&input.identifier) {
            Ok(u) if u.fragment().is_none() => {}
            _ => {
                return Err(invalid(
                    "identifier",
                    "expected an absolute URI without a fragment (RFC 8707)",
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in input.scopes.iter().enumerate() {
            if !is_scope_token(&s.name) {
                return Err(invalid(
                    format!("scopes[{i}].name"),
                    "expected a non-empty scope token (printable ASCII without space, `\"` or `\\`)",
                ));
            }
            if !seen.insert(&s.name) {
                return Err(invalid(
                    format!("scopes[{i}].name"),
                    format!("scope `{}` is listed twice", s.name),
                ));
            }
        }
        Ok(())
    }

    pub async fn create_resource_server(
        &self,
        input: ResourceServerInput,
    ) -> Result<ResourceServer, AdminError> {
        self.put_resource_server(input, true).await
    }

    /// Create or replace (`create_only` = false) a resource server.
    pub async fn put_resource_server(
        &self,
        input: ResourceServerInput,
        create_only: bool,
    ) -> Result<ResourceServer, AdminError> {
        Self::validate_resource_server(&input)?;
        let t = now();
        let existing = self.store.get_resource_server(&input.identifier).await?;
        let record = ResourceServerRecord {
            name: input
                .name
                .clone()
                .unwrap_or_else(|| input.identifier.clone()),
            scopes: input
                .scopes
                .iter()
                .map(|s| ScopeDef {
                    name: s.name.clone(),
                    description: s.description.clone(),
                })
                .collect(),
            created_at: existing.as_ref().map_or(t, |e| e.created_at),
            updated_at: t,
            identifier: input.identifier,
        };
        self.with_retry(|| self.store.put_resource_server(&record, create_only))
            .await?;
        self.invalidate();
        Ok(rs_view(&record))
    }

    pub async fn list_resource_servers(&self) -> Result<Vec<ResourceServer>, AdminError> {
        Ok(self
            .with_retry(|| self.store.list_resource_servers())
            .await?
            .iter()
            .map(rs_view)
            .collect())
    }

    pub async fn get_resource_server(
        &self,
        identifier: &str,
    ) -> Result<ResourceServer, AdminError> {
        self.with_retry(|| self.store.get_resource_server(identifier))
            .await?
            .map(|r| rs_view(&r))
            .ok_or_else(|| {
                AdminError::NotFound(format!("resource server `{identifier}` does not exist"))
            })
    }

    pub async fn delete_resource_server(&self, identifier: &str) -> Result<(), AdminError> {
        if identifier == ADMIN_AUDIENCE {
            return Err(AdminError::Conflict(
                "the admin API's resource server cannot be deleted".into(),
            ));
        }
        if !self
            .with_retry(|| self.store.delete_resource_server(identifier))
            .await?
        {
            return Err(AdminError::NotFound(format!(
                "resource server `{identifier}` does not exist"
            )));
        }
        self.invalidate();
        Ok(())
    }

    /// Make sure the admin API's resource server exists.
    pub async fn ensure_admin_resource_server(&self) -> Result<(), AdminError> {
        if self
            .store
            .get_resource_server(ADMIN_AUDIENCE)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let input = ResourceServerInput {
            identifier: ADMIN_AUDIENCE.into(),
            name: Some("AuthDomain admin API".into()),
            scopes: vec![ScopeInput {
                name: ADMIN_SCOPE.into(),
                description: "Manage clients, resource servers and keys".into(),
            }],
        };
        match self.put_resource_server(input, true).await {
            Ok(_) | Err(AdminError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
