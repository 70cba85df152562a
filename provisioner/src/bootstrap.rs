//! `authdomain bootstrap`: from an account with nothing to a working issuer in one
//! command. The image repository first; then the auth server image for the spec's
//! architecture, assembled in-process and pushed (or reused: the same binary gives the
//! same digest); everything else through the same plan and apply as `authdomain apply`;
//! then the day-one work no plan can describe: wait for the database, create the
//! function's login role and database (Data API), migrate (a management event), the
//! admin client and the spec's resource servers and clients, whose credentials are kept
//! in Secrets Manager. Every step looks before it acts, so running it again changes
//! nothing.

use std::time::Duration;

use authdomain_api::ManagementEvent;
use authdomain_core::plan::{Action, Allow, Deferred, Kind, Observed, Plan, ResourceId, Service};
use authdomain_core::spec::AuthDomainManifest;
use serde::Serialize;
use serde_json::{Value, json};

use crate::aws::{Aws, AwsError, ecr, function, rds, rdsdata, registrations, secrets};
use crate::image::registry::{Registry, RegistryError};
use crate::image::{self, ImageError};
use crate::reconcile::{self, ApplyError, Step};

/// How long to wait for AWS's slow parts.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// Aurora: creating a cluster and its writer takes 10 to 20 minutes.
    pub database: Duration,
    /// Lambda in a VPC: `Pending` while its network interfaces are created.
    pub function: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            database: Duration::from_secs(45 * 60),
            function: Duration::from_secs(20 * 60),
        }
    }
}

/// What to bootstrap with.
#[derive(Debug, Clone, Default)]
pub struct Options<'a> {
    /// The auth server executable for the spec's architecture. Needed unless the spec
    /// names an image (`image.digest` or `image.tag`).
    pub binary: Option<&'a [u8]>,
    /// The Lambda authorizer executable for the spec's architecture. Needed when an API of
    /// `spec.protectedApis` has `mode: lambda` and `spec.authorizer.digest` is unset.
    pub authorizer_binary: Option<&'a [u8]>,
    /// The auth server's version, recorded in the image and its tag.
    pub version: &'a str,
    pub timeouts: Timeouts,
    /// What the registrations' apply may do beyond the default (`--adopt`,
    /// `--remove-held-scopes`).
    pub allow: Allow,
}

/// A phase starting, or a step of the infrastructure apply done.
#[derive(Debug)]
pub enum Progress<'a> {
    Phase(&'a str),
    Step(&'a Step),
    /// Something done outside the plan (image pushed, SQL run, client created).
    Did(String),
}

/// What a bootstrap did and what it leads to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Outcome {
    pub domain: String,
    pub issuer: String,
    pub token_endpoint: String,
    /// `repository-uri@digest` of the deployed image.
    pub image: String,
    pub image_pushed: bool,
    /// Infrastructure changes applied.
    pub applied: Vec<Step>,
    pub database_role_created: bool,
    pub database_created: bool,
    pub data_api_enabled: bool,
    /// Secrets Manager name of the admin client's credentials.
    pub admin_secret: String,
    pub admin_created: bool,
    pub resource_servers_written: Vec<String>,
    pub clients_created: Vec<String>,
    pub clients_updated: Vec<String>,
    /// Clients the spec created that it no longer has: deleted, their kept credentials
    /// scheduled for deletion.
    pub clients_deleted: Vec<String>,
    /// Spec client name → Secrets Manager name of its credentials.
    pub client_secrets: Vec<(String, String)>,
}

impl Outcome {
    /// Whether anything was changed (a second run of the same spec changes nothing).
    pub fn changed(&self) -> bool {
        self.image_pushed
            || !self.applied.is_empty()
            || self.database_role_created
            || self.database_created
            || self.data_api_enabled
            || self.admin_created
            || !self.resource_servers_written.is_empty()
            || !self.clients_created.is_empty()
            || !self.clients_updated.is_empty()
            || !self.clients_deleted.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("building the image: {0}")]
    Image(#[from] ImageError),
    #[error("pushing the image: {0}")]
    Registry(#[from] RegistryError),
    #[error(
        "the spec names no image (spec.image.digest or spec.image.tag) and no auth server binary \
         was given: pass --binary PATH (scripts/build-authserver.sh {0} builds one)"
    )]
    NoBinary(&'static str),
    #[error(
        "spec.protectedApis has an API with `mode: lambda`, spec.authorizer.digest is unset and no \
         authorizer binary was given: pass --authorizer-binary PATH (scripts/build-static.sh authorizer {0} \
         builds one)"
    )]
    NoAuthorizerBinary(&'static str),
    /// Changes wait for a value nothing here produces (an image tag not pushed yet).
    #[error("{}", .0.summary())]
    Deferred(Deferred),
    /// A resource the previous steps made lacks a value the next step needs (AWS did not
    /// report it): `resource` names it, `value` what is missing.
    #[error("{resource} has no {value} (AWS did not report it)")]
    Incomplete {
        resource: String,
        value: &'static str,
    },
    /// The auth server's answer to a management event is not what the event returns.
    #[error("the auth server's answer to `{action}` is not what it returns: {error}")]
    Answer { action: &'static str, error: String },
}

/// The value of an observed resource's string property.
fn fact(observed: &[Observed], kind: Kind, field: &str) -> Option<String> {
    observed
        .iter()
        .find(|o| o.id.kind == kind && o.id.name != "authorizer")
        .and_then(|o| o.props.get(field))
        .and_then(|v| v.as_str().map(str::to_owned))
}

/// Push `built` to the domain's repository under a readable, content-derived tag
/// (`<prefix><version>-<arch>-<digest prefix>`: the repository's tags are immutable).
/// Returns the digest and whether anything was uploaded.
async fn push(
    aws: &Aws,
    domain: &str,
    repository: &str,
    built: &image::Image,
    prefix: &str,
    version: &str,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(String, bool), BootstrapError> {
    let repo = ecr::observe(aws, domain, repository).await?;
    let uri =
        fact(&repo, Kind::EcrRepository, "_uri").ok_or_else(|| BootstrapError::Incomplete {
            resource: format!("ecr-repository/main ({repository})"),
            value: "URI",
        })?;
    let registry = Registry::connect(aws, &uri).await?;
    let short = &built.digest["sha256:".len().."sha256:".len() + 12];
    let tag = format!("{prefix}{version}-{}-{short}", built.architecture.as_str());
    let pushed = registry.push(repository, built, Some(&tag)).await?;
    progress(Progress::Did(format!(
        "image {repository}:{tag} ({}, {:.1} MB) {}",
        built.digest,
        built.size() as f64 / 1e6,
        if pushed.reused {
            "already pushed"
        } else {
            "pushed"
        }
    )));
    Ok((built.digest.clone(), !pushed.reused))
}

/// What the auth server's deployment established, for the steps that register with it.
struct Deployed {
    issuer: String,
    token_endpoint: String,
    /// The KMS key the kept credentials are encrypted under.
    kms_key: String,
}

/// Bootstrap the domain `m` describes. `progress` hears of every phase and change.
pub async fn run(
    aws: &Aws,
    m: &AuthDomainManifest,
    options: &Options<'_>,
    mut progress: impl FnMut(Progress<'_>),
) -> Result<Outcome, BootstrapError> {
    let mut outcome = Outcome {
        domain: m.metadata.name.clone(),
        ..Outcome::default()
    };
    let progress = &mut progress;
    repository(aws, m, &mut outcome, progress).await?;
    let m = &images(aws, m, options, &mut outcome, progress).await?;
    infrastructure(aws, m, &mut outcome, progress).await?;
    database(aws, m, options, &mut outcome, progress).await?;
    let deployed = auth_server(aws, m, options, &mut outcome, progress).await?;
    admin_client(aws, m, &deployed, &mut outcome, progress).await?;
    registrations(aws, m, options, &mut outcome, progress).await?;
    Ok(outcome)
}

/// Step 1: The image repository, so that there is somewhere to push.
async fn repository(
    aws: &Aws,
    m: &AuthDomainManifest,
    outcome: &mut Outcome,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), BootstrapError> {
    progress(Progress::Phase("image repository"));
    let (plan, observed) = reconcile::plan(aws, m).await?;
    let first = Plan {
        changes: plan
            .changes
            .iter()
            .filter(|c| c.resource.kind == Kind::EcrRepository && c.action != Action::Delete)
            .cloned()
            .collect(),
    };
    if !first.is_empty() {
        let steps =
            reconcile::apply(aws, m, &first, &observed, |s| progress(Progress::Step(s))).await?;
        outcome.applied.extend(steps);
    }
    Ok(())
}

/// Step 2: The images: the spec's, or ours built from the binaries and pushed by digest. The
/// manifest returned names them by digest.
async fn images(
    aws: &Aws,
    m: &AuthDomainManifest,
    options: &Options<'_>,
    outcome: &mut Outcome,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<AuthDomainManifest, BootstrapError> {
    let domain = &m.metadata.name;
    let repository = ecr::repository_name(domain, m.spec.image.repository.as_deref());
    let mut m = m.clone();
    let arch = m.spec.image.architecture;
    if m.spec.image.digest.is_none() && m.spec.image.tag.is_none() {
        progress(Progress::Phase("auth server image"));
        let binary = options
            .binary
            .ok_or(BootstrapError::NoBinary(arch.as_str()))?;
        let built = image::assemble(binary, arch, options.version)?;
        let (digest, pushed) = push(
            aws,
            domain,
            &repository,
            &built,
            "",
            options.version,
            progress,
        )
        .await?;
        outcome.image_pushed = pushed;
        m.spec.image.digest = Some(digest);
    }
    if m.spec.wants_authorizer() && m.spec.authorizer.digest.is_none() {
        progress(Progress::Phase("authorizer image"));
        let binary = options
            .authorizer_binary
            .ok_or(BootstrapError::NoAuthorizerBinary(arch.as_str()))?;
        let built =
            image::assemble_program(image::Program::Authorizer, binary, arch, options.version)?;
        let (digest, pushed) = push(
            aws,
            domain,
            &repository,
            &built,
            "authorizer-",
            options.version,
            progress,
        )
        .await?;
        outcome.image_pushed |= pushed;
        m.spec.authorizer.digest = Some(digest);
    }
    Ok(m)
}

/// Step 3: Everything else, as `authdomain apply` does it; nothing may wait here (the images
/// exist now).
async fn infrastructure(
    aws: &Aws,
    m: &AuthDomainManifest,
    outcome: &mut Outcome,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), BootstrapError> {
    progress(Progress::Phase("infrastructure"));
    let prepared = reconcile::prepare(aws, m).await?;
    // Registrations are step 7's (on a new domain they wait for the read model the
    // function publishes once the database is prepared).
    let infrastructure =
        |c: &authdomain_core::plan::Change| c.resource.kind.service() != Service::Registrations;
    let mut deferred = prepared.deferred.clone();
    deferred.changes.retain(infrastructure);
    if !deferred.is_empty() {
        return Err(BootstrapError::Deferred(deferred));
    }
    let plan = Plan {
        changes: prepared
            .runnable
            .changes
            .iter()
            .filter(|c| infrastructure(c))
            .cloned()
            .collect(),
    };
    if !plan.is_empty() {
        let steps = reconcile::apply(aws, m, &plan, &prepared.observed, |s| {
            progress(Progress::Step(s))
        })
        .await?;
        outcome.applied.extend(steps);
    }
    Ok(())
}

/// Step 4: The database: available, Data API on, the function's role and database.
async fn database(
    aws: &Aws,
    m: &AuthDomainManifest,
    options: &Options<'_>,
    outcome: &mut Outcome,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), BootstrapError> {
    progress(Progress::Phase("database"));
    let db = rds::wait_available(aws, &m.metadata.name, options.timeouts.database).await?;
    let cluster_arn =
        fact(&db, Kind::DbCluster, "_arn").ok_or_else(|| BootstrapError::Incomplete {
            resource: "db-cluster/main".into(),
            value: "ARN",
        })?;
    let master_secret = fact(&db, Kind::DbCluster, "_master-secret-arn").ok_or_else(|| {
        BootstrapError::Incomplete {
            resource: "db-cluster/main".into(),
            value: "RDS-managed master secret (ManageMasterUserPassword)",
        }
    })?;
    let data_api_on = db
        .iter()
        .find(|o| o.id.kind == Kind::DbCluster)
        .and_then(|o| o.props.get("_http-endpoint"))
        == Some(&json!(true));
    if !data_api_on {
        rds::enable_data_api(aws, &cluster_arn).await?;
        outcome.data_api_enabled = true;
        progress(Progress::Did("Data API enabled".into()));
    }
    let setup = rdsdata::setup(aws, &cluster_arn, &master_secret).await?;
    outcome.database_role_created = setup.created_role;
    outcome.database_created = setup.created_database;
    if setup.created_role || setup.created_database {
        progress(Progress::Did(format!(
            "database role `{}` and database `{}` created",
            authdomain_core::plan::names::DATABASE_USER,
            authdomain_core::plan::names::DATABASE_NAME
        )));
    }
    Ok(())
}

/// Step 5: The function: ready, then migrations and signing keys; what it serves as.
async fn auth_server(
    aws: &Aws,
    m: &AuthDomainManifest,
    options: &Options<'_>,
    outcome: &mut Outcome,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<Deployed, BootstrapError> {
    let domain = &m.metadata.name;
    progress(Progress::Phase("auth server"));
    function::wait_ready(aws, domain, options.timeouts.function).await?;
    function::invoke_management(aws, domain, &ManagementEvent::Prepare).await?;
    let observed = reconcile::observe(aws, m).await?;
    let outputs = authdomain_core::plan::outputs(m, &observed);
    let text = |k: &str| outputs[k].as_str().unwrap_or_default().to_owned();
    let kms_key = observed
        .iter()
        .find(|o| o.id.kind == Kind::KmsKey)
        .map(|o| o.physical_id.clone())
        .ok_or_else(|| BootstrapError::Incomplete {
            resource: "kms-key/main".into(),
            value: "key: it does not exist",
        })?;
    let deployed = Deployed {
        issuer: text("issuer"),
        token_endpoint: text("tokenEndpoint"),
        kms_key,
    };
    outcome.issuer = deployed.issuer.clone();
    outcome.token_endpoint = deployed.token_endpoint.clone();
    outcome.image = fact(&observed, Kind::Function, "image").unwrap_or_default();
    Ok(deployed)
}

/// Step 6: The admin client, kept in Secrets Manager (created again when the server no longer
/// knows the kept one: a database created anew).
async fn admin_client(
    aws: &Aws,
    m: &AuthDomainManifest,
    deployed: &Deployed,
    outcome: &mut Outcome,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), BootstrapError> {
    let domain = &m.metadata.name;
    let admin_name = secrets::admin_secret_name(domain);
    outcome.admin_secret = admin_name.clone();
    let existing = secrets::read_json(aws, &admin_name).await?;
    if still_registered(aws, domain, existing.as_ref()).await? {
        return Ok(());
    }
    let created = function::invoke_management(
        aws,
        domain,
        &ManagementEvent::CreateAdminClient {
            name: Some(format!("{domain}-admin")),
        },
    )
    .await?;
    let value = registrations::credentials(&created, &deployed.issuer);
    secrets::write_json(
        aws,
        domain,
        &m.spec.tags,
        &secrets::CredentialsSecret {
            id: ResourceId::new(Kind::Secret, "admin"),
            name: admin_name.clone(),
            description: format!(
                "AuthDomain {domain}: the admin client (authdomain:admin scope) of {}",
                deployed.issuer
            ),
            kms_key: &deployed.kms_key,
        },
        &value,
    )
    .await?;
    outcome.admin_created = true;
    progress(Progress::Did(format!(
        "admin client created; credentials in {admin_name}"
    )));
    Ok(())
}

/// Step 7: The spec's resource servers and clients, through the same plan and apply as
/// `authdomain apply` (now that the read model exists, they no longer wait): created,
/// updated or deleted where they differ; a created client's credentials are kept in
/// Secrets Manager.
async fn registrations(
    aws: &Aws,
    m: &AuthDomainManifest,
    options: &Options<'_>,
    outcome: &mut Outcome,
    progress: &mut impl FnMut(Progress<'_>),
) -> Result<(), BootstrapError> {
    progress(Progress::Phase("registrations"));
    let prepared = reconcile::prepare(aws, m).await?;
    if !prepared.deferred.is_empty() {
        return Err(BootstrapError::Deferred(prepared.deferred));
    }
    let plan = Plan {
        changes: prepared
            .runnable
            .changes
            .iter()
            .filter(|c| c.resource.kind.service() == Service::Registrations)
            .cloned()
            .collect(),
    };
    if !plan.is_empty() {
        let steps = reconcile::apply_with(aws, m, &plan, &prepared.observed, options.allow, |s| {
            progress(Progress::Step(s))
        })
        .await?;
        for step in &steps {
            let name = step.resource.name.clone();
            match (step.resource.kind, step.action) {
                (Kind::ResourceServer, _) => outcome.resource_servers_written.push(name),
                (Kind::Client, Action::Create) => outcome.clients_created.push(name),
                (Kind::Client, Action::Delete) => outcome.clients_deleted.push(name),
                (Kind::Client, _) => outcome.clients_updated.push(name),
                _ => {}
            }
        }
    }
    outcome.client_secrets = m
        .spec
        .clients
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                secrets::client_secret_name(&m.metadata.name, &c.name),
            )
        })
        .collect();
    Ok(())
}

/// The admin client's credentials the domain keeps (`client_id`, `client_secret`,
/// `issuer`, `token_url`), or None before bootstrap has created them. The operator reads
/// them through this, not through the secret's name.
pub async fn admin_credentials(aws: &Aws, domain: &str) -> Result<Option<Value>, AwsError> {
    secrets::read_json(aws, &secrets::admin_secret_name(domain)).await
}

/// The server's view of client `id`, or None when it does not know it (a database
/// created anew, say).
async fn get_client(aws: &Aws, domain: &str, id: &str) -> Result<Option<Value>, AwsError> {
    match function::invoke_management(
        aws,
        domain,
        &ManagementEvent::GetClient {
            client_id: id.to_owned(),
        },
    )
    .await
    {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.class == crate::aws::ErrorClass::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether kept credentials name a client the server still has.
async fn still_registered(aws: &Aws, domain: &str, kept: Option<&Value>) -> Result<bool, AwsError> {
    match kept.and_then(|v| v["client_id"].as_str()) {
        Some(id) => Ok(get_client(aws, domain, id).await?.is_some()),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_credentials_hold_what_a_workload_needs_and_no_more() {
        let created = json!({
            "client_id": "abc", "client_secret": "s3cr3t", "scopes": ["a", "b"],
            "name": "svc", "secrets": [{"secret_id": "x"}]
        });
        let v = registrations::credentials(&created, "https://issuer");
        assert_eq!(
            v,
            json!({
                "client_id": "abc", "client_secret": "s3cr3t", "scope": "a b",
                "issuer": "https://issuer", "token_url": "https://issuer/oauth2/token"
            })
        );
        let jwt_client = json!({"client_id": "k", "scopes": []});
        assert!(
            registrations::credentials(&jwt_client, "i")
                .get("client_secret")
                .is_none()
        );
    }

    #[test]
    fn a_run_that_did_nothing_reports_no_change() {
        let mut o = Outcome::default();
        assert!(!o.changed());
        o.clients_updated.push("svc".into());
        assert!(o.changed());
    }
}
