//! Row types and their conversion to domain records (shared by both drivers).

use crate::keys::{Algorithm, KeyState, StoredKey};

use super::{Result, StoreError};

/// An API (RFC 8707 resource) with the scopes it defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceServerRecord {
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<ScopeDef>,
    /// The owning team; None: admins only.
    pub team: Option<String>,
    /// The tool that owns it (`spec`), or None: the portal and the admin API.
    pub managed_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeDef {
    pub name: String,
    pub description: String,
}

/// A registered client. Secrets are held only as keyed hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRecord {
    pub client_id: String,
    pub name: String,
    /// `client_secret_basic`, `client_secret_post` or `private_key_jwt`.
    pub auth_method: String,
    pub grant_types: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub default_scopes: Vec<String>,
    pub token_ttl_seconds: Option<i64>,
    /// Inline JWKS (JSON) for `private_key_jwt`.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub team: Option<String>,
    /// The tool that owns the registration (`kubernetes:NS/NAME`), if any.
    pub managed_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub secrets: Vec<SecretRecord>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub secret_id: String,
    pub hash: Vec<u8>,
    pub created_at: i64,
}

impl std::fmt::Debug for SecretRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretRecord")
            .field("secret_id", &self.secret_id)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// One row of `clients LEFT JOIN client_secrets`, each column as the driver decoded it.
pub(super) struct ClientRow {
    pub client_id: sqlx::Result<String>,
    pub name: sqlx::Result<String>,
    pub auth_method: sqlx::Result<String>,
    pub grant_types: sqlx::Result<String>,
    pub allowed_scopes: sqlx::Result<String>,
    pub default_scopes: sqlx::Result<String>,
    pub token_ttl_seconds: sqlx::Result<Option<i64>>,
    pub jwks: sqlx::Result<Option<String>>,
    pub jwks_uri: sqlx::Result<Option<String>>,
    pub team: sqlx::Result<Option<String>>,
    pub managed_by: sqlx::Result<Option<String>>,
    pub created_at: sqlx::Result<i64>,
    pub updated_at: sqlx::Result<i64>,
    pub secret_id: sqlx::Result<Option<String>>,
    pub secret_hash: sqlx::Result<Option<Vec<u8>>>,
    pub secret_created_at: sqlx::Result<Option<i64>>,
}

fn list(column: &str, text: String) -> Result<Vec<String>> {
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("column {column} is not a JSON list: {e}")))
}

/// Group joined rows (ordered by client) into clients with their secrets.
pub(super) fn clients_from_rows(
    rows: impl Iterator<Item = ClientRow>,
) -> Result<Vec<ClientRecord>> {
    let mut out: Vec<ClientRecord> = Vec::new();
    for r in rows {
        let client_id = r.client_id?;
        if out.last().is_none_or(|c| c.client_id != client_id) {
            out.push(ClientRecord {
                client_id,
                name: r.name?,
                auth_method: r.auth_method?,
                grant_types: list("grant_types", r.grant_types?)?,
                allowed_scopes: list("allowed_scopes", r.allowed_scopes?)?,
                default_scopes: list("default_scopes", r.default_scopes?)?,
                token_ttl_seconds: r.token_ttl_seconds?,
                jwks: r.jwks?,
                jwks_uri: r.jwks_uri?,
                team: r.team?,
                managed_by: r.managed_by?,
                created_at: r.created_at?,
                updated_at: r.updated_at?,
                secrets: Vec::new(),
            });
        }
        if let (Some(secret_id), Some(hash), Some(created_at)) =
            (r.secret_id?, r.secret_hash?, r.secret_created_at?)
        {
            out.last_mut()
                .expect("pushed above")
                .secrets
                .push(SecretRecord {
                    secret_id,
                    hash,
                    created_at,
                });
        }
    }
    Ok(out)
}

pub(super) fn client_lists(c: &ClientRecord) -> (String, String, String) {
    let j = |v: &Vec<String>| serde_json::to_string(v).expect("serialisable");
    (
        j(&c.grant_types),
        j(&c.allowed_scopes),
        j(&c.default_scopes),
    )
}

#[derive(sqlx::FromRow)]
pub(super) struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    public_jwk: String,
    private_sealed: Vec<u8>,
    created_at: i64,
    activated_at: Option<i64>,
    retired_at: Option<i64>,
    expires_at: Option<i64>,
}

pub(super) fn key_from_row(r: KeyRow) -> Result<StoredKey> {
    Ok(StoredKey {
        alg: r.alg.parse::<Algorithm>().map_err(StoreError::Corrupt)?,
        state: KeyState::parse(&r.state)
            .ok_or_else(|| StoreError::Corrupt(format!("key state `{}`", r.state)))?,
        public_jwk: serde_json::from_str(&r.public_jwk)
            .map_err(|e| StoreError::Corrupt(format!("public_jwk: {e}")))?,
        kid: r.kid,
        private_sealed: r.private_sealed,
        created_at: r.created_at,
        activated_at: r.activated_at,
        retired_at: r.retired_at,
        expires_at: r.expires_at,
    })
}
