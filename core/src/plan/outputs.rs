//! What a deployed domain exposes (issuer, endpoints, ARNs), read from what exists.

use super::names::{admin_credentials_secret, client_credentials_secret};
use super::registrations::SPEC_OWNER;
use super::{Kind, Observed};
use crate::spec::AuthDomainManifest;

/// What a deployed domain exposes, read from what exists (`authdomain outputs`). Fields
/// of parts not deployed yet are absent.
pub fn outputs(m: &AuthDomainManifest, observed: &[Observed]) -> serde_json::Value {
    // The auth server's own resources (not the Lambda authorizer's function and role).
    let find = |kind: Kind| {
        observed
            .iter()
            .find(|o| o.id.kind == kind && o.id.name != "authorizer")
    };
    let prop = |kind: Kind, field: &str| {
        find(kind)
            .and_then(|o| o.props.get(field))
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    let mut out = serde_json::json!({
        "domain": m.metadata.name,
        "region": m.spec.region,
        "vpcId": find(Kind::Vpc).map(|o| o.physical_id.clone()),
        "clusterIdentifier": find(Kind::DbCluster).map(|o| o.physical_id.clone()),
        "clusterEndpoint": prop(Kind::DbCluster, "_endpoint"),
        "clusterReaderEndpoint": prop(Kind::DbCluster, "_reader-endpoint"),
        "clusterPort": prop(Kind::DbCluster, "_port"),
        "masterSecretArn": prop(Kind::DbCluster, "_master-secret-arn"),
        "repositoryUri": prop(Kind::EcrRepository, "_uri"),
        "functionRoleArn": prop(Kind::IamRole, "_arn"),
        "functionArn": prop(Kind::Function, "_arn"),
        "apiId": find(Kind::Api).map(|o| o.physical_id.clone()),
        "kmsKeyArn": find(Kind::KmsKey).map(|o| o.physical_id.clone()),
        "kekSecretArn": find(Kind::Secret).map(|o| o.physical_id.clone()),
    });
    // The issuer is the API's URL (plus the stage unless it is `$default`).
    if let Some(endpoint) = prop(Kind::Api, "_endpoint").as_str() {
        let stage = &m.spec.api.stage;
        let issuer = if stage == "$default" {
            endpoint.to_owned()
        } else {
            format!("{endpoint}/{stage}")
        };
        out["issuer"] = serde_json::json!(issuer);
        out["tokenEndpoint"] = serde_json::json!(format!("{issuer}/oauth2/token"));
        out["jwksUri"] = serde_json::json!(format!("{issuer}/.well-known/jwks.json"));
    }
    // Where the kept credentials are (never the credentials: `outputs --reveal NAME`
    // reads one, when asked).
    let domain = &m.metadata.name;
    if find(Kind::Function).is_some() {
        out["adminCredentialsSecret"] = serde_json::json!(admin_credentials_secret(domain));
    }
    let clients: std::collections::BTreeMap<&str, String> = observed
        .iter()
        .filter(|o| {
            o.id.kind == Kind::Client
                && o.props
                    .get("managed-by")
                    .and_then(serde_json::Value::as_str)
                    == Some(SPEC_OWNER)
        })
        .map(|o| {
            (
                o.id.name.as_str(),
                client_credentials_secret(domain, &o.id.name),
            )
        })
        .collect();
    if !clients.is_empty() {
        out["clientCredentialsSecrets"] = serde_json::json!(clients);
    }
    if let Some(map) = out.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    out
}
