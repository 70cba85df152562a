//! Changes that must wait: a plan split into what can run now and what needs a value
//! nothing in the plan will produce (an image not pushed yet).

use std::collections::BTreeMap;

use super::{Action, Change, Desired, Facts, Plan, ResourceId};
use crate::spec::AuthDomainManifest;

/// Split a plan into what can run now and what must wait for a value nothing in the plan
/// will produce (an image not pushed yet), with everything that depends on those.
/// Returns (runnable plan, deferred changes, the missing facts).
pub fn defer_unknown(
    m: &AuthDomainManifest,
    plan: &Plan,
    facts: &Facts,
) -> (Plan, Vec<Change>, Vec<String>) {
    let desired_list = super::graph::desired(m);
    let wanted: BTreeMap<&ResourceId, &Desired> = desired_list.iter().map(|d| (&d.id, d)).collect();
    // Facts the plan itself will establish: those of resources it creates or replaces,
    // and the account once anything with an ARN exists.
    let producing: Vec<String> = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Create | Action::Replace))
        .map(|c| format!("{}.", c.resource))
        .collect();
    let producible = |fact: &str| {
        fact == "account" && !plan.changes.is_empty()
            || producing.iter().any(|p| fact.starts_with(p.as_str()))
    };
    let mut blocked: std::collections::BTreeSet<ResourceId> = Default::default();
    let mut missing_all: Vec<String> = Vec::new();
    for c in plan.changes.iter().filter(|c| c.action != Action::Delete) {
        let Some(d) = wanted.get(&c.resource) else {
            continue;
        };
        let missing: Vec<String> = match d.resolved(facts) {
            Ok(_) => Vec::new(),
            Err(m) => m.into_iter().filter(|f| !producible(f)).collect(),
        };
        if !missing.is_empty() || d.depends_on().any(|dep| blocked.contains(dep)) {
            missing_all.extend(missing);
            blocked.insert(c.resource.clone());
        }
    }
    missing_all.sort();
    missing_all.dedup();
    let (deferred, run): (Vec<Change>, Vec<Change>) = plan
        .changes
        .iter()
        .cloned()
        .partition(|c| blocked.contains(&c.resource));
    (Plan { changes: run }, deferred, missing_all)
}
