//! observe → plan → act: the one path the CLI and the operator both call.
//!
//! [`prepare`] observes and plans, and splits off what must wait (an image nobody has
//! pushed); [`apply`] carries out what can run now, after the pure refusals of
//! `authdomain_core::plan::refusal`; [`destroy_plan_kept`] reads what destroy needs and
//! asks the core what goes and what stays.

use std::collections::BTreeMap;

use authdomain_core::plan::{
    Action, Allow, Change, Deferred, Desired, Facts, Kept, Kind, Observed, Plan, Refusal,
    ResourceId, Service, defer_unknown, delete_order, desired, diff_with, graph, is_image_fact,
    refusal, waves,
};
use authdomain_core::spec::AuthDomainManifest;

use crate::aws::protection::{self, Purpose};
use crate::aws::{
    Aws, AwsError, api, ec2, ecr, function, iam, kms, rds, registrations, s3, secrets, tagging,
};
use crate::image::registry::RegistryError;

/// Everything tagged for the domain (the services are observed concurrently). An API or
/// route of `spec.protectedApis` that does not exist is an error naming the field.
pub async fn observe(aws: &Aws, m: &AuthDomainManifest) -> Result<Vec<Observed>, AwsError> {
    observe_for(aws, m, Purpose::Apply).await
}

/// [`observe`], for applying or for destroying (where a team's API that is gone is
/// nothing to detach rather than an error).
pub async fn observe_for(
    aws: &Aws,
    m: &AuthDomainManifest,
    purpose: Purpose,
) -> Result<Vec<Observed>, AwsError> {
    let (network, rest) = tokio::join!(
        Box::pin(ec2::observe(aws, &m.metadata.name)),
        Box::pin(observe_named(aws, m, None, purpose))
    );
    let mut all = network?;
    all.extend(rest?);
    if purpose == Purpose::Apply {
        // Zones are chosen now, so a spec asking for more than the region offers fails
        // at plan time naming the field.
        ec2::zone_assignment(aws, m, &all).await?;
        ec2::s3_prefix_list(aws).await?;
    }
    Ok(all)
}

/// Several domains in one account: the network of all of them is read with one describe
/// per resource type (tag-filtered for every domain at once), the Aurora clusters and the
/// HTTP APIs with one (paged) listing each, the name-keyed rest per domain. Results are in the order of `manifests`.
pub async fn observe_many(
    aws: &Aws,
    manifests: &[AuthDomainManifest],
) -> Result<Vec<Vec<Observed>>, AwsError> {
    let domains: Vec<&str> = manifests.iter().map(|m| m.metadata.name.as_str()).collect();
    let (network, clusters, apis) = tokio::join!(
        Box::pin(ec2::observe_domains(aws, &domains)),
        Box::pin(rds::clusters(aws)),
        Box::pin(api::apis(aws)),
    );
    let listed = Listed {
        clusters: clusters?,
        apis: apis?,
    };
    let rest = futures::future::join_all(
        manifests
            .iter()
            .map(|m| Box::pin(observe_named(aws, m, Some(&listed), Purpose::Apply))),
    )
    .await;
    let mut network = network?;
    let mut out = Vec::with_capacity(manifests.len());
    for (m, rest) in manifests.iter().zip(rest) {
        let mut all = network.remove(&m.metadata.name).unwrap_or_default();
        all.extend(rest?);
        ec2::zone_assignment(aws, m, &all).await?;
        ec2::s3_prefix_list(aws).await?;
        out.push(all);
    }
    Ok(out)
}

/// Account-wide listings that serve every domain of a multi-domain observation.
struct Listed {
    clusters: Vec<aws_sdk_rds::types::DbCluster>,
    apis: Vec<aws_sdk_apigatewayv2::types::Api>,
}

/// Everything but the network: the database, and the name-keyed application resources;
/// with `listed`, clusters and APIs are picked from it instead of listed again.
async fn observe_named(
    aws: &Aws,
    m: &AuthDomainManifest,
    listed: Option<&Listed>,
    purpose: Purpose,
) -> Result<Vec<Observed>, AwsError> {
    let domain = &m.metadata.name;
    let repository = ecr::repository_name(domain, m.spec.image.repository.as_deref());
    let database = async {
        match listed {
            Some(l) => rds::observe_in(aws, domain, &l.clusters).await,
            None => rds::observe(aws, domain).await,
        }
    };
    let api = async {
        match listed {
            Some(l) => api::observe_in(aws, domain, &l.apis).await,
            None => api::observe(aws, domain).await,
        }
    };
    // Eight services' futures are large together: each lives on the heap.
    let (database, images, roles, keys, kek, functions, apis, buckets) = tokio::join!(
        Box::pin(database),
        Box::pin(ecr::observe(aws, domain, &repository)),
        Box::pin(iam::observe(aws, domain)),
        Box::pin(kms::observe(aws, domain)),
        Box::pin(secrets::observe(aws, domain)),
        Box::pin(function::observe(aws, domain)),
        Box::pin(api),
        Box::pin(s3::observe(aws, domain)),
    );
    let mut all = database?;
    for part in [images, roles, keys, kek, functions, apis, buckets] {
        all.extend(part?);
    }
    all.extend(observe_protection(aws, m, &all, purpose).await?);
    // The auth server's registrations, from its published read model (never the function:
    // that would wake the database). Destroy takes the function away with them.
    if purpose == Purpose::Apply {
        let held = registrations::observe(aws, m, &mut all).await?;
        all.extend(held);
    }
    // The digest of the spec's tag, unless the spec names a digest or the function already
    // runs that tag (repository tags are immutable). Asked of the registry itself (what
    // ECR's API reports on AWS too), so a mirror or a local registry answers the same.
    let image = &m.spec.image;
    if let Some(tag) = image.tag.as_deref().filter(|_| image.digest.is_none())
        && !all.iter().any(|o| {
            o.id == ResourceId::new(Kind::Function, "main")
                && o.props.get("image-tag").and_then(serde_json::Value::as_str) == Some(tag)
        })
        && let Some(repo) = all.iter_mut().find(|o| o.id.kind == Kind::EcrRepository)
        && let Some(uri) = repo.props.get("_uri").and_then(serde_json::Value::as_str)
        && let Some(digest) = tag_digest(aws, uri, &repository, tag).await?
    {
        repo.props
            .insert("_image-digest".into(), serde_json::json!(digest));
    }
    Ok(all)
}

/// The teams' APIs the domain protects (listed in the spec or recorded on the domain's
/// API) and, while any is, the Lambda authorizer's function and role. Nothing (no call)
/// for a domain that protects none.
async fn observe_protection(
    aws: &Aws,
    m: &AuthDomainManifest,
    all: &[Observed],
    purpose: Purpose,
) -> Result<Vec<Observed>, AwsError> {
    let domain_api = all
        .iter()
        .find(|o| o.id == ResourceId::new(Kind::Api, "main"));
    let recorded = domain_api.is_some_and(|o| o.props.contains_key("_protects"));
    if m.spec.protected_apis.is_empty() && !recorded {
        return Ok(Vec::new());
    }
    let domain = &m.metadata.name;
    let (parts, function, role) = tokio::join!(
        Box::pin(protection::observe(aws, m, domain_api, purpose)),
        Box::pin(function::observe_one(aws, domain, "authorizer")),
        Box::pin(iam::observe_one(aws, domain, "authorizer")),
    );
    let mut out = parts?;
    out.extend(function?);
    out.extend(role?);
    Ok(out)
}

/// The digest `tag` names in the repository at `uri`, or None when it is not pushed.
async fn tag_digest(
    aws: &Aws,
    uri: &str,
    repository: &str,
    tag: &str,
) -> Result<Option<String>, AwsError> {
    let fail = |e: crate::image::registry::RegistryError| {
        e.for_resource("resolve the image tag of", "ecr-repository/main".into())
    };
    let registry = crate::image::registry::Registry::connect(aws, uri)
        .await
        .map_err(fail)?;
    registry
        .manifest_digest(repository, tag)
        .await
        .map_err(fail)
}

/// Observe several domains and diff each (`authdomain drift` over many files).
pub async fn plan_many(aws: &Aws, manifests: &[AuthDomainManifest]) -> Result<Vec<Plan>, AwsError> {
    let observed = observe_many(aws, manifests).await?;
    Ok(manifests
        .iter()
        .zip(&observed)
        .map(|(m, o)| diff_with(&desired(m), o, &facts(aws, m, o)))
        .collect())
}

/// The facts that `observed` establishes (see [`graph::facts`]).
/// With the zones read during observation, `zone.<slot>` is the zone ID of each subnet
/// slot.
pub fn facts(aws: &Aws, m: &AuthDomainManifest, observed: &[Observed]) -> Facts {
    let mut f = graph::facts(m, &aws.region, observed);
    if let Some(list) = aws.s3_prefix_list.get() {
        f.insert("prefix-list.s3", list.as_str());
    }
    if let Some(zones) = aws.zones.get() {
        let n = &m.spec.network;
        if let Ok(chosen) = authdomain_core::plan::zones::assign(
            zones,
            n.availability_zones,
            &n.exclude_zone_ids,
            &authdomain_core::plan::zones::occupied(observed),
        ) {
            for (slot, id) in chosen {
                f.insert(format!("zone.{slot}"), id);
            }
        }
    }
    f
}

async fn create(
    aws: &Aws,
    m: &AuthDomainManifest,
    d: &Desired,
    physical: &ec2::Physical,
    allow: Allow,
) -> Result<String, ApplyFailure> {
    let (domain, tags) = (&m.metadata.name, &m.spec.tags);
    if d.id.kind.service() == Service::Function {
        check_image(aws, m, d).await?;
    }
    Ok(match d.id.kind.service() {
        Service::Ec2 => Box::pin(ec2::create(aws, domain, tags, d, physical)).await,
        Service::Rds => Box::pin(rds::create(aws, domain, tags, d, physical)).await,
        Service::Ecr => {
            let name = ecr::repository_name(domain, m.spec.image.repository.as_deref());
            ecr::create(aws, domain, tags, d, &name).await
        }
        Service::Iam => Box::pin(iam::create(aws, domain, tags, d)).await,
        Service::IamPolicy => Box::pin(iam::put_policy(aws, domain, d)).await,
        Service::Kms => Box::pin(kms::create(aws, domain, tags, d)).await,
        Service::Secrets => Box::pin(secrets::create(aws, domain, tags, d)).await,
        Service::Function => Box::pin(function::create(aws, domain, tags, d, physical)).await,
        Service::Permission => Box::pin(function::create_permission(aws, d, physical)).await,
        Service::Api => Box::pin(api::create(aws, domain, tags, d, physical)).await,
        Service::Protection => Box::pin(protection::create(aws, domain, d, physical)).await,
        Service::S3 => Box::pin(s3::create(aws, domain, tags, d)).await,
        Service::Registrations => {
            let issuer = d.props.get("issuer").and_then(serde_json::Value::as_str);
            let key = physical.get(&ResourceId::new(Kind::KmsKey, "main"));
            let (Some(issuer), Some(kms_key)) = (issuer, key) else {
                return Err(crate::aws::missing(&d.id, "issuer or kms-key").into());
            };
            let keeping = registrations::Keeping {
                issuer,
                kms_key,
                tags,
            };
            Box::pin(registrations::create(
                aws,
                domain,
                d,
                &keeping,
                allow.remove_held_scopes,
            ))
            .await
        }
    }?)
}

async fn update(
    aws: &Aws,
    m: &AuthDomainManifest,
    d: &Desired,
    o: &Observed,
    change: &Change,
    physical: &ec2::Physical,
    allow: Allow,
) -> Result<(), ApplyFailure> {
    // Tags are the same for every service: set here; the services see the other fields.
    if change.touches("tags") {
        tagging::retag(aws, d, o).await?;
    }
    let rest = Change {
        fields: change
            .fields
            .iter()
            .filter(|f| f.field != "tags")
            .cloned()
            .collect(),
        ..change.clone()
    };
    if rest.fields.is_empty() {
        return Ok(());
    }
    let change = &rest;
    if d.id.kind.service() == Service::Function
        && (change.touches("image") || change.touches("architecture"))
    {
        check_image(aws, m, d).await?;
    }
    Ok(match d.id.kind.service() {
        Service::Ec2 => Box::pin(ec2::update(aws, d, o, change, physical)).await,
        Service::Rds => Box::pin(rds::update(aws, d, o, change, physical)).await,
        Service::Ecr => Box::pin(ecr::update(aws, d, o, change)).await,
        Service::Iam => Box::pin(iam::update(aws, d, o, change)).await,
        Service::IamPolicy => Box::pin(iam::put_policy(aws, &m.metadata.name, d))
            .await
            .map(|_| ()),
        Service::Kms => Box::pin(kms::update(aws, &m.metadata.name, d, o, change)).await,
        Service::Secrets => Box::pin(secrets::update(aws, d, o, change)).await,
        Service::Function => {
            Box::pin(function::update(
                aws,
                &m.metadata.name,
                d,
                o,
                change,
                physical,
            ))
            .await?;
            migrate(aws, m, d, o, change).await
        }
        Service::Permission => Box::pin(function::update_permission(aws, d, o, physical)).await,
        Service::Api => Box::pin(api::update(aws, d, o, change, physical)).await,
        Service::Protection => Box::pin(protection::update(aws, d, o, physical)).await,
        Service::S3 => Box::pin(s3::update(aws, d, o, change)).await,
        Service::Registrations => {
            Box::pin(registrations::update(
                aws,
                &m.metadata.name,
                d,
                o,
                allow.remove_held_scopes,
            ))
            .await
        }
    }?)
}

/// A new image on a domain whose database was prepared (its read model exists): its
/// migrations run now, through the `prepare` management event, not at the next bootstrap.
/// `prepare` is idempotent: migrations already applied are skipped.
async fn migrate(
    aws: &Aws,
    m: &AuthDomainManifest,
    d: &Desired,
    o: &Observed,
    change: &Change,
) -> Result<(), AwsError> {
    let prepared = o.props.contains_key("_read-model-issuer");
    if d.id != ResourceId::new(Kind::Function, "main") || !change.touches("image") || !prepared {
        return Ok(());
    }
    aws.notices
        .say("function/main: a new image; running its database migrations (prepare)");
    function::invoke_management(
        aws,
        &m.metadata.name,
        &authdomain_api::ManagementEvent::Prepare,
    )
    .await
    .map(|_| ())
}

async fn delete(
    aws: &Aws,
    m: &AuthDomainManifest,
    o: &Observed,
    allow: Allow,
) -> Result<(), AwsError> {
    match o.id.kind.service() {
        Service::Ec2 => Box::pin(ec2::delete(aws, o)).await,
        Service::Rds => Box::pin(rds::delete(aws, o, m.spec.database.final_snapshot)).await,
        Service::Ecr => Box::pin(ecr::delete(aws, o)).await,
        Service::Iam => Box::pin(iam::delete(aws, o)).await,
        Service::IamPolicy => Box::pin(iam::delete_policy(aws, o)).await,
        Service::Kms => Box::pin(kms::delete(aws, o)).await,
        Service::Secrets => Box::pin(secrets::delete(aws, o)).await,
        Service::Function => Box::pin(function::delete(aws, o)).await,
        Service::Permission => Box::pin(function::delete_permission(aws, o)).await,
        Service::Api => Box::pin(api::delete(aws, o)).await,
        Service::Protection => Box::pin(protection::delete(aws, &m.metadata.name, o)).await,
        Service::S3 => Box::pin(s3::delete(aws, o)).await,
        Service::Registrations => {
            Box::pin(registrations::delete(
                aws,
                &m.metadata.name,
                o,
                allow.remove_held_scopes,
            ))
            .await
        }
    }
}

/// Refuse to deploy an image Lambda could not run as this function: read its manifest and
/// config from the registry and compare the architecture (an image for the wrong one fails
/// every cold start with `Runtime.InvalidEntrypoint`).
async fn check_image(aws: &Aws, m: &AuthDomainManifest, d: &Desired) -> Result<(), ApplyFailure> {
    let image = d.props.get("image").and_then(serde_json::Value::as_str);
    let Some((uri, digest)) = image.and_then(|i| i.split_once('@')) else {
        return Err(crate::aws::missing(&d.id, "image").into());
    };
    let fail = |error: RegistryError| ApplyFailure::Image {
        resource: d.id.clone(),
        error,
    };
    let (_, repository) = crate::image::registry::split_repository_uri(uri).map_err(fail)?;
    let registry = crate::image::registry::Registry::connect(aws, uri)
        .await
        .map_err(fail)?;
    registry
        .check_architecture(repository, digest, m.spec.image.architecture)
        .await
        .map_err(fail)
}

/// Observe and diff.
pub async fn plan(aws: &Aws, m: &AuthDomainManifest) -> Result<(Plan, Vec<Observed>), AwsError> {
    let observed = observe(aws, m).await?;
    let facts = facts(aws, m, &observed);
    Ok((diff_with(&desired(m), &observed, &facts), observed))
}

/// A plan ready to apply: everything that differs, what can run now, and what waits for
/// a value nothing here produces (an image nobody has pushed), with the advice to give.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Everything that differs (what `plan` shows).
    pub full: Plan,
    /// What can be applied now.
    pub runnable: Plan,
    /// What waits, and for what.
    pub deferred: Deferred,
    pub observed: Vec<Observed>,
}

/// Observe, plan and split off what must wait: the one preparation of `apply`, `bootstrap`
/// and the operator.
pub async fn prepare(aws: &Aws, m: &AuthDomainManifest) -> Result<Prepared, AwsError> {
    let (full, observed) = plan(aws, m).await?;
    let facts = facts(aws, m, &observed);
    let (runnable, deferred) = defer_unknown(m, &full, &facts);
    Ok(Prepared {
        full,
        runnable,
        deferred,
        observed,
    })
}

/// The plan for removing what the domain's `deletionPolicy` lets go: everything tagged for
/// it with `Delete` (with the credentials `bootstrap` kept); with `Retain` only the
/// serving tier (function, API, role), keeping the data and what reading it needs
/// (network, database, KMS key, secrets, images).
pub async fn destroy_plan(
    aws: &Aws,
    m: &AuthDomainManifest,
) -> Result<(Plan, Vec<Observed>), AwsError> {
    destroy_plan_kept(aws, m).await.map(|(p, o, _)| (p, o))
}

/// [`destroy_plan`], and what it keeps although `deletionPolicy` is `Delete` (see
/// `authdomain_core::plan::destroy_plan`): the observation, with the credentials
/// `bootstrap` kept and the domain's final snapshots, is read here; the decision is the
/// core's.
pub async fn destroy_plan_kept(
    aws: &Aws,
    m: &AuthDomainManifest,
) -> Result<(Plan, Vec<Observed>, Vec<Kept>), AwsError> {
    let mut observed = observe_for(aws, m, Purpose::Destroy).await?;
    // The credentials bootstrap kept are the domain's too.
    observed.extend(secrets::observe_credentials(aws, &m.metadata.name).await?);
    let snapshots = if m.spec.deletion_policy == authdomain_core::spec::DeletionPolicy::Delete {
        rds::final_snapshots(aws, &m.metadata.name).await?
    } else {
        Vec::new()
    };
    let (plan, kept) = authdomain_core::plan::destroy_plan(m, &observed, &snapshots);
    Ok((plan, observed, kept))
}

/// One step taken.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub resource: ResourceId,
    pub action: Action,
    pub physical_id: String,
}

/// An apply that stopped part-way: what was done before the failure.
#[derive(Debug, thiserror::Error)]
#[error("{failure} (after {} completed step(s); re-running continues from here)", done.len())]
pub struct ApplyError {
    pub done: Vec<Step>,
    #[source]
    pub failure: ApplyFailure,
}

/// Why an apply stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyFailure {
    /// AWS refused or failed a call.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The plan is one we refuse to carry out (checked before anything is done).
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    /// A change needs values nothing has produced (an image nobody pushed).
    #[error("{action} {resource}: {}", unresolved_text(missing))]
    Unresolved {
        action: &'static str,
        resource: ResourceId,
        missing: Vec<String>,
    },
    /// The function's image cannot run as the function (an index, another architecture,
    /// not in the registry).
    #[error("check the image of {resource}: {error}")]
    Image {
        resource: ResourceId,
        error: RegistryError,
    },
}

impl ApplyFailure {
    /// The AWS failure, when AWS is what failed.
    pub fn aws(&self) -> Option<&AwsError> {
        match self {
            ApplyFailure::Aws(e) => Some(e),
            ApplyFailure::Image {
                error: RegistryError::Aws(e),
                ..
            } => Some(e),
            _ => None,
        }
    }

    /// Whether it waits for the domain's image to be pushed.
    pub fn waits_for_image(&self) -> bool {
        match self {
            ApplyFailure::Unresolved { missing, .. } => missing.iter().any(|f| is_image_fact(f)),
            ApplyFailure::Image {
                error: RegistryError::NotFound { .. },
                ..
            } => true,
            _ => false,
        }
    }
}

fn unresolved_text(missing: &[String]) -> String {
    if missing.iter().any(|f| is_image_fact(f)) {
        format!(
            "no image to deploy: {}",
            authdomain_core::plan::IMAGE_ADVICE
        )
    } else {
        format!(
            "needs {} which no resource provides yet",
            missing.join(", ")
        )
    }
}

/// Carry out `plan` (made from `observed`). `progress` is told of each step as it completes.
/// In order: the pure refusals (nothing is done when one applies), the creates and updates
/// in waves of independent changes, the deletes (referrers first), and the redeployment of
/// REST APIs whose protection changed.
pub async fn apply(
    aws: &Aws,
    m: &AuthDomainManifest,
    plan: &Plan,
    observed: &[Observed],
    progress: impl FnMut(&Step),
) -> Result<Vec<Step>, ApplyError> {
    apply_with(aws, m, plan, observed, Allow::default(), progress).await
}

/// [`apply`], allowing what the caller allows beyond the default (`--adopt`,
/// `--remove-held-scopes`).
pub async fn apply_with(
    aws: &Aws,
    m: &AuthDomainManifest,
    plan: &Plan,
    observed: &[Observed],
    allow: Allow,
    progress: impl FnMut(&Step),
) -> Result<Vec<Step>, ApplyError> {
    if let Some(r) = refusal(plan, observed, allow) {
        return Err(ApplyError {
            done: Vec::new(),
            failure: r.into(),
        });
    }
    let desired_list = desired(m);
    let mut run = Run {
        aws,
        m,
        wanted: desired_list.iter().map(|d| (&d.id, d)).collect(),
        by_id: observed.iter().map(|o| (&o.id, o)).collect(),
        physical: observed
            .iter()
            .map(|o| (o.id.clone(), o.physical_id.clone()))
            .collect(),
        done: Vec::new(),
        progress,
        allow,
    };
    let result = async {
        let replaced = run.waves(plan, &desired_list, observed).await?;
        run.deletes(plan, replaced).await?;
        run.redeploy(plan).await
    }
    .await;
    match result {
        Ok(()) => Ok(run.done),
        Err(failure) => Err(ApplyError {
            done: run.done,
            failure,
        }),
    }
}

/// An apply under way: what it knows and what it has done.
struct Run<'a, P: FnMut(&Step)> {
    aws: &'a Aws,
    m: &'a AuthDomainManifest,
    wanted: BTreeMap<&'a ResourceId, &'a Desired>,
    by_id: BTreeMap<&'a ResourceId, &'a Observed>,
    physical: ec2::Physical,
    done: Vec<Step>,
    progress: P,
    allow: Allow,
}

impl<'a, P: FnMut(&Step)> Run<'a, P> {
    fn did(&mut self, step: Step) {
        (self.progress)(&step);
        self.done.push(step);
    }

    /// Creates, updates and replacements, one wave of dependencies at a time (independent
    /// branches concurrently). Values that exist only once earlier waves have run (ARNs,
    /// endpoints) are resolved right before each wave; when one is missing, AWS is read
    /// again once. Returns the old copies of replaced resources, to delete afterwards.
    async fn waves(
        &mut self,
        plan: &'a Plan,
        desired_list: &[Desired],
        observed: &[Observed],
    ) -> Result<Vec<&'a Observed>, ApplyFailure> {
        let (aws, m) = (self.aws, self.m);
        let mut replaced = Vec::new();
        let mut facts = facts(aws, m, observed);
        for wave in waves(plan, desired_list) {
            let mut resolved: Vec<(&Change, Desired)> = Vec::with_capacity(wave.len());
            let mut refreshed = false;
            for &i in &wave {
                let change = &plan.changes[i];
                let d = self.wanted[&change.resource];
                let r = match d.resolved(&facts) {
                    Ok(r) => r,
                    Err(_) if !refreshed => {
                        refreshed = true;
                        facts = self::facts(aws, m, &observe(aws, m).await?);
                        d.resolved(&facts)
                            .map_err(|missing| unknown_facts(change, &missing))?
                    }
                    Err(missing) => return Err(unknown_facts(change, &missing)),
                };
                resolved.push((change, r));
            }
            let (physical_now, by_id, allow) = (&self.physical, &self.by_id, self.allow);
            let results =
                futures::future::join_all(resolved.iter().map(|(change, d)| async move {
                    let result = match change.action {
                        Action::Update => {
                            let o = by_id[&change.resource];
                            Box::pin(update(aws, m, d, o, change, physical_now, allow))
                                .await
                                .map(|()| o.physical_id.clone())
                        }
                        _ => Box::pin(create(aws, m, d, physical_now, allow)).await,
                    };
                    (*change, result)
                }))
                .await;
            let mut first_error = None;
            for (change, result) in results {
                match result {
                    Ok(id) => {
                        if change.action == Action::Replace
                            && let Some(o) = self.by_id.get(&change.resource)
                        {
                            replaced.push(*o);
                        }
                        if change.action != Action::Update {
                            self.physical.insert(change.resource.clone(), id.clone());
                        }
                        self.did(Step {
                            resource: change.resource.clone(),
                            action: change.action,
                            physical_id: id,
                        });
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        Ok(replaced)
    }

    /// Deletes last, referrers before what they refer to: replaced resources' old copies
    /// and resources the spec no longer has. Parts of an API that goes too go with it.
    async fn deletes(
        &mut self,
        plan: &Plan,
        replaced: Vec<&'a Observed>,
    ) -> Result<(), ApplyFailure> {
        let mut to_delete: Vec<&Observed> = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| self.by_id[&c.resource])
            .collect();
        to_delete.extend(replaced);
        let apis_deleted: Vec<String> = to_delete
            .iter()
            .filter(|o| o.id.kind == Kind::Api)
            .map(|o| o.physical_id.clone())
            .collect();
        for o in delete_order(&to_delete) {
            let part_of_deleted_api = matches!(
                o.id.kind,
                Kind::ApiIntegration | Kind::ApiRoute | Kind::ApiStage
            ) && o
                .refs
                .get("api")
                .is_some_and(|a| a.iter().any(|id| apis_deleted.contains(id)));
            if part_of_deleted_api {
                continue;
            }
            delete(self.aws, self.m, o, self.allow).await?;
            self.did(Step {
                resource: o.id.clone(),
                action: Action::Delete,
                physical_id: o.physical_id.clone(),
            });
        }
        Ok(())
    }

    /// A REST API serves only what was deployed: one deployment of each REST API whose
    /// authorizer or methods changed, after every change (detaches included).
    async fn redeploy(&mut self, plan: &Plan) -> Result<(), ApplyFailure> {
        let touched: Vec<&Change> = plan
            .changes
            .iter()
            .filter(|c| c.resource.kind.service() == Service::Protection)
            .collect();
        for (api, stage) in
            protection::rest_deployments(self.m, &touched, &self.wanted, &self.by_id)
        {
            let id = protection::redeploy(self.aws, &self.m.metadata.name, &api, &stage).await?;
            self.did(Step {
                resource: ResourceId::new(Kind::ApiStage, format!("{api}/{stage}")),
                action: Action::Update,
                physical_id: format!("deployment {id}"),
            });
        }
        Ok(())
    }
}

/// The failure of a change whose values cannot be known yet.
fn unknown_facts(change: &Change, missing: &[String]) -> ApplyFailure {
    ApplyFailure::Unresolved {
        action: change.action.as_str(),
        resource: change.resource.clone(),
        missing: missing.to_vec(),
    }
}
