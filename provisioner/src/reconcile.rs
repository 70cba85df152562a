//! observe → plan → act: the one path the CLI and the operator both call.

use std::collections::BTreeMap;

use crate::aws::{Aws, AwsError, ErrorClass, ec2, ecr, iam, rds};
use crate::plan::{
    Action, Change, Desired, Kind, Observed, Plan, ResourceId, delete_order, diff, graph, waves,
};
use crate::spec::AuthDomainManifest;

/// What the spec wants (so far: network, database, image repository, function role).
pub fn desired(m: &AuthDomainManifest) -> Vec<Desired> {
    let mut all = graph::network(m);
    all.extend(graph::database(m));
    all.extend(graph::application(m));
    all
}

/// Everything tagged for the domain (the services are observed concurrently).
pub async fn observe(aws: &Aws, m: &AuthDomainManifest) -> Result<Vec<Observed>, AwsError> {
    let domain = &m.metadata.name;
    let repository = ecr::repository_name(domain, m.spec.image.repository.as_deref());
    let (network, database, images, roles) = tokio::join!(
        ec2::observe(aws, domain),
        rds::observe(aws, domain),
        ecr::observe(aws, domain, &repository),
        iam::observe(aws, domain)
    );
    let mut all = network?;
    all.extend(database?);
    all.extend(images?);
    all.extend(roles?);
    Ok(all)
}

/// Which service module handles a kind.
enum Service {
    Ec2,
    Rds,
    Ecr,
    Iam,
}

fn service(kind: Kind) -> Service {
    match kind {
        Kind::DbSubnetGroup | Kind::DbCluster | Kind::DbInstance => Service::Rds,
        Kind::EcrRepository => Service::Ecr,
        Kind::IamRole => Service::Iam,
        _ => Service::Ec2,
    }
}

async fn create(
    aws: &Aws,
    m: &AuthDomainManifest,
    d: &Desired,
    physical: &ec2::Physical,
) -> Result<String, AwsError> {
    let (domain, tags) = (&m.metadata.name, &m.spec.tags);
    match service(d.id.kind) {
        Service::Ec2 => ec2::create(aws, domain, tags, d, physical).await,
        Service::Rds => rds::create(aws, domain, tags, d, physical).await,
        Service::Ecr => {
            let name = ecr::repository_name(domain, m.spec.image.repository.as_deref());
            ecr::create(aws, domain, tags, d, &name).await
        }
        Service::Iam => iam::create(aws, domain, tags, d).await,
    }
}

async fn update(
    aws: &Aws,
    d: &Desired,
    o: &Observed,
    change: &Change,
    physical: &ec2::Physical,
) -> Result<(), AwsError> {
    match service(d.id.kind) {
        Service::Ec2 => ec2::update(aws, d, o, change, physical).await,
        Service::Rds => rds::update(aws, d, o, change, physical).await,
        Service::Ecr => ecr::update(aws, d, o, change).await,
        Service::Iam => iam::update(aws, d, o, change).await,
    }
}

async fn delete(aws: &Aws, m: &AuthDomainManifest, o: &Observed) -> Result<(), AwsError> {
    match service(o.id.kind) {
        Service::Ec2 => ec2::delete(aws, o).await,
        Service::Rds => rds::delete(aws, o, m.spec.database.final_snapshot).await,
        Service::Ecr => ecr::delete(aws, o).await,
        Service::Iam => iam::delete(aws, o).await,
    }
}

/// Observe and diff.
pub async fn plan(aws: &Aws, m: &AuthDomainManifest) -> Result<(Plan, Vec<Observed>), AwsError> {
    let observed = observe(aws, m).await?;
    Ok((diff(&desired(m), &observed), observed))
}

/// The plan for removing everything tagged for the domain.
pub async fn destroy_plan(
    aws: &Aws,
    m: &AuthDomainManifest,
) -> Result<(Plan, Vec<Observed>), AwsError> {
    let observed = observe(aws, m).await?;
    Ok((diff(&[], &observed), observed))
}

/// One step taken.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub resource: ResourceId,
    pub action: Action,
    pub physical_id: String,
}

/// An apply that stopped part-way: what was done before the error.
#[derive(Debug, thiserror::Error)]
#[error("{error} (after {} completed step(s); re-running continues from here)", done.len())]
pub struct ApplyError {
    pub done: Vec<Step>,
    #[source]
    pub error: AwsError,
}

/// Carry out `plan` (made from `observed`). `progress` is told of each step as it completes.
pub async fn apply(
    aws: &Aws,
    m: &AuthDomainManifest,
    plan: &Plan,
    observed: &[Observed],
    mut progress: impl FnMut(&Step),
) -> Result<Vec<Step>, ApplyError> {
    let desired_list = desired(m);
    let wanted: BTreeMap<&ResourceId, &Desired> = desired_list.iter().map(|d| (&d.id, d)).collect();
    let by_id: BTreeMap<&ResourceId, &Observed> = observed.iter().map(|o| (&o.id, o)).collect();
    let mut physical: ec2::Physical = observed
        .iter()
        .map(|o| (o.id.clone(), o.physical_id.clone()))
        .collect();
    let mut done: Vec<Step> = Vec::new();
    let mut to_delete: Vec<&Observed> = Vec::new();
    let fail = |done: &Vec<Step>, error| ApplyError {
        done: done.clone(),
        error,
    };

    // Refuse up front what would fail half-way: deleting a protected database.
    for change in plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete && c.resource.kind == Kind::DbCluster)
    {
        if let Some(o) = by_id.get(&change.resource)
            && o.props
                .get("deletion-protection")
                .and_then(serde_json::Value::as_bool)
                == Some(true)
        {
            return Err(fail(
                &done,
                AwsError {
                    action: "delete",
                    resource: change.resource.to_string(),
                    code: "DeletionProtection".into(),
                    message: "the cluster has deletion protection: set spec.database.deletionProtection to false and apply \
                              first, or keep the database with deletionPolicy: Retain; nothing was changed"
                        .into(),
                    class: ErrorClass::Terminal,
                },
            ));
        }
    }
    // A plan that would replace the cluster (and lose its data) is refused before acting.
    if let Some(c) = plan
        .changes
        .iter()
        .find(|c| c.action == Action::Replace && c.resource.kind == Kind::DbCluster)
    {
        return Err(fail(
            &done,
            AwsError {
                action: "replace",
                resource: c.resource.to_string(),
                code: "WouldLoseData".into(),
                message: format!(
                    "{}: replacing the database would lose its data; refusing (nothing was changed)",
                    c.reason
                ),
                class: ErrorClass::Terminal,
            },
        ));
    }
    for change in plan.changes.iter().filter(|c| c.action == Action::Delete) {
        to_delete.push(by_id[&change.resource]);
    }
    // Independent branches run concurrently, one wave of dependencies at a time.
    for wave in waves(plan, &desired_list) {
        let physical_now = &physical;
        let results = futures::future::join_all(wave.iter().map(|&i| {
            let change = &plan.changes[i];
            let wanted = &wanted;
            let by_id = &by_id;
            async move {
                let d = wanted[&change.resource];
                let result = match change.action {
                    Action::Update => {
                        let o = by_id[&change.resource];
                        update(aws, d, o, change, physical_now)
                            .await
                            .map(|()| o.physical_id.clone())
                    }
                    _ => create(aws, m, d, physical_now).await,
                };
                (change, result)
            }
        }))
        .await;
        let mut first_error = None;
        for (change, result) in results {
            match result {
                Ok(id) => {
                    if change.action == Action::Replace
                        && let Some(o) = by_id.get(&change.resource)
                    {
                        to_delete.push(o);
                    }
                    if change.action != Action::Update {
                        physical.insert(change.resource.clone(), id.clone());
                    }
                    let step = Step {
                        resource: change.resource.clone(),
                        action: change.action,
                        physical_id: id,
                    };
                    progress(&step);
                    done.push(step);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(fail(&done, e));
        }
    }
    // Deletes last, referrers before what they refer to: replaced resources' old copies
    // and resources the spec no longer has.
    for o in delete_order(&to_delete) {
        delete(aws, m, o).await.map_err(|e| fail(&done, e))?;
        let step = Step {
            resource: o.id.clone(),
            action: Action::Delete,
            physical_id: o.physical_id.clone(),
        };
        progress(&step);
        done.push(step);
    }
    Ok(done)
}

/// What a deployed domain exposes, read from what exists (`authdomain outputs`). Fields
/// of parts not deployed yet are absent.
pub fn outputs(m: &AuthDomainManifest, observed: &[Observed]) -> serde_json::Value {
    let find = |kind: Kind| observed.iter().find(|o| o.id.kind == kind);
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
    });
    if let Some(map) = out.as_object_mut() {
        map.retain(|_, v| !v.is_null());
    }
    out
}
