//! Resource servers (APIs) and their scopes.

use std::collections::BTreeSet;

use authdomain_api::{
    ADMIN_AUDIENCE, ADMIN_SCOPE, ResourceServer, ResourceServerInput, ScopeInput, TEAM_SCOPE_PREFIX,
};
use serde::Serialize;
use serde_json::json;

use authdomain_api::names::{SCOPE_NAME_RULE, is_scope_name};

use super::{Actor, AdminError, Via, invalid, rs_view};
use crate::authority::Authority;
use crate::ids::now;
use crate::store::{ResourceServerRecord, ScopeDef};

/// A scope a change would remove while clients hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HeldScope {
    pub scope: String,
    pub clients: Vec<HeldBy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HeldBy {
    pub client_id: String,
    pub name: String,
}

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
        if input.name.as_ref().is_some_and(|n| n.len() > 200) {
            return Err(invalid("name", "expected at most 200 characters"));
        }
        let mut seen = BTreeSet::new();
        for (i, s) in input.scopes.iter().enumerate() {
            if !is_scope_name(&s.name) {
                return Err(invalid(
                    format!("scopes[{i}].name"),
                    format!("expected {SCOPE_NAME_RULE}"),
                ));
            }
            if s.description.len() > 500 {
                return Err(invalid(
                    format!("scopes[{i}].description"),
                    "expected at most 500 characters",
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
        actor: &Actor,
        input: ResourceServerInput,
    ) -> Result<ResourceServer, AdminError> {
        self.put_resource_server(actor, input, true, false).await
    }

    /// Create or replace (`create_only` = false) a resource server. Removing scopes that
    /// clients hold is refused with [`AdminError::ScopesHeld`] unless `remove_held` is set;
    /// then those scopes are taken from the clients too.
    pub async fn put_resource_server(
        &self,
        actor: &Actor,
        input: ResourceServerInput,
        create_only: bool,
        remove_held: bool,
    ) -> Result<ResourceServer, AdminError> {
        Self::validate_resource_server(&input)?;
        if input.identifier == ADMIN_AUDIENCE && actor.via != Via::Cli && actor.via != Via::Event {
            return Err(AdminError::Forbidden(
                "the admin API's resource server is managed by the auth server itself".into(),
            ));
        }
        let t = now();
        let existing = self
            .with_retry(|| self.store.get_resource_server(&input.identifier))
            .await?;
        if let Some(e) = &existing {
            if create_only {
                return Err(AdminError::Conflict(format!(
                    "resource server `{}` already exists",
                    e.identifier
                )));
            }
            actor.require_resource_server(e)?;
        }
        let existing_owner = existing.as_ref().and_then(|e| e.managed_by.clone());
        if !actor.is_admin() && input.managed_by.is_some() && input.managed_by != existing_owner {
            return Err(AdminError::Forbidden(
                "`managed_by` is set by admin tools only".into(),
            ));
        }
        if let Some(tool) = &existing_owner
            && actor.via == Via::Portal
        {
            return Err(AdminError::Forbidden(format!(
                "resource server `{}` is managed by {tool}: change it there",
                input.identifier
            )));
        }
        if let Some(m) = &input.managed_by
            && (m.is_empty() || m.len() > 300)
        {
            return Err(invalid("managed_by", "expected 1 to 300 characters"));
        }
        // An admin's write says who manages it; a member's keeps what it was.
        let managed_by = if actor.is_admin() {
            input.managed_by.clone()
        } else {
            existing_owner
        };
        let team = match (&existing, &input.team) {
            // A member keeps the API in their team unless they move it to another of theirs.
            (Some(e), None) if !actor.is_admin() => e.team.clone(),
            _ => actor.owning_team("team", input.team.as_deref())?,
        };
        let record = ResourceServerRecord {
            name: input
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| input.identifier.clone()),
            scopes: input
                .scopes
                .iter()
                .map(|s| ScopeDef {
                    name: s.name.clone(),
                    description: s.description.clone(),
                })
                .collect(),
            team,
            managed_by,
            created_at: existing.as_ref().map_or(t, |e| e.created_at),
            updated_at: t,
            identifier: input.identifier,
        };
        let removed: Vec<String> = existing
            .iter()
            .flat_map(|e| e.scopes.iter())
            .filter(|s| !record.scopes.iter().any(|n| n.name == s.name))
            .map(|s| s.name.clone())
            .collect();
        let held = self.held_scopes(&removed).await?;
        if !held.is_empty() && !remove_held {
            return Err(AdminError::ScopesHeld(held));
        }
        self.with_retry(|| self.store.put_resource_server(&record, create_only))
            .await?;
        for h in &held {
            for c in &h.clients {
                self.strip_scope(&c.client_id, &h.scope).await?;
            }
        }
        self.after_change().await;
        let action = if existing.is_some() {
            "resource-server.update"
        } else {
            "resource-server.create"
        };
        self.audit(
            actor,
            action,
            &record.identifier,
            record.team.as_deref(),
            json!({
                "name": record.name,
                "scopes": record.scopes.iter().map(|s| &s.name).collect::<Vec<_>>(),
                "removed_scopes": removed,
                "removed_from_clients": held.iter().map(|h| json!({"scope": h.scope, "clients": h.clients.iter().map(|c| &c.client_id).collect::<Vec<_>>()})).collect::<Vec<_>>(),
            }),
        )
        .await;
        Ok(rs_view(&record))
    }

    /// Which clients hold each of `scopes`.
    pub async fn held_scopes(&self, scopes: &[String]) -> Result<Vec<HeldScope>, AdminError> {
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let clients = self.with_retry(|| self.store.list_clients()).await?;
        Ok(scopes
            .iter()
            .filter_map(|s| {
                let holders: Vec<HeldBy> = clients
                    .iter()
                    .filter(|c| c.allowed_scopes.contains(s))
                    .map(|c| HeldBy {
                        client_id: c.client_id.clone(),
                        name: c.name.clone(),
                    })
                    .collect();
                (!holders.is_empty()).then(|| HeldScope {
                    scope: s.clone(),
                    clients: holders,
                })
            })
            .collect())
    }

    pub async fn list_resource_servers(
        &self,
        actor: &Actor,
    ) -> Result<Vec<ResourceServer>, AdminError> {
        Ok(self
            .read_resource_servers()
            .await?
            .iter()
            .filter(|r| actor.can_see_resource_server(r))
            .map(rs_view)
            .collect())
    }

    pub async fn get_resource_server(
        &self,
        actor: &Actor,
        identifier: &str,
    ) -> Result<ResourceServer, AdminError> {
        let r = self
            .read_resource_servers()
            .await?
            .into_iter()
            .find(|r| r.identifier == identifier)
            .ok_or_else(|| {
                AdminError::NotFound(format!("resource server `{identifier}` does not exist"))
            })?;
        actor.require_resource_server(&r)?;
        Ok(rs_view(&r))
    }

    /// Delete a resource server whose scopes clients may hold: refused naming them
    /// ([`AdminError::ScopesHeld`]) unless `remove_held`, which takes the scopes from those
    /// clients first (management events: `authdomain apply` removing a spec API).
    pub async fn delete_resource_server_held(
        &self,
        actor: &Actor,
        identifier: &str,
        remove_held: bool,
    ) -> Result<(), AdminError> {
        let existing = self.get_resource_server(actor, identifier).await?;
        let scopes: Vec<String> = existing.scopes.iter().map(|s| s.name.clone()).collect();
        let held = self.held_scopes(&scopes).await?;
        if !held.is_empty() && !remove_held {
            return Err(AdminError::ScopesHeld(held));
        }
        for h in &held {
            for c in &h.clients {
                self.strip_scope(&c.client_id, &h.scope).await?;
            }
        }
        self.delete_resource_server(actor, identifier).await
    }

    pub async fn delete_resource_server(
        &self,
        actor: &Actor,
        identifier: &str,
    ) -> Result<(), AdminError> {
        if identifier == ADMIN_AUDIENCE {
            return Err(AdminError::Conflict(
                "the admin API's resource server cannot be deleted".into(),
            ));
        }
        let existing = self.get_resource_server(actor, identifier).await?;
        if let Some(tool) = &existing.managed_by
            && actor.via == Via::Portal
        {
            return Err(AdminError::Forbidden(format!(
                "resource server `{identifier}` is managed by {tool}: change it there"
            )));
        }
        if !self
            .with_retry(|| self.store.delete_resource_server(identifier))
            .await?
        {
            return Err(AdminError::NotFound(format!(
                "resource server `{identifier}` does not exist"
            )));
        }
        self.after_change().await;
        self.audit(
            actor,
            "resource-server.delete",
            identifier,
            existing.team.as_deref(),
            json!({ "name": existing.name }),
        )
        .await;
        Ok(())
    }

    /// Make sure the admin API's resource server exists, with the admin scope and one
    /// `authdomain:team:NAME` scope per configured team.
    pub async fn ensure_admin_resource_server(&self) -> Result<(), AdminError> {
        let mut scopes = vec![ScopeInput {
            name: ADMIN_SCOPE.into(),
            description: "Manage clients, resource servers and keys".into(),
        }];
        for team in self.settings.teams() {
            scopes.push(ScopeInput {
                name: format!("{TEAM_SCOPE_PREFIX}{team}"),
                description: format!("Manage team `{team}`'s resource servers and clients"),
            });
        }
        let existing = self
            .with_retry(|| self.store.get_resource_server(ADMIN_AUDIENCE))
            .await?;
        if let Some(e) = &existing
            && scopes
                .iter()
                .all(|s| e.scopes.iter().any(|d| d.name == s.name))
        {
            return Ok(());
        }
        // Keep team scopes of teams no longer configured: clients may hold them.
        if let Some(e) = &existing {
            for d in &e.scopes {
                if !scopes.iter().any(|s| s.name == d.name) {
                    scopes.push(ScopeInput {
                        name: d.name.clone(),
                        description: d.description.clone(),
                    });
                }
            }
        }
        let input = ResourceServerInput {
            identifier: ADMIN_AUDIENCE.into(),
            name: Some("AuthDomain admin API".into()),
            scopes,
            team: None,
            managed_by: None,
        };
        let system = Actor::system(Via::Cli, "authserver");
        match self
            .put_resource_server(&system, input, existing.is_none(), false)
            .await
        {
            Ok(_) | Err(AdminError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
