//! Clients and their secrets (at most two at once, for rotation).

use authdomain_api::{
    Client, ClientAuthMethod, ClientInput, CreatedClient, MAX_SECRETS, NewSecret,
};

use super::{AdminError, check_url, client_view, invalid, valid_client_id};
use crate::authority::Authority;
use crate::ids::{now, random_id, random_token};
use crate::store::{ClientRecord, SecretRecord};

impl Authority {
    async fn validate_client(&self, input: &ClientInput) -> Result<ClientRecord, AdminError> {
        if input.name.trim().is_empty() || input.name.len() > 200 {
            return Err(invalid("name", "expected 1 to 200 characters"));
        }
        let method: ClientAuthMethod = match &input.token_endpoint_auth_method {
            Some(m) => m
                .parse()
                .map_err(|e: String| invalid("token_endpoint_auth_method", e))?,
            None => ClientAuthMethod::default(),
        };
        let catalog = self.store.list_resource_servers().await?;
        let known = |s: &str| catalog.iter().any(|r| r.scopes.iter().any(|d| d.name == s));
        for (i, s) in input.scopes.iter().enumerate() {
            if !known(s) {
                return Err(invalid(
                    format!("scopes[{i}]"),
                    format!("scope `{s}` is not defined by any resource server"),
                ));
            }
        }
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
            check_url("jwks_uri", uri)?;
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
            Some(id) if !valid_client_id(id) => {
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

    pub async fn create_client(&self, input: ClientInput) -> Result<CreatedClient, AdminError> {
        let mut record = self.validate_client(&input).await?;
        let secret = if record.auth_method == "private_key_jwt" {
            None
        } else {
            let (s, plain) = self.new_secret();
            record.secrets.push(s);
            Some(plain)
        };
        self.with_retry(|| self.store.insert_client(&record))
            .await?;
        tracing::info!(client_id = %record.client_id, name = %record.name, "client created");
        Ok(CreatedClient {
            client: client_view(&record),
            client_secret: secret,
        })
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, AdminError> {
        Ok(self
            .with_retry(|| self.store.list_clients())
            .await?
            .iter()
            .map(client_view)
            .collect())
    }

    pub async fn get_client(&self, client_id: &str) -> Result<Client, AdminError> {
        self.with_retry(|| self.store.get_client(client_id))
            .await?
            .map(|c| client_view(&c))
            .ok_or_else(|| AdminError::NotFound(format!("client `{client_id}` does not exist")))
    }

    /// Replace a client's settings; its id and secrets stay.
    pub async fn update_client(
        &self,
        client_id: &str,
        input: ClientInput,
    ) -> Result<Client, AdminError> {
        let existing =
            self.store.get_client(client_id).await?.ok_or_else(|| {
                AdminError::NotFound(format!("client `{client_id}` does not exist"))
            })?;
        let mut record = self
            .validate_client(&ClientInput {
                client_id: Some(client_id.to_owned()),
                ..input
            })
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
        self.invalidate();
        Ok(client_view(&record))
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<(), AdminError> {
        if !self
            .with_retry(|| self.store.delete_client(client_id))
            .await?
        {
            return Err(AdminError::NotFound(format!(
                "client `{client_id}` does not exist"
            )));
        }
        self.invalidate();
        tracing::info!(client_id, "client deleted");
        Ok(())
    }

    /// Add a second secret (rotation step 1); both work until one is revoked.
    pub async fn add_client_secret(&self, client_id: &str) -> Result<NewSecret, AdminError> {
        let client = self.get_client(client_id).await?;
        if client.token_endpoint_auth_method == "private_key_jwt" {
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
        self.invalidate();
        tracing::info!(client_id, secret_id = %record.secret_id, "client secret added");
        Ok(NewSecret {
            secret_id: record.secret_id,
            client_secret: plain,
            created_at: record.created_at,
        })
    }

    /// Revoke one secret (rotation step 2).
    pub async fn revoke_client_secret(
        &self,
        client_id: &str,
        secret_id: &str,
    ) -> Result<(), AdminError> {
        if !self
            .with_retry(|| self.store.delete_secret(client_id, secret_id))
            .await?
        {
            return Err(AdminError::NotFound(format!(
                "client `{client_id}` has no secret `{secret_id}`"
            )));
        }
        self.invalidate();
        tracing::info!(client_id, secret_id, "client secret revoked");
        Ok(())
    }
}
