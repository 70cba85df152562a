//! The plans that are refused before anything is done: deleting a database that has
//! deletion protection (AWS would refuse half-way through a destroy), and replacing one
//! (its data would be lost). Pure: the plan and what was observed decide.

use super::{Action, Kind, Observed, Plan, ResourceId};

/// Why a plan is refused. Nothing was changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "{resource}: the cluster has deletion protection: set spec.database.deletionProtection to \
         false and apply first, or keep the database with deletionPolicy: Retain; nothing was changed"
    )]
    DeletionProtection { resource: ResourceId },
    #[error(
        "{resource}: {reason}: replacing the database would lose its data; refusing (nothing was \
         changed)"
    )]
    WouldLoseData {
        resource: ResourceId,
        reason: String,
    },
}

impl Refusal {
    /// A CamelCase word for conditions, metrics and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::DeletionProtection { .. } => "DeletionProtection",
            Refusal::WouldLoseData { .. } => "WouldLoseData",
        }
    }
}

/// The first reason `plan` (made from `observed`) must not be carried out, if any.
pub fn refusal(plan: &Plan, observed: &[Observed]) -> Option<Refusal> {
    let protected = |id: &ResourceId| {
        observed.iter().any(|o| {
            &o.id == id
                && o.props
                    .get("deletion-protection")
                    .and_then(serde_json::Value::as_bool)
                    == Some(true)
        })
    };
    if let Some(c) = plan.changes.iter().find(|c| {
        c.action == Action::Delete && c.resource.kind == Kind::DbCluster && protected(&c.resource)
    }) {
        return Some(Refusal::DeletionProtection {
            resource: c.resource.clone(),
        });
    }
    plan.changes
        .iter()
        .find(|c| c.action == Action::Replace && c.resource.kind == Kind::DbCluster)
        .map(|c| Refusal::WouldLoseData {
            resource: c.resource.clone(),
            reason: c.reason.clone(),
        })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::plan::Change;

    fn change(kind: Kind, action: Action) -> Change {
        Change {
            resource: ResourceId::new(kind, "main"),
            action,
            physical_id: None,
            reason: "engine changed".into(),
            fields: Vec::new(),
        }
    }

    fn cluster(protected: bool) -> Observed {
        Observed {
            id: ResourceId::new(Kind::DbCluster, "main"),
            physical_id: "d-main".into(),
            props: BTreeMap::from([("deletion-protection".into(), protected.into())]),
            refs: BTreeMap::new(),
        }
    }

    #[test]
    fn a_protected_cluster_is_never_deleted_and_no_cluster_is_replaced() {
        let delete = Plan {
            changes: vec![change(Kind::DbCluster, Action::Delete)],
        };
        assert_eq!(
            refusal(&delete, &[cluster(true)]).map(|r| r.code()),
            Some("DeletionProtection")
        );
        assert_eq!(refusal(&delete, &[cluster(false)]), None);
        let replace = Plan {
            changes: vec![
                change(Kind::Vpc, Action::Create),
                change(Kind::DbCluster, Action::Replace),
            ],
        };
        let r = refusal(&replace, &[cluster(false)]).unwrap();
        assert_eq!(r.code(), "WouldLoseData");
        assert!(r.to_string().contains("engine changed"), "{r}");
        let harmless = Plan {
            changes: vec![change(Kind::Function, Action::Replace)],
        };
        assert_eq!(refusal(&harmless, &[cluster(true)]), None);
    }
}
