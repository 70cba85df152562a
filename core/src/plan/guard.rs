//! The plans that are refused before anything is done: deleting a database that has
//! deletion protection (AWS would refuse half-way through a destroy), replacing one (its
//! data would be lost), taking over a registration the spec did not create, and removing
//! scopes that clients outside the spec's change still hold. Pure: the plan, what was
//! observed and what the caller allows decide.

use std::collections::BTreeSet;

use super::registrations::{SPEC_OWNER, holders, scope_names};
use super::{Action, Kind, Observed, Plan, ResourceId};

/// What the caller allows beyond the default: `--adopt` and `--remove-held-scopes` (the
/// operator: the annotations `authdomain.io/adopt-registrations` and
/// `authdomain.io/remove-held-scopes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Allow {
    /// Take over registrations with a spec name that nobody manages (made in the portal
    /// or through the admin API). Never the operator's.
    pub adopt: bool,
    /// Remove scopes from a resource server although clients hold them; the server takes
    /// them from those clients too.
    pub remove_held_scopes: bool,
}

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
    #[error(
        "{resource}: a registration of that name exists that the spec did not create (made in \
         the portal or the admin API): pass --adopt to manage it from the spec (the operator: \
         annotation authdomain.io/adopt-registrations: \"true\"), or rename the spec's; nothing \
         was changed"
    )]
    NotManaged { resource: ResourceId },
    #[error(
        "{resource}: managed by {owner}; the spec cannot take it over: rename the spec's, or \
         delete what manages it; nothing was changed"
    )]
    OwnedElsewhere { resource: ResourceId, owner: String },
    #[error(
        "{resource}: removing scope(s) that clients hold: {held}; pass --remove-held-scopes to take \
         them from those clients too (the operator: annotation authdomain.io/remove-held-scopes: \
         \"true\"); nothing was changed"
    )]
    ScopesHeld { resource: ResourceId, held: String },
}

impl Refusal {
    /// A CamelCase word for conditions, metrics and JSON output.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::DeletionProtection { .. } => "DeletionProtection",
            Refusal::WouldLoseData { .. } => "WouldLoseData",
            Refusal::NotManaged { .. } => "NotManaged",
            Refusal::OwnedElsewhere { .. } => "OwnedElsewhere",
            Refusal::ScopesHeld { .. } => "ScopesHeld",
        }
    }
}

/// The first reason `plan` (made from `observed`) must not be carried out, if any.
pub fn refusal(plan: &Plan, observed: &[Observed], allow: Allow) -> Option<Refusal> {
    refusals(plan, observed, allow).into_iter().next()
}

/// Every reason `plan` must not be carried out (what `plan` shows before anyone applies).
pub fn refusals(plan: &Plan, observed: &[Observed], allow: Allow) -> Vec<Refusal> {
    let mut out: Vec<Refusal> = database(plan, observed).into_iter().collect();
    out.extend(registrations(plan, observed, allow));
    out
}

fn database(plan: &Plan, observed: &[Observed]) -> Option<Refusal> {
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

/// Take-overs and held scopes.
fn registrations(plan: &Plan, observed: &[Observed], allow: Allow) -> Vec<Refusal> {
    let find = |id: &ResourceId| observed.iter().find(|o| &o.id == id);
    let mut out = Vec::new();
    for c in plan.changes.iter().filter(|c| c.touches("managed-by")) {
        let owner = find(&c.resource)
            .and_then(|o| o.props.get("managed-by"))
            .and_then(serde_json::Value::as_str);
        match owner {
            Some(SPEC_OWNER) => {}
            Some(owner) => out.push(Refusal::OwnedElsewhere {
                resource: c.resource.clone(),
                owner: owner.to_owned(),
            }),
            None if allow.adopt => {}
            None => out.push(Refusal::NotManaged {
                resource: c.resource.clone(),
            }),
        }
    }
    if allow.remove_held_scopes {
        return out;
    }
    // Clients the plan itself takes a scope from (or deletes) do not hold it any more.
    let letting_go = |client_id: &str, scope: &str| {
        plan.changes.iter().any(|c| {
            c.resource.kind == Kind::Client
                && c.physical_id.as_deref() == Some(client_id)
                && (c.action == Action::Delete
                    || c.fields.iter().any(|f| {
                        f.field == "scopes"
                            && !f
                                .desired
                                .as_array()
                                .is_some_and(|a| a.iter().any(|s| s == scope))
                    }))
        })
    };
    for c in plan.changes.iter().filter(|c| {
        c.resource.kind == Kind::ResourceServer
            && (c.action == Action::Delete || c.touches("scopes"))
    }) {
        let Some(o) = find(&c.resource) else {
            continue;
        };
        let keeps: BTreeSet<String> = if c.action == Action::Delete {
            BTreeSet::new()
        } else {
            scope_names(
                c.fields
                    .iter()
                    .find(|f| f.field == "scopes")
                    .map(|f| &f.desired),
            )
        };
        let mut held = Vec::new();
        for scope in scope_names(o.props.get("scopes")).difference(&keeps) {
            let names: Vec<String> = holders(o, scope)
                .into_iter()
                .filter(|(id, _)| !letting_go(id, scope))
                .map(|(id, name)| format!("{name} ({id})"))
                .collect();
            if !names.is_empty() {
                held.push(format!("`{scope}` by {}", names.join(", ")));
            }
        }
        if !held.is_empty() {
            out.push(Refusal::ScopesHeld {
                resource: c.resource.clone(),
                held: held.join("; "),
            });
        }
    }
    out
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
            refusal(&delete, &[cluster(true)], Allow::default()).map(|r| r.code()),
            Some("DeletionProtection")
        );
        assert_eq!(refusal(&delete, &[cluster(false)], Allow::default()), None);
        let replace = Plan {
            changes: vec![
                change(Kind::Vpc, Action::Create),
                change(Kind::DbCluster, Action::Replace),
            ],
        };
        let r = refusal(&replace, &[cluster(false)], Allow::default()).unwrap();
        assert_eq!(r.code(), "WouldLoseData");
        assert!(r.to_string().contains("engine changed"), "{r}");
        let harmless = Plan {
            changes: vec![change(Kind::Function, Action::Replace)],
        };
        assert_eq!(refusal(&harmless, &[cluster(true)], Allow::default()), None);
    }
}
