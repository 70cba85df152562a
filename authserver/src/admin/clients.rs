//! Clients and their secrets (at most two at once, for rotation).

use authdomain_api::{
    Client, ClientAuthMethod, ClientInput, CreatedClient, MAX_SECRETS, NewSecret,
};

use serde_json::json;

use authdomain_api::names::is_client_id;

use super::{Actor, AdminError, client_view, invalid};
use crate::authority::Authority;
use crate::ids::{now, random_id, random_token};
use crate::store::{ClientRecord, SecretRecord};

impl Authority {
    /// Check a registration and what the actor may grant: a team member grants only their
    /// teams' scopes, to a client of one of their teams, and never marks it managed.
    async fn validate_client(
        &self,
        actor: &Actor,
        input: &ClientInput,
        existing: Option<&ClientRecord>,
    ) -> Result<ClientRecord, AdminError> {
        if input.name.trim().is_empty() || input.name.len() > 200 {
            return Err(invalid("name", "expected 1 to 200 characters"));
        }
        if !actor.is_admin() && input.managed_by != existing.and_then(|e| e.managed_by.clone()) {
            return Err(AdminError::Forbidden(
                "`managed_by` is set by admin tools only".into(),
            ));
        }
        if let Some(m) = &input.managed_by
            && (m.is_empty() || m.len() > 300)
        {
            return Err(invalid("managed_by", "expected 1 to 300 characters"));
        }
        let method: ClientAuthMethod = match &input.token_endpoint_auth_method {
            Some(m) => m
                .parse()
                .map_err(|e: String| invalid("token_endpoint_auth_method", e))?,
            None => ClientAuthMethod::default(),
        };
        let catalog = self
            .with_retry(|| self.store.list_resource_servers())
            .await?;
        let known = |s: &str| catalog.iter().any(|r| r.scopes.iter().any(|d| d.name == s));
        let own = actor.own_scopes(&catalog);
        for (i, s) in input.scopes.iter().enumerate() {
            if !known(s) {
                return Err(invalid(
                    format!("scopes[{i}]"),
                    format!("scope `{s}` is not defined by any resource server"),
                ));
            }
            if own.as_ref().is_some_and(|own| !own.contains(s)) {
                return Err(AdminError::Forbidden(format!(
                    "`scopes[{i}]`: scope `{s}` belongs to another team's resource server"
                )));
            }
        }
        let team = match (existing, &input.team) {
            (Some(e), None) if !actor.is_admin() => e.team.clone(),
            _ => actor.owning_team("team", input.team.as_deref())?,
        };
        let defaults = input
            .default_scopes
            .clone()
            .unwrap_or_else(|| input.scopes.clone());
        for (i, s) in defaults.iter().enumerate() {
            if !input.scopes.contains(s) {
                return Err(invalid(
                    format!("default_scopes[{i}]"),
                    format!("`{s}` is not in `scopes`"),
                ));
            }
        }
        if let Some(ttl) = input.token_ttl_seconds
            && !(60..=self.settings.max_token_ttl).contains(&ttl)
        {
            return Err(invalid(
                "token_ttl_seconds",
                format!("expected 60 to {} seconds", self.settings.max_token_ttl),
            ));
        }
        let grant_types = input
            .grant_types
            .clone()
            .unwrap_or_else(|| vec!["client_credentials".into()]);
        if let Some((i, g)) = grant_types
            .iter()
            .enumerate()
            .find(|(_, g)| *g != "client_credentials")
        {
            return Err(invalid(
                format!("grant_types[{i}]"),
                format!("`{g}` is not supported; expected `client_credentials`"),
            ));
        }
        let jwks = match &input.jwks {
            Some(v) => {
                let set: jsonwebtoken::jwk::JwkSet =
                    serde_json::from_value(v.clone()).map_err(|e| {
                        invalid(
                            "jwks",
                            format!("expected a JWKS object with a `keys` array: {e}"),
                        )
                    })?;
                if set.keys.is_empty() {
                    return Err(invalid("jwks", "expected at least one key"));
                }
                if v["keys"]
                    .as_array()
                    .is_some_and(|keys| keys.iter().any(|k| k.get("d").is_some()))
                {
                    return Err(invalid(
                        "jwks",
                        "contains a private key (`d`); register public keys only",
                    ));
                }
                Some(v.to_string())
            }
            None => None,
        };
        if let Some(uri) = &input.jwks_uri {
            // The server will fetch it when anyone presents an assertion: no loopback,
            // private or metadata address, by form and by what the name resolves to.
            // What the name resolved to stays in the log: the answer would let a team
            // member map internal names to addresses.
            self.outbound().check_resolved(uri).await.map_err(|e| {
                tracing::info!(jwks_uri = %uri, refused = %e, "jwks_uri refused");
                invalid("jwks_uri", e.public_message())
            })?;
        }
        if method == ClientAuthMethod::PrivateKeyJwt && jwks.is_none() && input.jwks_uri.is_none() {
            return Err(invalid(
                "jwks",
                "private_key_jwt needs `jwks` or `jwks_uri`",
            ));
        }
        if jwks.is_some() && input.jwks_uri.is_some() {
            return Err(invalid(
                "jwks_uri",
                "give either `jwks` or `jwks_uri`, not both",
            ));
        }
        let client_id = match &input.client_id {
            Some(id) if !is_client_id(id) => {
                return Err(invalid(
                    "client_id",
                    "expected 3 to 128 characters of A-Z a-z 0-9 - _ . ~",
                ));
            }
            Some(id) => id.clone(),
            None => random_id(16),
        };
        let t = now();
        Ok(ClientRecord {
            client_id,
            name: input.name.trim().to_owned(),
            auth_method: method.as_str().to_owned(),
            grant_types,
            allowed_scopes: input.scopes.clone(),
            default_scopes: defaults,
            token_ttl_seconds: input.token_ttl_seconds,
            jwks,
            jwks_uri: input.jwks_uri.clone(),
            team,
            managed_by: input.managed_by.clone(),
            created_at: t,
            updated_at: t,
            secrets: Vec::new(),
        })
    }

    fn new_secret(&self) -> (SecretRecord, String) {
        let secret = random_token(32);
        (
            SecretRecord {
                secret_id: random_id(9),
                hash: self.kek.hash_secret(&secret),
                created_at: now(),
            },
            secret,
        )
    }

    pub async fn create_client(
        &self,
        actor: &Actor,
        input: ClientInput,
    ) -> Result<CreatedClient, AdminError> {
        let mut record = self.validate_client(actor, &input, None).await?;
        let secret = if record.auth_method == "private_key_jwt" {
            None
        } else {
            let (s, plain) = self.new_secret();
            record.secrets.push(s);
            Some(plain)
        };
        self.with_retry(|| self.store.insert_client(&record))
            .await?;
        self.after_change().await;
        tracing::info!(client_id = %record.client_id, name = %record.name, "client created");
        self.audit(
            actor,
            "client.create",
            &record.client_id,
            record.team.as_deref(),
            json!({
                "name": record.name,
                "scopes": record.allowed_scopes,
                "auth_method": record.auth_method,
                "token_ttl_seconds": record.token_ttl_seconds,
                "managed_by": record.managed_by,
                "secret_ids": record.secrets.iter().map(|s| &s.secret_id).collect::<Vec<_>>(),
            }),
        )
        .await;
        Ok(CreatedClient {
            client: client_view(&record),
            client_secret: secret,
        })
    }

    pub async fn list_clients(&self, actor: &Actor) -> Result<Vec<Client>, AdminError> {
        let own = match actor.teams() {
            Some(_) => actor.own_scopes(&self.read_resource_servers().await?),
            None => None,
        };
        Ok(self
            .read_clients()
            .await?
            .iter()
            .filter(|c| actor.can_see_client(c, own.as_ref()))
            .map(client_view)
            .collect())
    }

    /// The stored client, if the actor may see it (403 otherwise, 404 when absent).
    async fn visible_client(
        &self,
        actor: &Actor,
        client_id: &str,
    ) -> Result<ClientRecord, AdminError> {
        let c = self
            .with_retry(|| self.store.get_client(client_id))
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("client `{client_id}` does not exist")))?;
        if actor.teams().is_some() {
            let catalog = self
                .with_retry(|| self.store.list_resource_servers())
                .await?;
            if !actor.can_see_client(&c, actor.own_scopes(&catalog).as_ref()) {
                return Err(AdminError::Forbidden(format!(
                    "client `{client_id}` belongs to another team"
                )));
            }
        }
        Ok(c)
    }

    /// The stored client, if the actor may change it.
    async fn changeable_client(
        &self,
        actor: &Actor,
        client_id: &str,
    ) -> Result<ClientRecord, AdminError> {
        let c = self.visible_client(actor, client_id).await?;
        actor.require_client_change(&c)?;
        Ok(c)
    }

    pub async fn get_client(&self, actor: &Actor, client_id: &str) -> Result<Client, AdminError> {
        let c = self
            .read_client(client_id)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("client `{client_id}` does not exist")))?;
        if actor.teams().is_some()
            && !actor.can_see_client(
                &c,
                actor
                    .own_scopes(&self.read_resource_servers().await?)
                    .as_ref(),
            )
        {
            return Err(AdminError::Forbidden(format!(
                "client `{client_id}` belongs to another team"
            )));
        }
        Ok(client_view(&c))
    }

    /// Take one scope from a client (its resource server no longer defines it).
    pub(crate) async fn strip_scope(&self, client_id: &str, scope: &str) -> Result<(), AdminError> {
        if let Some(mut c) = self.with_retry(|| self.store.get_client(client_id)).await? {
            c.allowed_scopes.retain(|s| s != scope);
            c.default_scopes.retain(|s| s != scope);
            c.updated_at = now();
            self.with_retry(|| self.store.update_client(&c)).await?;
        }
        Ok(())
    }

    /// Replace a client's settings; its id and secrets stay.
    pub async fn update_client(
        &self,
        actor: &Actor,
        client_id: &str,
        input: ClientInput,
    ) -> Result<Client, AdminError> {
        let existing = self.changeable_client(actor, client_id).await?;
        let mut record = self
            .validate_client(
                actor,
                &ClientInput {
                    client_id: Some(client_id.to_owned()),
                    ..input
                },
                Some(&existing),
            )
            .await?;
        record.created_at = existing.created_at;
        record.secrets = existing.secrets;
        if !self
            .with_retry(|| self.store.update_client(&record))
            .await?
        {
            return Err(AdminError::NotFound(format!(
                "client `{client_id}` does not exist"
            )));
        }
        self.after_change().await;
        self.audit(
            actor,
            "client.update",
            client_id,
            record.team.as_deref(),
            json!({
                "name": record.name,
                "scopes": record.allowed_scopes,
                "auth_method": record.auth_method,
                "token_ttl_seconds": record.token_ttl_seconds,
                "managed_by": record.managed_by,
            }),
        )
        .await;
        Ok(client_view(&record))
    }

    pub async fn delete_client(&self, actor: &Actor, client_id: &str) -> Result<(), AdminError> {
        let existing = self.changeable_client(actor, client_id).await?;
        if !self
            .with_retry(|| self.store.delete_client(client_id))
            .await?
        {
            return Err(AdminError::NotFound(format!(
                "client `{client_id}` does not exist"
            )));
        }
        self.after_change().await;
        tracing::info!(client_id, "client deleted");
        self.audit(
            actor,
            "client.delete",
            client_id,
            existing.team.as_deref(),
            json!({ "name": existing.name }),
        )
        .await;
        Ok(())
    }

    /// Add a second secret (rotation step 1); both work until one is revoked.
    pub async fn add_client_secret(
        &self,
        actor: &Actor,
        client_id: &str,
    ) -> Result<NewSecret, AdminError> {
        let client = self.changeable_client(actor, client_id).await?;
        if client.auth_method == "private_key_jwt" {
            return Err(AdminError::Conflict(
                "the client authenticates with private_key_jwt and has no secrets".into(),
            ));
        }
        let (record, plain) = self.new_secret();
        match self
            .with_retry(|| self.store.add_secret(client_id, &record, MAX_SECRETS))
            .await?
        {
            Some(_) => {}
            None => {
                return Err(AdminError::NotFound(format!(
                    "client `{client_id}` does not exist"
                )));
            }
        }
        self.after_change().await;
        tracing::info!(client_id, secret_id = %record.secret_id, "client secret added");
        self.audit(
            actor,
            "client.secret.add",
            client_id,
            client.team.as_deref(),
            json!({ "secret_id": record.secret_id }),
        )
        .await;
        Ok(NewSecret {
            secret_id: record.secret_id,
            client_secret: plain,
            created_at: record.created_at,
        })
    }

    /// Revoke one secret (rotation step 2).
    pub async fn revoke_client_secret(
        &self,
        actor: &Actor,
        client_id: &str,
        secret_id: &str,
    ) -> Result<(), AdminError> {
        let client = self.changeable_client(actor, client_id).await?;
        if !self
            .with_retry(|| self.store.delete_secret(client_id, secret_id))
            .await?
        {
            return Err(AdminError::NotFound(format!(
                "client `{client_id}` has no secret `{secret_id}`"
            )));
        }
        self.after_change().await;
        tracing::info!(client_id, secret_id, "client secret revoked");
        self.audit(
            actor,
            "client.secret.revoke",
            client_id,
            client.team.as_deref(),
            json!({ "secret_id": secret_id }),
        )
        .await;
        Ok(())
    }
}
