//! The plan: the desired resource graph of a spec, `diff(desired, observed) -> Plan`, and
//! the order to act in. Pure: no AWS, no I/O; the `aws` modules observe and act.
//!
//! Resources are property maps (`serde_json::Value`s) so that diffing, drift reports and
//! JSON output are generic. The AWS side normalises what it observes into the same
//! canonical form (sorted lists, decoded policy documents), so a value AWS returns in
//! another form is never a change.

mod defer;
mod destroy;
pub mod graph;
mod guard;
pub mod names;
mod outputs;
pub mod registrations;
pub mod zones;

pub use defer::{Deferred, IMAGE_ADVICE, defer_unknown, is_image_fact};
pub use destroy::{Kept, destroy_plan};
pub use graph::{desired, retained};
pub use guard::{Allow, Refusal, refusal, refusals};
pub use outputs::outputs;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use serde_json::Value;

/// Kinds of resource, in dependency order: a kind may depend only on kinds before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Vpc,
    Subnet,
    InternetGateway,
    ElasticIp,
    NatGateway,
    RouteTable,
    SecurityGroup,
    DbSubnetGroup,
    DbCluster,
    DbInstance,
    KmsKey,
    Secret,
    EcrRepository,
    IamRole,
    IamPolicy,
    Api,
    Function,
    ApiIntegration,
    ApiRoute,
    ApiStage,
    LambdaPermission,
    /// An authorizer this domain attached to a team's HTTP API (`spec.protectedApis`).
    ApiAuthorizer,
    /// The authorization settings of one route of a team's API: the route itself is the
    /// team's; "deleting" this resets the route to no authorization.
    RouteAuthorization,
    /// The VPC's gateway endpoint for S3: the function reaches the read model through it
    /// (no NAT, no hourly charge).
    VpcEndpoint,
    /// The bucket of the read model.
    Bucket,
    /// A resource server (an API and its scopes) registered on the auth server from
    /// `spec.resourceServers`: named by its identifier.
    ResourceServer,
    /// A client registered on the auth server from `spec.clients`: named by its spec name.
    Client,
}

/// The AWS service (and, where one service has several, the part of it) whose module
/// creates, updates and deletes a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Ec2,
    Rds,
    Ecr,
    Iam,
    IamPolicy,
    Kms,
    Secrets,
    Function,
    Permission,
    Api,
    /// The parts of the teams' APIs that `spec.protectedApis` owns.
    Protection,
    S3,
    /// The auth server's own registrations, written through management events.
    Registrations,
}

impl Kind {
    /// Which service module handles the kind.
    pub fn service(self) -> Service {
        match self {
            Kind::DbSubnetGroup | Kind::DbCluster | Kind::DbInstance => Service::Rds,
            Kind::EcrRepository => Service::Ecr,
            Kind::IamRole => Service::Iam,
            Kind::IamPolicy => Service::IamPolicy,
            Kind::KmsKey => Service::Kms,
            Kind::Secret => Service::Secrets,
            Kind::Function => Service::Function,
            Kind::LambdaPermission => Service::Permission,
            Kind::Api | Kind::ApiIntegration | Kind::ApiRoute | Kind::ApiStage => Service::Api,
            Kind::ApiAuthorizer | Kind::RouteAuthorization => Service::Protection,
            Kind::Bucket => Service::S3,
            Kind::ResourceServer | Kind::Client => Service::Registrations,
            Kind::Vpc
            | Kind::VpcEndpoint
            | Kind::Subnet
            | Kind::InternetGateway
            | Kind::ElasticIp
            | Kind::NatGateway
            | Kind::RouteTable
            | Kind::SecurityGroup => Service::Ec2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vpc => "vpc",
            Kind::Subnet => "subnet",
            Kind::InternetGateway => "internet-gateway",
            Kind::ElasticIp => "elastic-ip",
            Kind::NatGateway => "nat-gateway",
            Kind::RouteTable => "route-table",
            Kind::SecurityGroup => "security-group",
            Kind::DbSubnetGroup => "db-subnet-group",
            Kind::DbCluster => "db-cluster",
            Kind::DbInstance => "db-instance",
            Kind::KmsKey => "kms-key",
            Kind::Secret => "secret",
            Kind::EcrRepository => "ecr-repository",
            Kind::IamRole => "iam-role",
            Kind::IamPolicy => "iam-policy",
            Kind::Api => "api",
            Kind::Function => "function",
            Kind::ApiIntegration => "api-integration",
            Kind::ApiRoute => "api-route",
            Kind::ApiStage => "api-stage",
            Kind::LambdaPermission => "lambda-permission",
            Kind::ApiAuthorizer => "api-authorizer",
            Kind::RouteAuthorization => "route-authorization",
            Kind::VpcEndpoint => "vpc-endpoint",
            Kind::Bucket => "s3-bucket",
            Kind::ResourceServer => "resource-server",
            Kind::Client => "client",
        }
    }
}

/// A resource's identity in the graph: kind and logical name (stable across applies; it is
/// the `authdomain.io/resource` tag on AWS).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ResourceId {
    pub kind: Kind,
    pub name: String,
}

impl ResourceId {
    pub fn new(kind: Kind, name: impl Into<String>) -> ResourceId {
        ResourceId {
            kind,
            name: name.into(),
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.name)
    }
}

/// A reference from one resource's field to other resources' physical ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Ref {
    One(ResourceId),
    Many(Vec<ResourceId>),
}

impl Ref {
    pub fn targets(&self) -> Vec<&ResourceId> {
        match self {
            Ref::One(id) => vec![id],
            Ref::Many(ids) => ids.iter().collect(),
        }
    }
}

/// What the spec wants.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub id: ResourceId,
    /// Managed fields and their canonical values. Fields AWS has but we do not manage are
    /// not here and never cause a change.
    pub props: BTreeMap<String, Value>,
    /// Fields whose value is the physical id of other resources.
    pub refs: BTreeMap<String, Ref>,
    /// Fields that AWS cannot change in place: a difference there means replace.
    pub immutable: BTreeSet<String>,
    /// Resources that must exist first although no reference field names them (their
    /// values reach this one through `${fact}` placeholders).
    pub after: BTreeSet<ResourceId>,
}

impl Desired {
    pub fn new(id: ResourceId) -> Desired {
        Desired {
            id,
            props: BTreeMap::new(),
            refs: BTreeMap::new(),
            immutable: BTreeSet::new(),
            after: BTreeSet::new(),
        }
    }
    pub fn prop(mut self, field: &str, value: impl Into<Value>) -> Desired {
        self.props.insert(field.to_owned(), value.into());
        self
    }
    pub fn immutable_prop(mut self, field: &str, value: impl Into<Value>) -> Desired {
        self.immutable.insert(field.to_owned());
        self.prop(field, value)
    }
    pub fn reference(mut self, field: &str, target: Ref, immutable: bool) -> Desired {
        if immutable {
            self.immutable.insert(field.to_owned());
        }
        self.refs.insert(field.to_owned(), target);
        self
    }
    /// Order after `target` without a reference field.
    pub fn after(mut self, target: ResourceId) -> Desired {
        self.after.insert(target);
        self
    }
    pub fn depends_on(&self) -> impl Iterator<Item = &ResourceId> {
        self.refs
            .values()
            .flat_map(Ref::targets)
            .chain(self.after.iter())
    }
    /// This resource with every `${fact}` placeholder in its props resolved, or the names
    /// of the facts not known yet.
    pub fn resolved(&self, facts: &Facts) -> Result<Desired, Vec<String>> {
        let mut out = self.clone();
        let mut missing = Vec::new();
        for v in out.props.values_mut() {
            match facts.resolve(v) {
                Ok(r) => *v = r,
                Err(m) => missing.extend(m),
            }
        }
        if missing.is_empty() {
            Ok(out)
        } else {
            missing.sort();
            missing.dedup();
            Err(missing)
        }
    }
}

/// Values known only once resources exist: the account id, an endpoint, an ARN, an image
/// digest. Desired props refer to them as `${name}` (names like `region`, `account`,
/// `db-cluster/main.endpoint`); the diff compares the resolved value, and the reconciler
/// resolves them again right before acting, so a value created earlier in the same apply
/// reaches its users.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts(BTreeMap<String, String>);

impl Facts {
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.insert(name.into(), value.into());
    }
    /// Drop the facts of `id` (`<id>.<name>`): it is about to be created or replaced.
    pub fn forget(&mut self, id: &ResourceId) {
        let prefix = format!("{id}.");
        self.0.retain(|k, _| !k.starts_with(&prefix));
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
    /// `v` with placeholders replaced, or the names of the unknown facts.
    pub fn resolve(&self, v: &Value) -> Result<Value, Vec<String>> {
        match v {
            Value::String(s) => self.resolve_str(s).map(Value::String),
            Value::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                let mut missing = Vec::new();
                for x in a {
                    match self.resolve(x) {
                        Ok(r) => out.push(r),
                        Err(m) => missing.extend(m),
                    }
                }
                if missing.is_empty() {
                    Ok(Value::Array(out))
                } else {
                    Err(missing)
                }
            }
            Value::Object(o) => {
                let mut out = serde_json::Map::new();
                let mut missing = Vec::new();
                for (k, x) in o {
                    match self.resolve(x) {
                        Ok(r) => {
                            out.insert(k.clone(), r);
                        }
                        Err(m) => missing.extend(m),
                    }
                }
                if missing.is_empty() {
                    Ok(Value::Object(out))
                } else {
                    Err(missing)
                }
            }
            other => Ok(other.clone()),
        }
    }
    fn resolve_str(&self, s: &str) -> Result<String, Vec<String>> {
        let mut out = String::with_capacity(s.len());
        let mut missing = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            match self.0.get(name) {
                Some(v) => out.push_str(v),
                None => missing.push(name.to_owned()),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        if missing.is_empty() {
            Ok(out)
        } else {
            Err(missing)
        }
    }
}

/// What exists in the account (found by our tags), normalised.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    pub id: ResourceId,
    pub physical_id: String,
    pub props: BTreeMap<String, Value>,
    /// Reference fields as physical ids (one or several).
    pub refs: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Replace,
    Delete,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
        }
    }
}

/// One field that differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldChange {
    pub field: String,
    pub desired: Value,
    pub actual: Value,
}

/// One resource to act on, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub resource: ResourceId,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    pub reason: String,
}

impl Change {
    /// Whether `field` is among the fields that differ.
    pub fn touches(&self, field: &str) -> bool {
        self.fields.iter().any(|f| f.field == field)
    }
}

/// The changes in the order to apply them: creates, updates and replaces in dependency
/// order, then deletes in reverse dependency order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }
}

/// Values equal for our purposes: numbers by value (2 == 2.0), everything else exactly.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Compare what the spec wants with what exists (no facts: for graphs without placeholders).
pub fn diff(desired: &[Desired], observed: &[Observed]) -> Plan {
    diff_with(desired, observed, &Facts::default())
}

/// Compare what the spec wants, with placeholders resolved from `facts`, with what exists.
/// A prop whose facts are unknown differs (it will be known once what it names exists).
pub fn diff_with(desired: &[Desired], observed: &[Observed], facts: &Facts) -> Plan {
    // Facts of resources that will be created or replaced are not known until then.
    let mut facts = facts.clone();
    let by_id: BTreeMap<&ResourceId, &Observed> = observed.iter().map(|o| (&o.id, o)).collect();
    let mut changes: Vec<Change> = Vec::new();
    // Resources that will get a new physical id: their dependents' reference fields change.
    let mut renewed: BTreeSet<ResourceId> = BTreeSet::new();

    let mut ordered: Vec<&Desired> = desired.iter().collect();
    ordered.sort_by(|a, b| a.id.cmp(&b.id));
    let ordered = topological(&ordered);

    for d in ordered {
        let Some(o) = by_id.get(&d.id) else {
            facts.forget(&d.id);
            renewed.insert(d.id.clone());
            changes.push(Change {
                resource: d.id.clone(),
                action: Action::Create,
                physical_id: None,
                fields: Vec::new(),
                reason: "does not exist".into(),
            });
            continue;
        };
        let mut fields = Vec::new();
        for (field, want) in &d.props {
            let have = o.props.get(field).cloned().unwrap_or(Value::Null);
            match facts.resolve(want) {
                Ok(want) if same(&want, &have) => {}
                Ok(want) => fields.push(FieldChange {
                    field: field.clone(),
                    desired: want,
                    actual: have,
                }),
                // Not known yet: shown in placeholder form.
                Err(_) => fields.push(FieldChange {
                    field: field.clone(),
                    desired: want.clone(),
                    actual: have,
                }),
            }
        }
        for (field, target) in &d.refs {
            let have: Vec<String> = o.refs.get(field).cloned().unwrap_or_default();
            let mut want: Vec<String> = Vec::new();
            let mut pending = false;
            for t in target.targets() {
                match by_id.get(t) {
                    Some(obs) if !renewed.contains(t) => want.push(obs.physical_id.clone()),
                    _ => {
                        pending = true;
                        want.push(format!("(new {t})"));
                    }
                }
            }
            let (mut w, mut h) = (want.clone(), have.clone());
            w.sort();
            h.sort();
            if pending || w != h {
                fields.push(FieldChange {
                    field: field.clone(),
                    desired: Value::from(want),
                    actual: Value::from(have),
                });
            }
        }
        if fields.is_empty() {
            continue;
        }
        let immutable: Vec<&str> = fields
            .iter()
            .filter(|f| d.immutable.contains(&f.field))
            .map(|f| f.field.as_str())
            .collect();
        let (action, reason) = if immutable.is_empty() {
            (
                Action::Update,
                format!(
                    "{} differ{}",
                    list(&fields),
                    if fields.len() == 1 { "s" } else { "" }
                ),
            )
        } else {
            facts.forget(&d.id);
            renewed.insert(d.id.clone());
            (
                Action::Replace,
                format!("{} cannot change in place", immutable.join(", ")),
            )
        };
        changes.push(Change {
            resource: d.id.clone(),
            action,
            physical_id: Some(o.physical_id.clone()),
            fields,
            reason,
        });
    }

    let wanted: BTreeSet<&ResourceId> = desired.iter().map(|d| &d.id).collect();
    let mut orphans: Vec<&Observed> = observed
        .iter()
        .filter(|o| !wanted.contains(&o.id))
        .collect();
    orphans.sort_by(|a, b| b.id.cmp(&a.id)); // reverse dependency order
    for o in orphans {
        changes.push(Change {
            resource: o.id.clone(),
            action: Action::Delete,
            physical_id: Some(o.physical_id.clone()),
            fields: Vec::new(),
            reason: if o.id.kind.service() == Service::Registrations {
                "registered by the spec (managed-by: spec) but no longer in it".into()
            } else {
                "tagged as this domain's but not in the spec".into()
            },
        });
    }
    Plan { changes }
}

/// Group the plan's creates, updates and replaces into waves that may run concurrently:
/// a change goes one wave after the latest change it depends on (through the desired
/// graph). Returns indices into `plan.changes`; deletes are not included (they run after,
/// in [`delete_order`]).
pub fn waves(plan: &Plan, desired: &[Desired]) -> Vec<Vec<usize>> {
    let deps: BTreeMap<&ResourceId, Vec<&ResourceId>> = desired
        .iter()
        .map(|d| (&d.id, d.depends_on().collect()))
        .collect();
    let mut level: BTreeMap<&ResourceId, usize> = BTreeMap::new();
    let mut waves: Vec<Vec<usize>> = Vec::new();
    // The plan is in dependency order, so every dependency's level is known when needed.
    for (i, c) in plan.changes.iter().enumerate() {
        if c.action == Action::Delete {
            continue;
        }
        let l = deps
            .get(&c.resource)
            .into_iter()
            .flatten()
            .filter_map(|d| level.get(d))
            .map(|l| l + 1)
            .max()
            .unwrap_or(0);
        level.insert(&c.resource, l);
        if waves.len() <= l {
            waves.resize(l + 1, Vec::new());
        }
        waves[l].push(i);
    }
    waves
}

/// Order observed resources for deletion: every resource before the resources it refers
/// to (by physical id), ties by reverse kind/name.
pub fn delete_order<'a>(items: &[&'a Observed]) -> Vec<&'a Observed> {
    let mut sorted: Vec<&Observed> = items.to_vec();
    sorted.sort_by(|a, b| b.id.cmp(&a.id));
    let by_physical: BTreeMap<&str, usize> = sorted
        .iter()
        .enumerate()
        .map(|(i, o)| (o.physical_id.as_str(), i))
        .collect();
    // Dependents first: visit a resource only after everything that refers to it.
    let mut referrers: Vec<Vec<usize>> = vec![Vec::new(); sorted.len()];
    for (i, o) in sorted.iter().enumerate() {
        for target in o.refs.values().flatten() {
            if let Some(&j) = by_physical.get(target.as_str())
                && j != i
            {
                referrers[j].push(i);
            }
        }
    }
    let mut placed = vec![false; sorted.len()];
    let mut out = Vec::with_capacity(sorted.len());
    fn visit<'a>(
        i: usize,
        sorted: &[&'a Observed],
        referrers: &[Vec<usize>],
        placed: &mut [bool],
        out: &mut Vec<&'a Observed>,
        depth: usize,
    ) {
        if placed[i] || depth > sorted.len() {
            return;
        }
        for &r in &referrers[i] {
            visit(r, sorted, referrers, placed, out, depth + 1);
        }
        if !placed[i] {
            placed[i] = true;
            out.push(sorted[i]);
        }
    }
    for i in 0..sorted.len() {
        visit(i, &sorted, &referrers, &mut placed, &mut out, 0);
    }
    out
}

fn list(fields: &[FieldChange]) -> String {
    fields
        .iter()
        .map(|f| f.field.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Order resources so that every resource comes after those it references (stable: ties
/// keep kind/name order). References only point to earlier kinds, but within a kind (route
/// tables referencing NAT gateways of the same tier) the graph decides.
fn topological<'a>(items: &[&'a Desired]) -> Vec<&'a Desired> {
    let index: BTreeMap<&ResourceId, usize> =
        items.iter().enumerate().map(|(i, d)| (&d.id, i)).collect();
    let mut placed = vec![false; items.len()];
    let mut out = Vec::with_capacity(items.len());
    fn visit<'a>(
        i: usize,
        items: &[&'a Desired],
        index: &BTreeMap<&ResourceId, usize>,
        placed: &mut Vec<bool>,
        out: &mut Vec<&'a Desired>,
        depth: usize,
    ) {
        if placed[i] || depth > items.len() {
            return;
        }
        for dep in items[i].depends_on() {
            if let Some(&j) = index.get(dep) {
                visit(j, items, index, placed, out, depth + 1);
            }
        }
        if !placed[i] {
            placed[i] = true;
            out.push(items[i]);
        }
    }
    for i in 0..items.len() {
        visit(i, items, &index, &mut placed, &mut out, 0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vpc() -> Desired {
        Desired::new(ResourceId::new(Kind::Vpc, "main"))
            .immutable_prop("cidr", "10.0.0.0/16")
            .prop("dns", true)
    }
    fn subnet() -> Desired {
        Desired::new(ResourceId::new(Kind::Subnet, "private-1"))
            .immutable_prop("cidr", "10.0.1.0/24")
            .reference("vpc", Ref::One(ResourceId::new(Kind::Vpc, "main")), true)
    }
    fn observed(d: &Desired, physical: &str, refs: &[(&str, &str)]) -> Observed {
        Observed {
            id: d.id.clone(),
            physical_id: physical.into(),
            props: d.props.clone(),
            refs: refs
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                .collect(),
        }
    }

    #[test]
    fn nothing_observed_creates_in_dependency_order() {
        let plan = diff(&[subnet(), vpc()], &[]);
        let order: Vec<String> = plan
            .changes
            .iter()
            .map(|c| c.resource.to_string())
            .collect();
        assert_eq!(order, ["vpc/main", "subnet/private-1"]);
        assert!(plan.changes.iter().all(|c| c.action == Action::Create));
    }

    #[test]
    fn in_sync_is_empty_and_numbers_compare_by_value() {
        let mut o = observed(&vpc(), "vpc-1", &[]);
        o.props.insert("extra-aws-field".into(), json!("ignored"));
        let s = observed(&subnet(), "subnet-1", &[("vpc", "vpc-1")]);
        assert!(diff(&[vpc(), subnet()], &[o.clone(), s]).is_empty());
        let d = Desired::new(ResourceId::new(Kind::Vpc, "main")).prop("n", 2);
        let mut o2 = observed(&d, "vpc-1", &[]);
        o2.props.insert("n".into(), json!(2.0));
        assert!(diff(&[d], &[o2]).is_empty());
    }

    #[test]
    fn mutable_field_updates_and_immutable_replaces_with_dependents() {
        let mut o = observed(&vpc(), "vpc-1", &[]);
        o.props.insert("dns".into(), json!(false));
        let s = observed(&subnet(), "subnet-1", &[("vpc", "vpc-1")]);
        let plan = diff(&[vpc(), subnet()], &[o.clone(), s.clone()]);
        assert_eq!(plan.changes.len(), 1);
        let c = &plan.changes[0];
        assert_eq!(
            (c.action, c.fields[0].field.as_str()),
            (Action::Update, "dns")
        );
        assert_eq!(
            (c.fields[0].desired.clone(), c.fields[0].actual.clone()),
            (json!(true), json!(false))
        );

        // A changed CIDR replaces the VPC, and the subnet (whose vpc reference changes) too.
        o.props.insert("cidr".into(), json!("10.9.0.0/16"));
        let plan = diff(&[vpc(), subnet()], &[o, s]);
        let actions: Vec<(String, Action)> = plan
            .changes
            .iter()
            .map(|c| (c.resource.to_string(), c.action))
            .collect();
        assert_eq!(
            actions,
            [
                ("vpc/main".into(), Action::Replace),
                ("subnet/private-1".into(), Action::Replace)
            ]
        );
        assert_eq!(plan.changes[0].reason, "cidr cannot change in place");
    }

    #[test]
    fn independent_resources_share_a_wave() {
        let other = Desired::new(ResourceId::new(Kind::EcrRepository, "main")).prop("scan", true);
        let desired = [vpc(), subnet(), other];
        let plan = diff(&desired, &[]);
        let names: Vec<Vec<String>> = waves(&plan, &desired)
            .iter()
            .map(|w| {
                w.iter()
                    .map(|&i| plan.changes[i].resource.to_string())
                    .collect()
            })
            .collect();
        assert_eq!(
            names,
            [
                vec!["vpc/main".to_string(), "ecr-repository/main".to_string()],
                vec!["subnet/private-1".to_string()]
            ]
        );
    }

    #[test]
    fn deletes_put_referrers_first() {
        let f = Observed {
            id: ResourceId::new(Kind::SecurityGroup, "function"),
            physical_id: "sg-f".into(),
            props: BTreeMap::new(),
            refs: BTreeMap::new(),
        };
        let mut d = Observed {
            id: ResourceId::new(Kind::SecurityGroup, "database"),
            physical_id: "sg-d".into(),
            props: BTreeMap::new(),
            refs: BTreeMap::new(),
        };
        d.refs.insert("postgres-from".into(), vec!["sg-f".into()]);
        let order: Vec<String> = delete_order(&[&f, &d])
            .iter()
            .map(|o| o.id.name.clone())
            .collect();
        assert_eq!(order, ["database", "function"]);
    }

    #[test]
    fn orphans_are_deleted_in_reverse_order() {
        let o = observed(&vpc(), "vpc-1", &[]);
        let s = observed(&subnet(), "subnet-1", &[("vpc", "vpc-1")]);
        let plan = diff(&[], &[o, s]);
        let order: Vec<String> = plan
            .changes
            .iter()
            .map(|c| c.resource.to_string())
            .collect();
        assert_eq!(order, ["subnet/private-1", "vpc/main"]);
        assert!(plan.changes.iter().all(|c| c.action == Action::Delete));
        assert_eq!(plan.count(Action::Delete), 2);
    }

    #[test]
    fn placeholders_resolve_from_facts_and_name_what_is_missing() {
        let mut f = Facts::default();
        f.insert("region", "eu-west-1");
        f.insert("api/main.id", "abc123");
        let v = json!({"arn": "arn:aws:execute-api:${region}:${account}:${api/main.id}/$default/*", "n": 3});
        assert_eq!(f.resolve(&v).unwrap_err(), ["account"]);
        f.insert("account", "123456789012");
        assert_eq!(
            f.resolve(&v).unwrap(),
            json!({"arn": "arn:aws:execute-api:eu-west-1:123456789012:abc123/$default/*", "n": 3})
        );
        // `$default` is not a placeholder, an unterminated `${` is kept as text.
        assert_eq!(f.resolve(&json!("a${b")).unwrap(), json!("a${b"));
        f.forget(&ResourceId::new(Kind::Api, "main"));
        assert_eq!(f.get("api/main.id"), None);
        assert_eq!(f.get("region"), Some("eu-west-1"));
    }

    #[test]
    fn a_placeholder_equal_to_what_exists_is_no_change_and_a_renewed_fact_is() {
        let api = Desired::new(ResourceId::new(Kind::Api, "main")).prop("name", "x");
        let function = Desired::new(ResourceId::new(Kind::Function, "main"))
            .prop("issuer", "${api/main.endpoint}")
            .after(api.id.clone());
        let mut facts = Facts::default();
        facts.insert("api/main.endpoint", "https://abc.example");
        let mut o_fn = observed(&function, "fn", &[]);
        o_fn.props
            .insert("issuer".into(), json!("https://abc.example"));
        let o_api = observed(&api, "abc", &[]);
        let plan = diff_with(
            &[api.clone(), function.clone()],
            &[o_api, o_fn.clone()],
            &facts,
        );
        assert!(plan.is_empty(), "{plan:#?}");
        // The API is gone: it will be created, and the function's issuer with it changes.
        let plan = diff_with(&[api, function], &[o_fn], &facts);
        let names: Vec<String> = plan
            .changes
            .iter()
            .map(|c| format!("{} {}", c.resource, c.action.as_str()))
            .collect();
        assert_eq!(names, ["api/main create", "function/main update"]);
        assert_eq!(
            plan.changes[1].fields[0].desired,
            json!("${api/main.endpoint}")
        );
    }
}
