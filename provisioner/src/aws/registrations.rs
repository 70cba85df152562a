//! The auth server's registrations, as the plan sees them: read from the read model the
//! function publishes to S3 (one GetObject, opened with the KEK), never by invoking the
//! function, so a plan, a drift check or the operator's periodic check does not wake the
//! database; written through management events on the function, which do.
//!
//! A client the spec creates gets its credentials kept in Secrets Manager
//! (`authdomain/<domain>/clients/<name>`, encrypted with the domain's key); deleting it
//! schedules that secret's deletion (7 days, AWS's shortest window).

use authdomain_api::ManagementEvent;
use authdomain_api::{Client, ResourceServer, ScopeInput};
use authdomain_core::plan::names::{KEK_VARIABLE, READ_MODEL_VARIABLE};
use authdomain_core::plan::registrations::{
    Registered, client_input, observed, resource_server_input,
};
use authdomain_core::plan::{Desired, Kind, Observed, ResourceId};
use authdomain_core::spec::AuthDomainManifest;
use authdomain_read_model::{SealKey, Snapshot, snapshot_key};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{AwsError, ErrorClass, aws_error, function, secrets, with_retries};

/// The issuer the function runs as (its environment), which seals the read model.
const ISSUER_VARIABLE: &str = "AUTHSERVER_ISSUER";

fn terminal(action: &'static str, resource: &str, code: &str, message: String) -> AwsError {
    AwsError {
        action,
        resource: resource.to_owned(),
        code: code.to_owned(),
        message,
        class: ErrorClass::Terminal,
    }
}

/// The registrations that are the spec's business (see
/// `authdomain_core::plan::registrations::observed`), and the issuer the read model was
/// read for (recorded on the function as `_read-model-issuer`, which makes the
/// registrations' placeholder known). Nothing when the domain has no function or no read
/// model yet: the spec's registrations then wait for it. Two calls: the KEK and the
/// snapshot.
pub async fn observe(
    aws: &super::Aws,
    m: &AuthDomainManifest,
    all: &mut [Observed],
) -> Result<Vec<Observed>, AwsError> {
    let Some(function) = all
        .iter_mut()
        .find(|o| o.id == ResourceId::new(Kind::Function, "main"))
    else {
        return Ok(Vec::new());
    };
    let env = |k: &str| {
        function
            .props
            .get("environment")
            .and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (Some(issuer), Some(location)) = (env(ISSUER_VARIABLE), env(READ_MODEL_VARIABLE)) else {
        return Ok(Vec::new());
    };
    if env(KEK_VARIABLE).is_none() {
        return Ok(Vec::new());
    }
    let Some(snapshot) = read(aws, &m.metadata.name, &issuer, &location).await? else {
        return Ok(Vec::new());
    };
    function
        .props
        .insert("_read-model-issuer".into(), json!(issuer));
    function
        .props
        .insert("_read-model-version".into(), json!(snapshot.version));
    let clients: Vec<Client> = snapshot.clients.iter().map(client).collect();
    let apis: Vec<ResourceServer> = snapshot.resource_servers.iter().map(api).collect();
    Ok(observed(
        m,
        &Registered {
            issuer: &issuer,
            resource_servers: &apis,
            clients: &clients,
        },
    ))
}

/// What the domain's function last published (its read model), or None before the first
/// publication (or with no function). One GetFunction, one GetObject, the KEK: never an
/// invocation, so reading it never wakes the database (`authdomain clients list`).
pub async fn published(aws: &super::Aws, domain: &str) -> Result<Option<Snapshot>, AwsError> {
    let observed = function::observe(aws, domain).await?;
    let Some(f) = observed
        .iter()
        .find(|o| o.id == ResourceId::new(Kind::Function, "main"))
    else {
        return Ok(None);
    };
    let env = |k: &str| {
        f.props
            .get("environment")
            .and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let (Some(issuer), Some(location)) = (env(ISSUER_VARIABLE), env(READ_MODEL_VARIABLE)) else {
        return Ok(None);
    };
    read(aws, domain, &issuer, &location).await
}

/// The published snapshot at `location` (`s3://bucket/prefix`), or None before the first
/// publication.
async fn read(
    aws: &super::Aws,
    domain: &str,
    issuer: &str,
    location: &str,
) -> Result<Option<Snapshot>, AwsError> {
    let resource = "s3-bucket/read-model";
    let Some((bucket, prefix)) = location
        .strip_prefix("s3://")
        .map(|rest| rest.split_once('/').unwrap_or((rest, "")))
    else {
        return Err(terminal(
            "read",
            resource,
            "InvalidLocation",
            format!("the function's {READ_MODEL_VARIABLE} is not an s3:// location: {location}"),
        ));
    };
    let key = snapshot_key(prefix);
    let got = with_retries(5, || async {
        aws.s3
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| aws_error("read", resource.to_owned(), e))
    })
    .await;
    let out = match got {
        Ok(out) => out,
        Err(e) if e.class == ErrorClass::NotFound || e.code == "NoSuchKey" => return Ok(None),
        Err(e) => return Err(e),
    };
    let bytes = out.body.collect().await.map_err(|e| {
        terminal(
            "read",
            resource,
            "ReadFailed",
            format!("reading the snapshot: {e}"),
        )
    })?;
    let kek = secrets::value(aws, &secrets::secret_name(domain)).await?;
    let kek = base64::engine::general_purpose::STANDARD
        .decode(kek.trim())
        .or_else(|_| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(kek.trim().trim_end_matches('='))
        })
        .map_err(|_| {
            terminal(
                "read",
                "secret/kek",
                "InvalidKek",
                "the key-encryption key secret is not base64".into(),
            )
        })?;
    let key = SealKey::derive(&kek)
        .map_err(|e| terminal("read", "secret/kek", "InvalidKek", e.to_string()))?;
    Snapshot::open(&bytes.into_bytes(), &key, issuer)
        .map(Some)
        .map_err(|e| terminal("read", resource, "UnreadableReadModel", e.to_string()))
}

fn client(c: &authdomain_read_model::ClientEntry) -> Client {
    Client {
        client_id: c.id.clone(),
        name: c.name.clone(),
        scopes: c.scopes.clone(),
        default_scopes: c.defaults.clone(),
        token_ttl_seconds: c.ttl,
        token_endpoint_auth_method: c.method.clone(),
        grant_types: c.grants.clone(),
        jwks: None,
        jwks_uri: c.jwks_uri.clone(),
        secrets: Vec::new(),
        team: c.team.clone(),
        managed_by: c.managed_by.clone(),
        created_at: c.created,
        updated_at: c.updated,
    }
}

fn api(r: &authdomain_read_model::ResourceServerEntry) -> ResourceServer {
    ResourceServer {
        identifier: r.identifier.clone(),
        name: r.name.clone(),
        scopes: r
            .scopes
            .iter()
            .map(|(name, description)| ScopeInput {
                name: name.clone(),
                description: description.clone(),
            })
            .collect(),
        team: r.team.clone(),
        managed_by: r.managed_by.clone(),
        created_at: r.created,
        updated_at: r.updated,
    }
}

/// Where the credentials of a client the spec created go, and what encrypts them.
#[derive(Debug, Clone)]
pub struct Keeping<'a> {
    pub issuer: &'a str,
    /// The domain's KMS key.
    pub kms_key: &'a str,
    pub tags: &'a std::collections::BTreeMap<String, String>,
}

/// Create the registration `d` (resolved). A client's credentials are kept in Secrets
/// Manager. Returns the physical id (identifier, client id).
pub async fn create(
    aws: &super::Aws,
    domain: &str,
    d: &Desired,
    keeping: &Keeping<'_>,
    remove_held_scopes: bool,
) -> Result<String, AwsError> {
    if d.id.kind == Kind::ResourceServer {
        return put_api(aws, domain, d, None, remove_held_scopes).await;
    }
    let input = client_input(d, None);
    let created = function::invoke_management(
        aws,
        domain,
        &ManagementEvent::CreateClient { client: input },
    )
    .await?;
    let client_id = created["client_id"].as_str().unwrap_or_default().to_owned();
    let name = secrets::client_secret_name(domain, &d.id.name);
    let value = credentials(&created, keeping.issuer);
    secrets::write_json(
        aws,
        domain,
        keeping.tags,
        &secrets::CredentialsSecret {
            id: ResourceId::new(Kind::Secret, format!("client-{}", d.id.name)),
            name,
            description: format!(
                "AuthDomain {domain}: credentials of the client `{}` of {}",
                d.id.name, keeping.issuer
            ),
            kms_key: keeping.kms_key,
        },
        &value,
    )
    .await?;
    Ok(client_id)
}

/// The credentials JSON kept for a client: `client_id`, `client_secret` (absent for
/// `private_key_jwt`), `issuer`, `token_url`, `scope`.
pub fn credentials(created: &Value, issuer: &str) -> Value {
    let mut v = json!({
        "client_id": created["client_id"],
        "issuer": issuer,
        "token_url": format!("{}/oauth2/token", issuer.trim_end_matches('/')),
        "scope": created["scopes"]
            .as_array()
            .map(|s| s.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
    });
    if let Some(secret) = created["client_secret"].as_str() {
        v["client_secret"] = json!(secret);
    }
    v
}

/// Bring the registration `o` to `d` (resolved).
pub async fn update(
    aws: &super::Aws,
    domain: &str,
    d: &Desired,
    o: &Observed,
    remove_held_scopes: bool,
) -> Result<(), AwsError> {
    if d.id.kind == Kind::ResourceServer {
        return put_api(aws, domain, d, Some(o), remove_held_scopes)
            .await
            .map(|_| ());
    }
    function::invoke_management(
        aws,
        domain,
        &ManagementEvent::UpdateClient {
            client_id: o.physical_id.clone(),
            client: client_input(d, Some(o)),
        },
    )
    .await
    .map(|_| ())
}

async fn put_api(
    aws: &super::Aws,
    domain: &str,
    d: &Desired,
    have: Option<&Observed>,
    remove_held_scopes: bool,
) -> Result<String, AwsError> {
    let input = resource_server_input(d, have);
    let identifier = input.identifier.clone();
    function::invoke_management(
        aws,
        domain,
        &ManagementEvent::PutResourceServer {
            resource_server: input,
            remove_held_scopes,
        },
    )
    .await?;
    Ok(identifier)
}

/// Delete a registration the spec no longer has; a client's kept credentials are
/// scheduled for deletion. Already gone is done.
pub async fn delete(
    aws: &super::Aws,
    domain: &str,
    o: &Observed,
    remove_held_scopes: bool,
) -> Result<(), AwsError> {
    let event = match o.id.kind {
        Kind::ResourceServer => ManagementEvent::DeleteResourceServer {
            identifier: o.physical_id.clone(),
            remove_held_scopes,
        },
        _ => ManagementEvent::DeleteClient {
            client_id: o.physical_id.clone(),
        },
    };
    match function::invoke_management(aws, domain, &event).await {
        Ok(_) => {}
        Err(e) if e.class == ErrorClass::NotFound => {}
        Err(e) => return Err(e),
    }
    if o.id.kind == Kind::Client {
        secrets::schedule_deletion(aws, &secrets::client_secret_name(domain, &o.id.name)).await?;
    }
    Ok(())
}
