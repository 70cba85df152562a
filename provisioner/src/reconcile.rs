//! observe → plan → act: the one path the CLI and the operator both call.

use std::collections::BTreeMap;

use crate::aws::{Aws, AwsError, ec2};
use crate::plan::{Action, Change, Desired, Observed, Plan, ResourceId, delete_order, diff, graph};
use crate::spec::AuthDomainManifest;

/// What the spec wants (so far: the network).
pub fn desired(m: &AuthDomainManifest) -> Vec<Desired> {
    graph::network(m)
}

/// Everything tagged for the domain.
pub async fn observe(aws: &Aws, m: &AuthDomainManifest) -> Result<Vec<Observed>, AwsError> {
    ec2::observe(aws, &m.metadata.name).await
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
    let domain = &m.metadata.name;
    let wanted: BTreeMap<ResourceId, Desired> =
        desired(m).into_iter().map(|d| (d.id.clone(), d)).collect();
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

    for change in &plan.changes {
        let Change {
            resource, action, ..
        } = change;
        match action {
            Action::Create | Action::Replace => {
                let d = &wanted[resource];
                let id = ec2::create(aws, domain, &m.spec.tags, d, &physical)
                    .await
                    .map_err(|e| fail(&done, e))?;
                if *action == Action::Replace
                    && let Some(o) = by_id.get(resource)
                {
                    to_delete.push(o);
                }
                physical.insert(resource.clone(), id.clone());
                let step = Step {
                    resource: resource.clone(),
                    action: *action,
                    physical_id: id,
                };
                progress(&step);
                done.push(step);
            }
            Action::Update => {
                let (d, o) = (&wanted[resource], by_id[resource]);
                ec2::update(aws, d, o, change, &physical)
                    .await
                    .map_err(|e| fail(&done, e))?;
                let step = Step {
                    resource: resource.clone(),
                    action: Action::Update,
                    physical_id: o.physical_id.clone(),
                };
                progress(&step);
                done.push(step);
            }
            Action::Delete => to_delete.push(by_id[resource]),
        }
    }
    // Deletes last, referrers before what they refer to: replaced resources' old copies
    // and resources the spec no longer has.
    for o in delete_order(&to_delete) {
        ec2::delete(aws, o).await.map_err(|e| fail(&done, e))?;
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
