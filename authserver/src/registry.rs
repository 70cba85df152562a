//! Managing resource servers, clients, secrets and keys: the operations behind the admin
//! API, the CLI and Lambda management events, with input validation that names the field.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::authority::{Authority, now, random_id, random_token};
use crate::keys::StoredKey;
use crate::store::{ClientRecord, ResourceServerRecord, ScopeDef, SecretRecord, StoreError};

/// The scope that authorises the admin API.
pub const ADMIN_SCOPE: &str = "authdomain:admin";
/// The resource server (audience) of the admin API.
pub const ADMIN_AUDIENCE: &str = "urn:authdomain:admin";
/// A client holds at most this many secrets: the current one and the one being rotated in.
pub const MAX_SECRETS: i64 = 2;
pub const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("`{field}`: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => RegistryError::Conflict(m),
            other => RegistryError::Store(other),
        }
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> RegistryError {
    RegistryError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

// ---- wire types ---------------------------------------------------------------------

/// A scope defined by a resource server.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScopeInput {
    /// Scope name, unique in the domain (for example `orders:read`).
    pub name: String,
    #[serde(default)]
    pub description: String,
}

/// A resource server (an API): the `aud` of tokens carrying its scopes.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceServerInput {
    /// Absolute URI identifying the API (RFC 8707 resource), e.g. `https://api.example.com`.
    pub identifier: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub scopes: Vec<ScopeInput>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ResourceServer {
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<ScopeInput>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A client registration (create or full update).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    /// Optional on create (generated when absent); ignored on update.
    #[serde(default)]
    pub client_id: Option<String>,
    pub name: String,
    /// Scopes the client may request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Scopes granted when the request names none (default: all of `scopes`).
    #[serde(default)]
    pub default_scopes: Option<Vec<String>>,
    /// Access token lifetime in seconds (default: the server's default TTL).
    #[serde(default)]
    pub token_ttl_seconds: Option<i64>,
    /// `client_secret_basic` (default), `client_secret_post` or `private_key_jwt`.
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Public keys for `private_key_jwt` (a JWKS object).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    /// Where to fetch the client's JWKS for `private_key_jwt`.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// `["client_credentials"]` (default) or `[]` for a client that only introspects.
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct SecretInfo {
    pub secret_id: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub default_scopes: Vec<String>,
    pub token_ttl_seconds: Option<i64>,
    pub token_endpoint_auth_method: String,
    pub grant_types: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    pub secrets: Vec<SecretInfo>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A client as returned on creation: the only time its secret is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: Client,
    /// Shown once; only a keyed hash is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewSecret {
    pub secret_id: String,
    /// Shown once.
    pub client_secret: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    /// `next` (published, not yet signing), `active` or `retired` (published until `expires_at`).
    pub state: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub expires_at: Option<i64>,
}

impl From<&StoredKey> for KeyInfo {
    fn from(k: &StoredKey) -> Self {
        KeyInfo {
            kid: k.kid.clone(),
            alg: k.alg.as_str().to_owned(),
            state: k.state.as_str().to_owned(),
            created_at: k.created_at,
            activated_at: k.activated_at,
            expires_at: k.expires_at,
        }
    }
}

fn client_view(c: &ClientRecord) -> Client {
    Client {
        client_id: c.client_id.clone(),
        name: c.name.clone(),
        scopes: c.allowed_scopes.clone(),
        default_scopes: c.default_scopes.clone(),
        token_ttl_seconds: c.token_ttl_seconds,
        token_endpoint_auth_method: c.auth_method.clone(),
        grant_types: c.grant_types.clone(),
        jwks: c.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
        jwks_uri: c.jwks_uri.clone(),
        secrets: c
            .secrets
            .iter()
            .map(|s| SecretInfo {
                secret_id: s.secret_id.clone(),
                created_at: s.created_at,
            })
            .collect(),
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}

fn rs_view(r: &ResourceServerRecord) -> ResourceServer {
    ResourceServer {
        identifier: r.identifier.clone(),
        name: r.name.clone(),
        scopes: r
            .scopes
            .iter()
            .map(|s| ScopeInput {
                name: s.name.clone(),
                description: s.description.clone(),
            })
            .collect(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| matches!(c as u32, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

fn valid_client_id(s: &str) -> bool {
    (3..=128).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~'))
}

fn check_url(field: &str, value: &str) -> Result<(), RegistryError> {
    let u = url::Url::parse(value).map_err(|_| invalid(field, "expected an absolute URL"))?;
    let loopback = matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if u.scheme() != "https" && !(u.scheme() == "http" && loopback) {
        return Err(invalid(
            field,
            "expected an https URL (http only for localhost)",
        ));
    }
    Ok(())
}

impl Authority {
    // ---- resource servers ------------------------------------------------------------

    fn validate_resource_server(input: &ResourceServerInput) -> Result<(), RegistryError> {
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
    ) -> Result<ResourceServer, RegistryError> {
        self.put_resource_server(input, true).await
    }

    /// Create or replace (`create_only` = false) a resource server.
    pub async fn put_resource_server(
        &self,
        input: ResourceServerInput,
        create_only: bool,
    ) -> Result<ResourceServer, RegistryError> {
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

    pub async fn list_resource_servers(&self) -> Result<Vec<ResourceServer>, RegistryError> {
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
    ) -> Result<ResourceServer, RegistryError> {
        self.with_retry(|| self.store.get_resource_server(identifier))
            .await?
            .map(|r| rs_view(&r))
            .ok_or_else(|| {
                RegistryError::NotFound(format!("resource server `{identifier}` does not exist"))
            })
    }

    pub async fn delete_resource_server(&self, identifier: &str) -> Result<(), RegistryError> {
        if identifier == ADMIN_AUDIENCE {
            return Err(RegistryError::Conflict(
                "the admin API's resource server cannot be deleted".into(),
            ));
        }
        if !self
            .with_retry(|| self.store.delete_resource_server(identifier))
            .await?
        {
            return Err(RegistryError::NotFound(format!(
                "resource server `{identifier}` does not exist"
            )));
        }
        self.invalidate();
        Ok(())
    }

    /// Make sure the admin API's resource server exists.
    pub async fn ensure_admin_resource_server(&self) -> Result<(), RegistryError> {
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
            Ok(_) | Err(RegistryError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // ---- clients ---------------------------------------------------------------------

    async fn validate_client(&self, input: &ClientInput) -> Result<ClientRecord, RegistryError> {
        if input.name.trim().is_empty() || input.name.len() > 200 {
            return Err(invalid("name", "expected 1 to 200 characters"));
        }
        let method = input
            .token_endpoint_auth_method
            .clone()
            .unwrap_or_else(|| "client_secret_basic".into());
        if !AUTH_METHODS.contains(&method.as_str()) {
            return Err(invalid(
                "token_endpoint_auth_method",
                format!("expected one of {}", AUTH_METHODS.join(", ")),
            ));
        }
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
        if method == "private_key_jwt" && jwks.is_none() && input.jwks_uri.is_none() {
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
            auth_method: method,
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

    pub async fn create_client(&self, input: ClientInput) -> Result<CreatedClient, RegistryError> {
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

    pub async fn list_clients(&self) -> Result<Vec<Client>, RegistryError> {
        Ok(self
            .with_retry(|| self.store.list_clients())
            .await?
            .iter()
            .map(client_view)
            .collect())
    }

    pub async fn get_client(&self, client_id: &str) -> Result<Client, RegistryError> {
        self.with_retry(|| self.store.get_client(client_id))
            .await?
            .map(|c| client_view(&c))
            .ok_or_else(|| RegistryError::NotFound(format!("client `{client_id}` does not exist")))
    }

    /// Replace a client's settings; its id and secrets stay.
    pub async fn update_client(
        &self,
        client_id: &str,
        input: ClientInput,
    ) -> Result<Client, RegistryError> {
        let existing = self.store.get_client(client_id).await?.ok_or_else(|| {
            RegistryError::NotFound(format!("client `{client_id}` does not exist"))
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
            return Err(RegistryError::NotFound(format!(
                "client `{client_id}` does not exist"
            )));
        }
        self.invalidate();
        Ok(client_view(&record))
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<(), RegistryError> {
        if !self
            .with_retry(|| self.store.delete_client(client_id))
            .await?
        {
            return Err(RegistryError::NotFound(format!(
                "client `{client_id}` does not exist"
            )));
        }
        self.invalidate();
        tracing::info!(client_id, "client deleted");
        Ok(())
    }

    /// Add a second secret (rotation step 1); both work until one is revoked.
    pub async fn add_client_secret(&self, client_id: &str) -> Result<NewSecret, RegistryError> {
        let client = self.get_client(client_id).await?;
        if client.token_endpoint_auth_method == "private_key_jwt" {
            return Err(RegistryError::Conflict(
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
                return Err(RegistryError::NotFound(format!(
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
    ) -> Result<(), RegistryError> {
        if !self
            .with_retry(|| self.store.delete_secret(client_id, secret_id))
            .await?
        {
            return Err(RegistryError::NotFound(format!(
                "client `{client_id}` has no secret `{secret_id}`"
            )));
        }
        self.invalidate();
        tracing::info!(client_id, secret_id, "client secret revoked");
        Ok(())
    }

    // ---- keys ------------------------------------------------------------------------

    pub async fn list_keys(&self) -> Result<Vec<KeyInfo>, RegistryError> {
        Ok(self
            .with_retry(|| self.store.list_keys())
            .await?
            .iter()
            .map(KeyInfo::from)
            .collect())
    }

    /// Rotate signing keys (see [`Authority::rotate_keys`] for `force`).
    pub async fn rotate_signing_keys(&self, force: bool) -> Result<KeyInfo, RegistryError> {
        let active = self.rotate_keys(force).await?;
        tracing::info!(kid = %active.kid, "signing key rotated");
        Ok(KeyInfo::from(&active))
    }

    /// Migrations, keys and the admin resource server: everything a fresh database needs.
    pub async fn prepare(&self) -> Result<(), RegistryError> {
        self.with_retry(|| self.store.migrate()).await?;
        self.ensure_keys().await?;
        self.ensure_admin_resource_server().await?;
        Ok(())
    }

    /// Create a client holding the admin scope.
    pub async fn create_admin_client(&self, name: &str) -> Result<CreatedClient, RegistryError> {
        self.ensure_admin_resource_server().await?;
        self.create_client(ClientInput {
            name: name.to_owned(),
            scopes: vec![ADMIN_SCOPE.into()],
            token_ttl_seconds: Some(900.min(self.settings.max_token_ttl)),
            ..Default::default()
        })
        .await
    }
}
