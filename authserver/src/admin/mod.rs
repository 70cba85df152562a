//! Administration: every change to resource servers, clients, client secrets and signing
//! keys, validated with errors that name the field. The admin API (`http::admin`), the
//! CLI and Lambda management events (`events`) are its only callers, so validation and
//! cache invalidation happen here once.

pub mod access;
mod audit;
mod clients;
pub mod events;
mod keys;
mod resource_servers;
mod tokens;

pub use access::{Actor, Role, Via};
pub use resource_servers::{HeldBy, HeldScope};

use authdomain_api::{Client, KeyInfo, ResourceServer, ScopeInput, SecretInfo};

use crate::keys::StoredKey;
use crate::store::{ClientRecord, ResourceServerRecord, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("`{field}`: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The caller may not see or change this (another team's object, an admin action).
    #[error("{0}")]
    Forbidden(String),
    /// Removing scopes that clients hold needs the caller's confirmation.
    #[error("{}", held_message(.0))]
    ScopesHeld(Vec<HeldScope>),
    #[error(transparent)]
    Store(StoreError),
    /// Something the change depends on besides the database is unavailable (publishing
    /// the read model); retrying later helps.
    #[error("{0}")]
    Unavailable(String),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => AdminError::Conflict(m),
            other => AdminError::Store(other),
        }
    }
}

fn held_message(held: &[HeldScope]) -> String {
    let parts: Vec<String> = held
        .iter()
        .map(|h| {
            format!(
                "`{}` is held by {}",
                h.scope,
                h.clients
                    .iter()
                    .map(|c| format!("`{}` ({})", c.client_id, c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
        .collect();
    format!(
        "removing scopes that clients hold: {}; confirm to remove them from those clients too",
        parts.join("; ")
    )
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

pub(crate) fn key_view(k: &StoredKey) -> KeyInfo {
    KeyInfo {
        kid: k.kid.clone(),
        alg: k.alg.as_str().to_owned(),
        state: k.state.as_str().to_owned(),
        created_at: k.created_at,
        activated_at: k.activated_at,
        expires_at: k.expires_at,
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
        team: c.team.clone(),
        managed_by: c.managed_by.clone(),
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
        team: r.team.clone(),
        managed_by: r.managed_by.clone(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}
