//! Changes that must wait: a plan split into what can run now and what needs a value
//! nothing in the plan will produce (an image not pushed yet).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Action, Change, Desired, Facts, Plan, ResourceId};
use crate::spec::AuthDomainManifest;

/// What a person does when changes wait for the domain's image.
pub const IMAGE_ADVICE: &str = "set spec.image.digest, push spec.image.tag to the repository, or \
     run `authdomain bootstrap` (it builds and pushes one)";

/// Changes that wait, and the values they wait for.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Deferred {
    pub changes: Vec<Change>,
    /// The facts nothing in the plan will produce (`image.digest`, …).
    pub missing: Vec<String>,
}

impl Deferred {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Whether what is missing is the domain's image (a tag not pushed, no digest).
    pub fn waits_for_image(&self) -> bool {
        self.missing.iter().any(|f| is_image_fact(f))
    }

    /// `3 change(s) wait for image.digest: function/main, …`.
    pub fn summary(&self) -> String {
        format!(
            "{} change(s) wait for {}: {}",
            self.changes.len(),
            self.missing.join(", "),
            self.changes
                .iter()
                .map(|c| c.resource.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// Whether registrations wait for the auth server's first read model.
    pub fn waits_for_read_model(&self) -> bool {
        self.missing
            .iter()
            .any(|f| f == super::registrations::ISSUER_FACT)
    }

    /// What to do about it, when a person can do something.
    pub fn advice(&self) -> Option<&'static str> {
        if self.waits_for_image() {
            Some(IMAGE_ADVICE)
        } else if self.waits_for_read_model() {
            Some(super::registrations::READ_MODEL_ADVICE)
        } else {
            None
        }
    }
}

/// Whether a fact is the image's (its digest, or the repository's digest of a tag).
pub fn is_image_fact(fact: &str) -> bool {
    fact.starts_with("image.") || fact.contains("image-digest")
}

/// Split a plan into what can run now and what must wait for a value nothing in the plan
/// will produce (an image not pushed yet), with everything that depends on those.
pub fn defer_unknown(m: &AuthDomainManifest, plan: &Plan, facts: &Facts) -> (Plan, Deferred) {
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
    (
        Plan { changes: run },
        Deferred {
            changes: deferred,
            missing: missing_all,
        },
    )
}
