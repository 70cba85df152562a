//! The `AuthDomain` spec: typed (serde + schemars, so the operator serves the same type as
//! a CRD), defaulted, validated, and loaded from YAML with every error located. Pure: no
//! AWS, no I/O beyond what the caller hands in.

mod load;
mod locate;
mod schema_check;
mod validate;

pub use load::{Diagnostic, Diagnostics, load_str, load_str_for_aws, to_yaml};
pub use validate::{Issue, deploy_issues, validate};

use std::collections::BTreeMap;

pub use authdomain_api::ClientAuthMethod;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const API_VERSION: &str = "authdomain.io/v1alpha1";
pub const KIND: &str = "AuthDomain";

/// A whole `AuthDomain` manifest as written in a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthDomainManifest {
    /// `authdomain.io/v1alpha1`
    pub api_version: String,
    /// `AuthDomain`
    pub kind: String,
    pub metadata: Metadata,
    pub spec: AuthDomainSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// The domain's name: lowercase letters, digits and `-`, at most 32 characters. It
    /// prefixes every AWS resource name and is the value of the `authdomain.io/domain` tag.
    pub name: String,
    /// Accepted (and ignored) so Kubernetes manifests can be applied by the CLI too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// The desired state of one authorization server deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthDomainSpec {
    /// AWS region, e.g. `eu-west-1`.
    #[schemars(length(min = 1, max = 32))]
    pub region: String,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub database: Database,
    #[serde(default)]
    pub image: Image,
    #[serde(default)]
    pub function: Function,
    #[serde(default)]
    pub api: Api,
    #[serde(default)]
    pub tokens: Tokens,
    /// APIs (RFC 8707 resources) and their scopes, created on the auth server.
    #[serde(default)]
    pub resource_servers: Vec<ResourceServer>,
    /// Clients to register on the auth server.
    #[serde(default)]
    pub clients: Vec<Client>,
    /// Existing API Gateway HTTP APIs of the domain's teams that accept only this domain's
    /// tokens: an authorizer is attached to the listed routes, nothing else of the API is
    /// touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_apis: Vec<ProtectedApi>,
    /// The Lambda authorizer function that `mode: lambda` APIs share.
    #[serde(default, skip_serializing_if = "AuthorizerFunction::is_default")]
    pub authorizer: AuthorizerFunction,
    /// Extra tags for every AWS resource (the `authdomain.io/` prefix is reserved).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// What `destroy` (or deleting the Kubernetes resource) does with the AWS side.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// How the Kubernetes operator manages this domain; the CLI ignores it.
    #[serde(default, skip_serializing_if = "OperatorSettings::is_default")]
    pub operator: OperatorSettings,
    /// The self-serve portal (`/portal`): people sign in with the company's OpenID
    /// Connect provider and manage their teams' APIs and clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal: Option<Portal>,
}

/// The portal's sign-in: the portal is a confidential client of this provider (register
/// `<issuer>/portal/callback` as its redirect URI there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Portal {
    /// The provider's issuer, exactly as its discovery document says (for example
    /// `https://login.microsoftonline.com/TENANT/v2.0`).
    pub issuer: String,
    /// The portal's client id at the provider.
    pub client_id: String,
    /// Where the portal's client secret is.
    pub client_secret: SecretRef,
    /// The ID token claim listing a person's groups.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Members of these groups are admins: they see and manage everything.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub admin_groups: Vec<String>,
    /// Teams and the groups whose members form them. A team owns the resource servers
    /// and clients that name it (`team:`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub teams: BTreeMap<String, Vec<String>>,
    /// Scopes to request (default `openid profile email`); add the one that releases the
    /// groups claim if the provider needs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// How long a session lasts, in minutes (5 to 1,440; default 480).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 1440))]
    pub session_minutes: Option<u32>,
    /// The provider's name on the sign-in button (default: the issuer's host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_name: Option<String>,
}

fn default_groups_claim() -> String {
    "groups".into()
}

/// A secret by reference: a Secrets Manager secret (on AWS; the function reads it at
/// start with its role) or a file (`authdomain dev` and plain servers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// The secret's ARN (`arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-xxxxxx`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets_manager: Option<String>,
    /// A file holding the secret, relative to the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

/// Settings the Kubernetes operator reads (`authdomain` on the command line ignores them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OperatorSettings {
    /// What a periodic drift check does when AWS no longer matches the spec: `Report`
    /// (default: the `Drifted` condition and an event) or `Correct` (apply).
    #[serde(default)]
    pub drift_policy: DriftPolicy,
    /// Minutes between drift checks (5 to 1,440; default: the operator's
    /// `--drift-interval`). Each check is jittered by up to 10%.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 1440))]
    pub drift_check_minutes: Option<u32>,
    /// A Secret in the operator's namespace with `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) for this domain's account.
    /// Without it, the operator's own credentials (IRSA, the pod's environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_credentials_secret: Option<String>,
    /// Which namespaces' `OAuthClient`s may request which scopes. Nothing is allowed
    /// unless listed here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_access: Vec<ClientAccess>,
}

impl OperatorSettings {
    pub fn is_default(&self) -> bool {
        *self == OperatorSettings::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum DriftPolicy {
    #[default]
    Report,
    Correct,
}

/// A grant: `OAuthClient`s in these namespaces may request these scopes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientAccess {
    /// Namespace names; `*` for every namespace.
    pub namespaces: Vec<String>,
    /// Scope names of the domain; a trailing `*` matches a prefix (`orders:*`), `*` all.
    pub scopes: Vec<String>,
}

impl ClientAccess {
    fn matches_namespace(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|n| n == "*" || n == namespace)
    }
    fn matches_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => scope.starts_with(prefix),
            None => p == scope,
        })
    }
}

impl AuthDomainSpec {
    /// The scopes of `wanted` that clients in `namespace` may not have (empty: allowed).
    pub fn forbidden_scopes<'a>(&self, namespace: &str, wanted: &'a [String]) -> Vec<&'a str> {
        wanted
            .iter()
            .filter(|s| {
                !self
                    .operator
                    .client_access
                    .iter()
                    .any(|a| a.matches_namespace(namespace) && a.matches_scope(s))
            })
            .map(String::as_str)
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Network {
    /// IPv4 CIDR of the VPC, prefix /16 to /20.
    #[serde(default = "defaults::cidr")]
    #[schemars(length(max = 18))]
    pub cidr: String,
    /// Availability zones to spread subnets over (2 to 6; Aurora needs 2).
    #[serde(default = "defaults::availability_zones")]
    #[schemars(range(min = 2, max = 6))]
    pub availability_zones: u8,
    /// NAT gateways: `none` (default: nothing in the function needs the internet), `single`
    /// or `perAz`. A NAT gateway costs about $32 a month idle.
    #[serde(default)]
    pub nat_gateway: NatGateway,
    /// Zone IDs (`use1-az2`) never to use, besides those AWS reports unusable and those
    /// where Lambda cannot run VPC functions. Zones are chosen by ID (the same physical
    /// zone in every account), lowest first, and kept once subnets exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_zone_ids: Vec<String>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            cidr: defaults::cidr(),
            availability_zones: defaults::availability_zones(),
            nat_gateway: NatGateway::default(),
            exclude_zone_ids: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NatGateway {
    #[default]
    None,
    Single,
    PerAz,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Database {
    /// Aurora PostgreSQL engine version; scaling to zero needs 13.15, 14.12, 15.7, 16.3 or later.
    #[serde(default = "defaults::engine_version")]
    pub engine_version: String,
    /// Minimum Aurora capacity units, 0 to 256 in steps of 0.5; 0 pauses the database when idle.
    #[serde(default)]
    #[schemars(range(min = 0, max = 256))]
    pub min_capacity: f64,
    /// Maximum capacity units, 1 to 256 in steps of 0.5, at least `minCapacity`.
    #[serde(default = "defaults::max_capacity")]
    #[schemars(range(min = 1, max = 256))]
    pub max_capacity: f64,
    /// Idle seconds before pausing (300 to 86,400); only with `minCapacity: 0`.
    #[serde(default = "defaults::seconds_until_auto_pause")]
    #[schemars(range(min = 300, max = 86400))]
    pub seconds_until_auto_pause: u32,
    /// Reader instances besides the writer (0 to 15).
    #[serde(default)]
    #[schemars(range(max = 15))]
    pub readers: u8,
    #[serde(default = "defaults::yes")]
    pub deletion_protection: bool,
    /// Take a final snapshot when the cluster is destroyed.
    #[serde(default = "defaults::yes")]
    pub final_snapshot: bool,
    /// GiB of data you expect the cluster to hold (more than 0, at most 128,000; default
    /// 1). Used only by the cost estimate (`authdomain cost`, the summary of `plan`):
    /// Aurora bills the storage used, which nothing here sets.
    #[serde(
        rename = "expectedStorageGiB",
        default = "defaults::expected_storage_gib"
    )]
    #[schemars(range(min = 0, max = 128000))]
    pub expected_storage_gib: f64,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            engine_version: defaults::engine_version(),
            min_capacity: 0.0,
            max_capacity: defaults::max_capacity(),
            seconds_until_auto_pause: defaults::seconds_until_auto_pause(),
            readers: 0,
            deletion_protection: true,
            final_snapshot: true,
            expected_storage_gib: defaults::expected_storage_gib(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    /// ECR repository name (default: `<domain>-authserver`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// CPU architecture of the image and of the Lambda function.
    #[serde(default)]
    pub architecture: Architecture,
    /// Tag to deploy (resolved to a digest before deploying) ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub tag: Option<String>,
    /// ... or an exact digest (`sha256:…`). Neither: `bootstrap` builds and pushes the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 71))]
    pub digest: Option<String>,
    /// How many images the repository keeps (1 to 1,000, default 10): an ECR lifecycle
    /// rule expires older ones. The image the function runs is pinned by digest; keep
    /// enough to roll back.
    #[serde(default = "defaults::keep_images")]
    #[schemars(range(min = 1, max = 1000))]
    pub keep_images: u32,
}

impl Default for Image {
    fn default() -> Self {
        Image {
            repository: None,
            architecture: Architecture::default(),
            tag: None,
            digest: None,
            keep_images: defaults::keep_images(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Architecture {
    #[default]
    #[serde(rename = "arm64")]
    Arm64,
    #[serde(rename = "x86_64")]
    X86_64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Function {
    /// Memory in MB (128 to 10,240); CPU grows with it.
    #[serde(default = "defaults::memory")]
    #[schemars(range(min = 128, max = 10240))]
    pub memory: u32,
    /// Seconds (1 to 900). 29 s covers Aurora resuming from pause (about 15 s, 30 s after a
    /// day) inside API Gateway's 30 s integration limit.
    #[serde(default = "defaults::timeout")]
    #[schemars(range(min = 1, max = 900))]
    pub timeout: u32,
    /// Reserved concurrency (0 to 1,000); unset: the account's unreserved pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 1000))]
    pub reserved_concurrency: Option<u32>,
}

impl Default for Function {
    fn default() -> Self {
        Function {
            memory: defaults::memory(),
            timeout: defaults::timeout(),
            reserved_concurrency: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Api {
    /// Stage name; `$default` serves at the API's root URL.
    #[serde(default = "defaults::stage")]
    pub stage: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            stage: defaults::stage(),
            cors: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cors {
    /// Origins (`https://app.example.com`) or `*`.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    #[serde(default)]
    pub allow_methods: Vec<String>,
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Seconds browsers may cache a preflight answer (0 to 86,400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 86400))]
    pub max_age: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tokens {
    /// `RS256` (default; API Gateway's JWT authorizer accepts only RSA), `ES256` or `EdDSA`.
    #[serde(default)]
    pub algorithm: SigningAlgorithm,
    /// Access token lifetime in seconds when a client sets none (60 to 86,400).
    #[serde(default = "defaults::token_ttl")]
    #[schemars(range(min = 60, max = 86400))]
    pub default_ttl: u32,
}

impl Default for Tokens {
    fn default() -> Self {
        Tokens {
            algorithm: SigningAlgorithm::default(),
            default_ttl: defaults::token_ttl(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum SigningAlgorithm {
    #[default]
    RS256,
    ES256,
    EdDSA,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceServer {
    /// Absolute URI identifying the API; the `aud` of tokens with its scopes.
    pub identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub scopes: Vec<Scope>,
    /// The team that owns the API: its members manage it in the portal (see `portal.teams`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// Unique in the domain, e.g. `orders:read`.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Client {
    /// Unique in the domain; its credentials are kept in Secrets Manager under this name.
    pub name: String,
    /// Scopes the client may request.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Access token lifetime in seconds (60 to 86,400); unset: `tokens.defaultTtl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 86400))]
    pub token_ttl: Option<u32>,
    #[serde(default)]
    pub auth_method: ClientAuthMethod,
    /// For `private_key_jwt`: where the client publishes its public keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The team that owns the client: its members manage it in the portal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
}

/// An API of a team, protected with this domain's access tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProtectedApi {
    /// Unique in the domain (lowercase letters, digits, `-`; at most 32): names the
    /// authorizer (`authdomain.<domain>.<name>`).
    pub name: String,
    /// The id of an existing API Gateway API in the domain's region and account
    /// (`a1b2c3d4e5`).
    pub api_id: String,
    /// `http` (default): an HTTP API (API Gateway v2). `rest`: a REST API (v1), protected
    /// with `mode: lambda` (a TOKEN authorizer) and redeployed to `stage`.
    #[serde(default)]
    pub api_type: ApiType,
    /// REST APIs: the stage AuthDomain redeploys after changing the methods' authorization
    /// (a REST API's changes are live only once deployed). HTTP APIs take none: route
    /// changes reach stages with automatic deployment (the `$default` stage's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// `jwt` (default): API Gateway's built-in JWT authorizer (no function, no added latency
    /// or cost; RSA tokens only). `lambda`: AuthDomain's authorizer function.
    #[serde(default)]
    pub mode: ProtectionMode,
    /// The identifier of one of `spec.resourceServers`: the audience tokens must carry.
    pub identifier: String,
    /// The routes to protect, by route key as the API has them, each with the scopes a
    /// token needs (all of them). Routes not listed are left as they are.
    pub routes: Vec<ProtectedRoute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProtectedRoute {
    /// A route key of the API: `GET /orders/{id}`, `ANY /admin/{proxy+}`, `$default`; for
    /// a REST API, a method and a resource path (`GET /orders/{id}`).
    pub route: String,
    /// Scopes of the resource server a token must all have; empty: any valid token.
    #[serde(default)]
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ApiType {
    #[default]
    Http,
    Rest,
}

impl ApiType {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiType::Http => "http",
            ApiType::Rest => "rest",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ProtectionMode {
    #[default]
    Jwt,
    Lambda,
}

/// The authorizer function (`<domain>-authorizer`), deployed when an API has `mode: lambda`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizerFunction {
    /// Digest (`sha256:…`) of the authorizer image in the domain's image repository.
    /// Unset: `authdomain bootstrap` builds and pushes it; `apply` deploys what runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Memory in MB (128 to 10,240).
    #[serde(default = "defaults::authorizer_memory")]
    #[schemars(range(min = 128, max = 10240))]
    pub memory: u32,
}

impl Default for AuthorizerFunction {
    fn default() -> Self {
        AuthorizerFunction {
            digest: None,
            memory: defaults::authorizer_memory(),
        }
    }
}

impl AuthorizerFunction {
    pub fn is_default(&self) -> bool {
        *self == AuthorizerFunction::default()
    }
}

impl AuthDomainSpec {
    /// Whether the authorizer function is wanted: some API has `mode: lambda`.
    pub fn wants_authorizer(&self) -> bool {
        self.protected_apis
            .iter()
            .any(|p| p.mode == ProtectionMode::Lambda)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Destroy deletes everything (honouring `database.deletionProtection`).
    #[default]
    Delete,
    /// Destroy keeps the data and what reading it needs (network, database, KMS key, KEK
    /// secret, image repository); it removes the function, the API and the role.
    Retain,
}

/// Default values, named so the schema and `--show-defaults` agree with the code.
pub mod defaults {
    pub fn cidr() -> String {
        "10.42.0.0/16".into()
    }
    pub fn availability_zones() -> u8 {
        2
    }
    pub fn keep_images() -> u32 {
        10
    }
    pub fn engine_version() -> String {
        "16.4".into()
    }
    pub fn max_capacity() -> f64 {
        2.0
    }
    pub fn seconds_until_auto_pause() -> u32 {
        300
    }
    pub fn yes() -> bool {
        true
    }
    pub fn memory() -> u32 {
        512
    }
    pub fn timeout() -> u32 {
        29
    }
    pub fn stage() -> String {
        "$default".into()
    }
    pub fn token_ttl() -> u32 {
        3600
    }
    pub fn authorizer_memory() -> u32 {
        256
    }
    pub fn expected_storage_gib() -> f64 {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_access_grants_scopes_per_namespace_with_prefix_wildcards() {
        let m = load_str(
            "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: d\nspec:\n  region: eu-west-1\n  resourceServers:\n    - identifier: https://orders\n      scopes: [{name: 'orders:read'}, {name: 'orders:write'}, {name: audit}]\n  operator:\n    clientAccess:\n      - namespaces: [shipping]\n        scopes: ['orders:*']\n      - namespaces: ['*']\n        scopes: [audit]\n",
            "d.yaml",
        )
        .unwrap();
        let wanted = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let s = &m.spec;
        assert!(
            s.forbidden_scopes("shipping", &wanted(&["orders:read", "audit"]))
                .is_empty()
        );
        assert_eq!(
            s.forbidden_scopes("billing", &wanted(&["orders:read", "audit"])),
            ["orders:read"]
        );
        assert_eq!(
            s.forbidden_scopes("billing", &wanted(&["other"])),
            ["other"]
        );
    }

    #[test]
    fn client_access_must_name_the_domains_scopes() {
        let e = load_str(
            "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: d\nspec:\n  region: eu-west-1\n  operator:\n    clientAccess:\n      - namespaces: [Bad_NS]\n        scopes: ['orders:*']\n",
            "d.yaml",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("spec.operator.clientAccess[0].scopes[0]"),
            "{text}"
        );
        assert!(
            text.contains("spec.operator.clientAccess[0].namespaces[0]"),
            "{text}"
        );
    }

    const BASE: &str = "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: d\nspec:\n  region: eu-west-1\n  resourceServers:\n    - identifier: https://orders\n      scopes: [{name: 'orders:read'}]\n";

    fn protected_errors(extra: &str) -> String {
        load_str(&format!("{BASE}{extra}"), "d.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn protected_apis_name_the_domains_resource_server_and_its_scopes() {
        let ok = load_str(
            &format!(
                "{BASE}  protectedApis:\n    - name: orders\n      apiId: a1b2c3d4e5\n      identifier: https://orders\n      routes:\n        - route: GET /orders/{{id}}\n          scopes: ['orders:read']\n        - route: ANY /admin/{{proxy+}}\n        - route: $default\n"
            ),
            "d.yaml",
        );
        assert!(ok.is_ok(), "{ok:?}");
        let text = protected_errors(
            "  protectedApis:\n    - name: orders\n      apiId: a1b2c3d4e5\n      identifier: https://billing\n      routes:\n        - route: GET /orders\n    - name: Bad\n      apiId: A-1\n      identifier: https://orders\n      routes:\n        - route: FETCH /x\n        - route: GET /a/{proxy+}/b\n        - route: GET /o\n          scopes: ['orders:write']\n",
        );
        for want in [
            "spec.protectedApis[0].identifier",
            "`https://billing` is not the identifier of any of spec.resourceServers (defined: https://orders)",
            "spec.protectedApis[1].name",
            "spec.protectedApis[1].apiId",
            "spec.protectedApis[1].routes[0].route",
            "spec.protectedApis[1].routes[1].route",
            "spec.protectedApis[1].routes[2].scopes[0]",
            "scope `orders:write` is not defined by resource server `https://orders` (its scopes: orders:read)",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    #[test]
    fn jwt_mode_is_refused_for_a_domain_that_does_not_sign_with_rsa() {
        let text = protected_errors(
            "  tokens:\n    algorithm: ES256\n  protectedApis:\n    - name: orders\n      apiId: a1b2c3d4e5\n      identifier: https://orders\n      routes:\n        - route: GET /orders\n",
        );
        assert!(text.contains("spec.protectedApis[0].mode"), "{text}");
        assert!(text.contains("verifies RSA signatures only"), "{text}");
        assert!(text.contains("mode: lambda"), "{text}");
        // The same domain with the Lambda authorizer is fine.
        let ok = load_str(
            &format!(
                "{BASE}  tokens:\n    algorithm: ES256\n  protectedApis:\n    - name: orders\n      apiId: a1b2c3d4e5\n      mode: lambda\n      identifier: https://orders\n      routes:\n        - route: GET /orders\n"
            ),
            "d.yaml",
        );
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn a_rest_api_needs_the_lambda_authorizer_and_a_stage() {
        let text = protected_errors(
            "  protectedApis:\n    - name: orders\n      apiId: a1b2c3d4e5\n      apiType: rest\n      identifier: https://orders\n      routes:\n        - route: $default\n    - name: http\n      apiId: b1b2c3d4e5\n      stage: prod\n      identifier: https://orders\n      routes:\n        - route: GET /x\n",
        );
        for want in [
            "spec.protectedApis[0].mode",
            "JWT authorizer exists for HTTP APIs only",
            "spec.protectedApis[0].stage",
            "spec.protectedApis[0].routes[0].route",
            "spec.protectedApis[1].stage",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }
}
