//! The auth server's admin API as types: what it accepts and what it answers, over HTTP
//! (`/admin/v1`) and as Lambda management events. Pure data, shared by the server (which
//! validates and stores), the provisioner (which seeds a domain's resource servers and
//! clients) and the operator (which registers `OAuthClient`s). No I/O, no async.

mod events;
pub mod names;

pub use events::{EVENT_KEY, ManagementEvent};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The scope that authorises the admin API.
pub const ADMIN_SCOPE: &str = "authdomain:admin";
/// The resource server (audience) of the admin API.
pub const ADMIN_AUDIENCE: &str = "urn:authdomain:admin";
/// A client holds at most this many secrets: the current one and the one being rotated in.
pub const MAX_SECRETS: i64 = 2;

// The one list of methods the spec, the `OAuthClient` CRD and the server's validation
// share. The doc comment below is the CRD's description of the field.
/// How the client authenticates at the token endpoint.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

impl ClientAuthMethod {
    pub const ALL: [ClientAuthMethod; 3] = [
        ClientAuthMethod::ClientSecretBasic,
        ClientAuthMethod::ClientSecretPost,
        ClientAuthMethod::PrivateKeyJwt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ClientAuthMethod::ClientSecretBasic => "client_secret_basic",
            ClientAuthMethod::ClientSecretPost => "client_secret_post",
            ClientAuthMethod::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Whether the method presents a shared secret (and so the client gets one).
    pub fn uses_secret(self) -> bool {
        self != ClientAuthMethod::PrivateKeyJwt
    }
}

impl std::fmt::Display for ClientAuthMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ClientAuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ClientAuthMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "expected one of {}",
                    ClientAuthMethod::ALL
                        .map(ClientAuthMethod::as_str)
                        .join(", ")
                )
            })
    }
}

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
    /// The team that owns the API (see the portal's teams). Its members manage the API's
    /// scopes and the clients that receive them. None: only admins manage it. A team
    /// member's create defaults to their team when they are in exactly one.
    #[serde(default)]
    pub team: Option<String>,
    /// Set by a tool that owns the registration (`spec` for the resource servers of an
    /// `AuthDomain`'s `spec.resourceServers`): the portal shows it as managed there and
    /// read-only. Only admin callers may set or change it.
    #[serde(default)]
    pub managed_by: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct ResourceServer {
    pub identifier: String,
    pub name: String,
    pub scopes: Vec<ScopeInput>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub managed_by: Option<String>,
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
    /// `client_secret_basic` (default), `client_secret_post` or `private_key_jwt`. A string
    /// rather than [`ClientAuthMethod`] so that a wrong value is answered 422 naming the
    /// field, like every other invalid value, not a bare deserialisation error.
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
    /// The team that owns the client (default: the caller's team when it has one).
    #[serde(default)]
    pub team: Option<String>,
    /// Set by a tool that owns the registration (the Kubernetes operator sets
    /// `kubernetes:NAMESPACE/NAME`, `authdomain apply` sets `spec`): the portal shows the
    /// client as managed there and read-only. Only admin callers may set or change it.
    #[serde(default)]
    pub managed_by: Option<String>,
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
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub managed_by: Option<String>,
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

/// A token to revoke (the admin API's `POST /admin/v1/revocations`): one of this
/// server's access tokens, whoever it was issued to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct RevocationInput {
    pub token: String,
}

/// A revoked token: introspection reports it inactive until it expires.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct Revocation {
    pub jti: String,
    pub client_id: String,
    pub expires_at: i64,
}

/// Scopes of the admin audience of this form authorise the admin API for one team's
/// resource servers and clients: `authdomain:team:payments`.
pub const TEAM_SCOPE_PREFIX: &str = "authdomain:team:";

/// One recorded change: who did what to which object, when and from where. Never holds a
/// secret (a secret is named by its `secret_id` only).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// Who: a signed-in person (`alice@example.com`), an API client (`client:ID`) or a
    /// local tool (`cli`, `management-event`).
    pub actor: String,
    /// `admin` or `team` (the actor's role when it acted) or `system`.
    pub role: String,
    /// `portal`, `api`, `cli` or `event`.
    pub via: String,
    /// For example `client.create`, `client.secret.add`, `resource-server.update`,
    /// `key.rotate`.
    pub action: String,
    /// The object: a client id, a resource server identifier or a key id.
    pub target: String,
    /// The owning team of the object, when it has one.
    pub team: Option<String>,
    /// The caller's address, when known.
    pub source: Option<String>,
    /// What changed (never a secret).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_methods_round_trip_by_their_rfc_7591_names() {
        for m in ClientAuthMethod::ALL {
            assert_eq!(m.as_str().parse::<ClientAuthMethod>(), Ok(m));
            assert_eq!(
                serde_json::to_value(m).unwrap(),
                serde_json::json!(m.as_str())
            );
        }
        let e = "basic".parse::<ClientAuthMethod>().unwrap_err();
        assert!(e.contains("client_secret_basic, client_secret_post, private_key_jwt"));
    }
}
