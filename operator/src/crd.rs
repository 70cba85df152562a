//! The custom resources: `AuthDomain` (cluster-scoped: a domain's name is the prefix of its
//! AWS names, so it is unique per cluster as it must be per account) whose spec is the
//! provisioner's `AuthDomainSpec` itself, and `OAuthClient` (namespaced: a team asks for
//! credentials in its own namespace). `crdgen` writes both CRDs to manifests/crds/.

pub use authdomain_api::ClientAuthMethod;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResource;
use kube::core::CustomResourceExt as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const GROUP: &str = "authdomain.io";
pub const FINALIZER_DOMAIN: &str = "authdomain.io/aws-resources";
pub const FINALIZER_CLIENT: &str = "authdomain.io/client-registration";

/// The AuthDomain spec: exactly the provisioner's (one source of truth for the CLI file and
/// the custom resource).
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "authdomain.io",
    version = "v1alpha1",
    kind = "AuthDomain",
    plural = "authdomains",
    shortname = "ad",
    category = "authdomain",
    status = "AuthDomainStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Synced","type":"string","jsonPath":".status.conditions[?(@.type==\"Synced\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Drifted","type":"string","jsonPath":".status.conditions[?(@.type==\"Drifted\")].status"}"#,
    printcolumn = r#"{"name":"Issuer","type":"string","jsonPath":".status.outputs.issuer"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(transparent)]
pub struct AuthDomainSpec(pub authdomain_core::spec::AuthDomainSpec);

/// A Kubernetes condition (the `metav1.Condition` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `Synced` or `Drifted`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// A CamelCase word a program can act on.
    pub reason: String,
    /// What a person should know (absent when there is nothing to say).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// RFC 3339; changes only when `status` changes.
    pub last_transition_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// What the domain exposes once deployed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Outputs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_endpoint: Option<String>,
    /// Secrets Manager secret holding the admin client's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_secret: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthDomainStatus {
    /// The `metadata.generation` the conditions describe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub outputs: Outputs,
    /// The drift found by the last check: `resource field: desired → actual`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<String>,
    /// RFC 3339 time of the last drift check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_drift_check: Option<String>,
}

/// The methods an `OAuthClient` may use: those with a secret to hand over in its Secret
/// (`private_key_jwt` clients hold their own keys, so the operator has nothing to deliver).
fn secret_auth_methods(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let methods: Vec<&str> = ClientAuthMethod::ALL
        .into_iter()
        .filter(|m| m.uses_secret())
        .map(ClientAuthMethod::as_str)
        .collect();
    schemars::json_schema!({
        "description": "How the client authenticates at the token endpoint.",
        "type": "string",
        "enum": methods,
        "default": ClientAuthMethod::default().as_str(),
    })
}

/// A request to rotate the client secret with zero downtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rotation {
    /// Any value; each new value rotates once (a date or a counter reads well). A second
    /// secret is issued and written to the Secret; the previous one keeps working for
    /// `gracePeriodSeconds`, then is revoked.
    pub request: String,
    /// How long the previous secret stays valid (1 to 604,800 s; default 3,600).
    #[serde(default = "default_grace")]
    #[schemars(range(min = 1, max = 604800))]
    pub grace_period_seconds: u32,
}

fn default_grace() -> u32 {
    3600
}

/// API credentials for a workload: registered with the domain's auth server, delivered
/// as a Secret in the same namespace.
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "authdomain.io",
    version = "v1alpha1",
    kind = "OAuthClient",
    plural = "oauthclients",
    shortname = "oac",
    category = "authdomain",
    namespaced,
    status = "OAuthClientStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Domain","type":"string","jsonPath":".spec.domain"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Client ID","type":"string","jsonPath":".status.clientId"}"#,
    printcolumn = r#"{"name":"Secret","type":"string","jsonPath":".status.secretName"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuthClientSpec {
    /// The `AuthDomain` (by name) whose auth server registers the client.
    #[schemars(length(min = 1, max = 32))]
    pub domain: String,
    /// A name for people (default: `<namespace>/<name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Scopes the client may request. The domain's `spec.operator.clientAccess` must
    /// allow them for this namespace.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Resource servers (APIs, by identifier) whose every scope the client gets, besides
    /// `scopes`; they become the `aud` of its tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Access token lifetime in seconds (60 to 86,400; default: the domain's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 86400))]
    pub token_ttl: Option<u32>,
    #[serde(default)]
    #[schemars(schema_with = "secret_auth_methods")]
    pub auth_method: ClientAuthMethod,
    /// The Secret to write (default: the OAuthClient's name). It is owned by the
    /// OAuthClient and holds `client_id`, `client_secret`, `token_url`, `issuer`, `scope`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_name: Option<String>,
    /// The id of the secret in the Secret now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_secret_id: Option<String>,
    /// The previous secret during a rotation, and when it is revoked (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_revoke_at: Option<String>,
    /// The last `spec.rotation.request` carried out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotated_for: Option<String>,
    /// The scopes granted (after `resources` are expanded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// `sha256:` digest of the client secret in the Secret: a value edited in by hand
    /// differs, and the operator issues a new secret. (The secret is 256 random bits; its
    /// digest reveals nothing usable.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_digest: Option<String>,
}

/// Rules the API server checks with CEL (`x-kubernetes-validations`, Kubernetes 1.25+),
/// at the schema path they apply to: the semantic rules the controller checks as well
/// (so older servers, which ignore the field, still get a clear `InvalidSpec`). Each is
/// `(path, rule, message)`; a test evaluates every rule with a CEL interpreter.
pub const AUTHDOMAIN_RULES: &[(&str, &str, &str)] = &[
    // At `spec`, not at `spec.image`: the API server checks every schema default against
    // the rules at and below its node when the CRD is created (Kubernetes 1.25+,
    // apiextensions-apiserver pkg/apiserver/schema/defaulting/validation.go), and
    // `spec.image` defaults to `{architecture: arm64, keepImages: 10}`, which has neither.
    (
        "spec",
        "has(self.image) && (has(self.image.digest) || has(self.image.tag))",
        "the operator deploys an image it is given: set spec.image.digest or spec.image.tag (`authdomain image push` builds and pushes one)",
    ),
    // Transition rules (Kubernetes 1.25+; checked on update only): a domain's region and
    // network are where its resources are, and a move would strand them.
    (
        "spec.region",
        "self == oldSelf",
        "spec.region is immutable: create a new AuthDomain in the other region, then delete this one",
    ),
    (
        "spec.network.cidr",
        "self == oldSelf",
        "spec.network.cidr is immutable: the VPC and its subnets cannot be renumbered in place",
    ),
    (
        "spec.image",
        "!(has(self.digest) && has(self.tag))",
        "give either spec.image.tag or spec.image.digest, not both",
    ),
    (
        "spec.image",
        "!has(self.digest) || self.digest.matches('^sha256:[0-9a-f]{64}$')",
        "spec.image.digest: expected `sha256:` and 64 lowercase hex digits",
    ),
    (
        "spec.image",
        "!has(self.tag) || self.tag.matches('^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')",
        "spec.image.tag: expected an image tag (letters, digits, `_`, `.`, `-`; at most 128)",
    ),
    (
        "spec.database",
        "!has(self.minCapacity) || !has(self.maxCapacity) || self.minCapacity <= self.maxCapacity",
        "spec.database.maxCapacity must be at least minCapacity",
    ),
];

/// Both CRDs, as applied to a cluster. The schemas are the types' own, made acceptable
/// to the API server's structural-schema rules: no `additionalProperties: false` (the
/// server prunes unknown fields instead; `kubectl apply` rejects them client-side), no
/// `default: null`, and no `nullable` (explicit nulls are pruned).
pub fn crds() -> Vec<CustomResourceDefinition> {
    [AuthDomain::crd(), OAuthClient::crd()]
        .into_iter()
        .map(|crd| {
            let mut v = serde_json::to_value(&crd).expect("CRD serialises");
            strip_closed_objects(&mut v);
            let schema = &mut v["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
            // Conditions are a map keyed by type for server-side apply: another
            // controller's condition on our resource is its own, and survives our writes.
            let conditions = &mut schema["properties"]["status"]["properties"]["conditions"];
            conditions["x-kubernetes-list-type"] = "map".into();
            conditions["x-kubernetes-list-map-keys"] = serde_json::json!(["type"]);
            if crd.spec.names.kind == "AuthDomain" {
                for (path, rule, message) in AUTHDOMAIN_RULES {
                    let mut at = &mut *schema;
                    for part in path.split('.') {
                        at = &mut at["properties"][part];
                    }
                    let rules = at
                        .as_object_mut()
                        .expect("a rule's path is an object schema")
                        .entry("x-kubernetes-validations")
                        .or_insert_with(|| serde_json::json!([]));
                    rules
                        .as_array_mut()
                        .expect("rules are a list")
                        .push(serde_json::json!({"rule": rule, "message": message}));
                }
            }
            serde_json::from_value(sorted(v)).expect("CRD deserialises")
        })
        .collect()
}

/// Object keys in sorted order at every level, whether or not some crate in the build
/// turns on serde_json's `preserve_order` (feature unification differs between
/// `cargo build` of the workspace and of one package): the file must not depend on it.
fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

fn strip_closed_objects(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            if map.get("additionalProperties") == Some(&serde_json::Value::Bool(false)) {
                map.remove("additionalProperties");
            }
            // `nullable: true` (schemars' `Option`) would keep an explicit `null`, which CEL's
            // `has()` counts as present (`{digest: …, tag: null}` refused as "both"); without
            // it the API server prunes nulls before defaulting and validation, and the
            // operator reads an absent field and a null alike.
            if map.get("nullable") == Some(&serde_json::Value::Bool(true)) {
                map.remove("nullable");
            }
            // A `null` default (a defaulted field whose type's default is none) is not one,
            // and Kubernetes 1.20 reads an empty-string default as null and refuses it.
            if matches!(map.get("default"), Some(serde_json::Value::Null))
                || map.get("default") == Some(&serde_json::Value::String(String::new()))
            {
                map.remove("default");
            }
            for child in map.values_mut() {
                strip_closed_objects(child);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_closed_objects),
        _ => {}
    }
}

/// The CRDs as one YAML stream (what `crdgen` prints and manifests/crds/ holds).
pub fn crds_yaml() -> String {
    let mut out = String::from(
        "# Generated by `cargo run -p operator --bin crdgen` from operator/src/crd.rs and the\n\
         # provisioner's spec types. Do not edit: a test fails when this differs.\n",
    );
    for crd in crds() {
        out.push_str("---\n");
        let value = sorted(serde_json::to_value(&crd).expect("CRD serialises"));
        out.push_str(&serde_saphyr::to_string(&value).expect("CRD as YAML"));
    }
    out
}

#[cfg(test)]
mod cel_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked-in CRDs are what the types generate (`cargo run -p operator --bin crdgen
    /// > manifests/crds/authdomain.io.yaml` after changing a type).
    #[test]
    fn the_checked_in_crds_match_the_types() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../manifests/crds/authdomain.io.yaml"
        );
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == crds_yaml(),
            "{path} is stale: run `cargo run -p operator --bin crdgen > manifests/crds/authdomain.io.yaml`"
        );
    }

    #[test]
    fn the_schemas_are_structural_and_keep_the_specs_rules() {
        let crds = serde_json::to_value(crds()).unwrap();
        let text = crds.to_string();
        assert!(!text.contains("\"additionalProperties\":false"));
        let domain = &crds[0]["spec"]["versions"][0];
        assert_eq!(domain["subresources"]["status"], serde_json::json!({}));
        let spec = &domain["schema"]["openAPIV3Schema"]["properties"]["spec"];
        assert_eq!(spec["required"], serde_json::json!(["region"]));
        let nat = &spec["properties"]["network"]["properties"]["natGateway"];
        assert_eq!(nat["enum"], serde_json::json!(["none", "single", "perAz"]));
        assert_eq!(crds[0]["spec"]["scope"], "Cluster");
        assert_eq!(crds[1]["spec"]["scope"], "Namespaced");
        assert_eq!(
            crds[0]["spec"]["names"]["shortNames"],
            serde_json::json!(["ad"])
        );
        // Conditions are a map keyed by type (server-side apply keeps others' conditions).
        for crd in crds.as_array().unwrap() {
            let conditions = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
                ["status"]["properties"]["conditions"];
            assert_eq!(conditions["x-kubernetes-list-type"], "map");
            assert_eq!(
                conditions["x-kubernetes-list-map-keys"],
                serde_json::json!(["type"])
            );
        }
    }
}
