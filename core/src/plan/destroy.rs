//! What destroy removes and what it keeps. Pure: the observed resources, the spec's
//! `deletionPolicy` and the final snapshots that exist decide.

use serde::Serialize;

use super::{Facts, Kind, Observed, Plan, ResourceId, diff_with, retained};
use crate::spec::{AuthDomainManifest, DeletionPolicy};

/// Something destroy leaves in place, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub resource: ResourceId,
    pub reason: String,
}

/// The plan that removes what the domain's `deletionPolicy` lets go of `observed`, and
/// what it keeps although the policy is `Delete`.
///
/// - With `Retain`, only the serving tier goes (function, API, role); the data and what
///   reading it needs stay (network, database, KMS key, secrets, images).
/// - A KMS key already scheduled for deletion (an earlier destroy) has nothing left to do.
/// - While a final snapshot exists (`snapshots`) or is about to be taken (the cluster
///   goes and `spec.database.finalSnapshot`), the KMS key and the KEK secret stay: the
///   snapshot holds the signing keys and client secrets encrypted under the KEK, which is
///   encrypted under the key, so deleting either would make them unreadable for good.
pub fn destroy_plan(
    m: &AuthDomainManifest,
    observed: &[Observed],
    snapshots: &[String],
) -> (Plan, Vec<Kept>) {
    let mut plan = diff_with(&[], observed, &Facts::default());
    plan.changes.retain(|c| {
        c.resource.kind != Kind::KmsKey
            || observed.iter().all(|o| {
                o.id != c.resource
                    || o.props.get("state").and_then(serde_json::Value::as_str)
                        != Some("PendingDeletion")
            })
    });
    let mut kept = Vec::new();
    if m.spec.deletion_policy == DeletionPolicy::Retain {
        plan.changes.retain(|c| !retained(c.resource.kind));
        return (plan, kept);
    }
    let cluster_goes = plan
        .changes
        .iter()
        .any(|c| c.resource.kind == Kind::DbCluster);
    let why = if cluster_goes && m.spec.database.final_snapshot {
        Some(
            "destroy takes a final snapshot of db-cluster/main (spec.database.finalSnapshot)"
                .to_owned(),
        )
    } else if !snapshots.is_empty() {
        Some(format!("final snapshot(s) {} exist", snapshots.join(", ")))
    } else {
        None
    };
    if let Some(why) = why {
        let key_needed = [
            (
                ResourceId::new(Kind::KmsKey, "main"),
                "the KEK secret is encrypted under it",
            ),
            (
                ResourceId::new(Kind::Secret, "kek"),
                "it holds the key-encryption key of the snapshot's signing keys and client secrets",
            ),
        ];
        for (id, role) in key_needed {
            if plan.changes.iter().any(|c| c.resource == id) {
                plan.changes.retain(|c| c.resource != id);
                kept.push(Kept {
                    resource: id,
                    reason: format!(
                        "{why}; {role}. Delete the snapshot(s) first, then destroy again removes it"
                    ),
                });
            }
        }
    }
    (plan, kept)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn observed(kind: Kind, name: &str, props: &[(&str, serde_json::Value)]) -> Observed {
        Observed {
            id: ResourceId::new(kind, name),
            physical_id: format!("{}-{name}", kind.as_str()),
            props: props
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            refs: BTreeMap::new(),
        }
    }

    fn manifest(policy: &str, final_snapshot: bool) -> AuthDomainManifest {
        let yaml = format!(
            "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: d\nspec:\n  region: us-east-1\n  \
             deletionPolicy: {policy}\n  database:\n    finalSnapshot: {final_snapshot}\n"
        );
        crate::spec::load_str(&yaml, "d.yaml").expect("valid")
    }

    fn domain() -> Vec<Observed> {
        vec![
            observed(Kind::Vpc, "main", &[]),
            observed(Kind::DbCluster, "main", &[]),
            observed(Kind::KmsKey, "main", &[("state", "Enabled".into())]),
            observed(Kind::Secret, "kek", &[]),
            observed(Kind::Function, "main", &[]),
        ]
    }

    fn ids(plan: &Plan) -> Vec<String> {
        plan.changes
            .iter()
            .map(|c| c.resource.to_string())
            .collect()
    }

    #[test]
    fn retain_removes_only_the_serving_tier() {
        let (plan, kept) = destroy_plan(&manifest("Retain", false), &domain(), &[]);
        assert_eq!(ids(&plan), vec!["function/main"]);
        assert!(kept.is_empty());
    }

    #[test]
    fn the_key_and_the_kek_stay_while_a_final_snapshot_needs_them() {
        // The cluster goes now and a final snapshot is taken: both stay.
        let (plan, kept) = destroy_plan(&manifest("Delete", true), &domain(), &[]);
        assert!(!ids(&plan).contains(&"kms-key/main".to_owned()), "{plan:?}");
        assert!(!ids(&plan).contains(&"secret/kek".to_owned()));
        assert_eq!(kept.len(), 2);
        assert!(kept[0].reason.contains("finalSnapshot"), "{kept:?}");
        // The cluster is gone already (a second destroy) but its snapshot exists.
        let rest: Vec<Observed> = domain()
            .into_iter()
            .filter(|o| o.id.kind != Kind::DbCluster)
            .collect();
        let (_, kept) = destroy_plan(&manifest("Delete", true), &rest, &["d-final".into()]);
        assert_eq!(kept.len(), 2);
        assert!(kept[1].reason.contains("d-final exist"), "{kept:?}");
        // No snapshot and none to take: everything goes.
        let (plan, kept) = destroy_plan(&manifest("Delete", false), &domain(), &[]);
        assert!(kept.is_empty());
        assert_eq!(plan.changes.len(), 5);
    }

    #[test]
    fn a_key_already_scheduled_for_deletion_is_left_alone() {
        let mut o = domain();
        o[2] = observed(Kind::KmsKey, "main", &[("state", "PendingDeletion".into())]);
        let (plan, _) = destroy_plan(&manifest("Delete", false), &o, &[]);
        assert!(!ids(&plan).contains(&"kms-key/main".to_owned()));
    }
}
