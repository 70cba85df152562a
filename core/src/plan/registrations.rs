//! The auth server's registrations as part of the plan: the spec's resource servers and
//! clients are desired resources like the AWS ones, diffed against what the published
//! read model says is registered, so `plan`, `apply`, `drift` and the operator converge
//! them with the same diff, the same table and the same exit codes.
//!
//! Ownership: a registration the spec created carries `managed-by: spec`. Only those are
//! observed as the spec's (and so updated, or deleted once the spec drops them). One
//! with a spec name but another owner is observed too, so the diff shows the take-over
//! (`managed-by` changes) and the guard refuses it unless adoption is allowed; one the
//! operator owns (`kubernetes:<ns>/<name>`) is never taken. Everything else on the server
//! (the portal's, the admin API's, the operator's) is not the spec's business and is not
//! observed at all.
//!
//! Pure: the provisioner reads the read model and hands the registrations in.

use std::collections::{BTreeMap, BTreeSet};

use authdomain_api::{
    ADMIN_AUDIENCE, Client, ClientInput, ResourceServer, ResourceServerInput, ScopeInput,
};
use serde_json::{Value, json};

use super::{Desired, Kind, Observed, ResourceId};
use crate::spec::AuthDomainManifest;

/// The `managed_by` of registrations the spec owns.
pub const SPEC_OWNER: &str = "spec";

/// The fact that says the registrations could be read (the issuer the published read model
/// is sealed for). Every registration's desired `issuer` is this placeholder: while the
/// domain has no read model yet (no function, or a database nobody prepared), the changes
/// wait, naming it, instead of failing.
pub const ISSUER_FACT: &str = "read-model.issuer";

/// What a person does when registrations wait for the read model.
pub const READ_MODEL_ADVICE: &str = "the auth server has not published its read model yet (a new domain, or a database \
     nobody prepared): run `authdomain bootstrap` once, then apply again";

fn placeholder() -> Value {
    json!(format!("${{{ISSUER_FACT}}}"))
}

fn sorted_scopes(scopes: &[String]) -> Value {
    let set: BTreeSet<&str> = scopes.iter().map(String::as_str).collect();
    json!(set)
}

fn scope_catalogue<'a>(scopes: impl Iterator<Item = (&'a str, &'a str)>) -> Value {
    let map: BTreeMap<&str, &str> = scopes.collect();
    Value::Array(
        map.into_iter()
            .map(|(n, d)| json!({ "name": n, "description": d }))
            .collect(),
    )
}

/// The spec's registrations: its resource servers, then its clients (after every resource
/// server, whose scopes they hold), all after the function (so a new image's migrations
/// run first).
pub fn desired(m: &AuthDomainManifest) -> Vec<Desired> {
    let function = ResourceId::new(Kind::Function, "main");
    let mut out = Vec::new();
    let mut apis = Vec::new();
    for r in &m.spec.resource_servers {
        let id = ResourceId::new(Kind::ResourceServer, r.identifier.as_str());
        let name = r
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| r.identifier.clone());
        let mut d = Desired::new(id.clone())
            .prop("issuer", placeholder())
            .prop("managed-by", SPEC_OWNER)
            .prop("name", name)
            .prop(
                "scopes",
                scope_catalogue(
                    r.scopes
                        .iter()
                        .map(|s| (s.name.as_str(), s.description.as_str())),
                ),
            )
            .after(function.clone());
        if let Some(team) = &r.team {
            d = d.prop("team", team.as_str());
        }
        apis.push(id);
        out.push(d);
    }
    for c in &m.spec.clients {
        let mut d = Desired::new(ResourceId::new(Kind::Client, c.name.as_str()))
            .prop("issuer", placeholder())
            .prop("managed-by", SPEC_OWNER)
            .prop("scopes", sorted_scopes(&c.scopes))
            .prop("token-ttl", c.token_ttl.map(i64::from))
            .prop("auth-method", c.auth_method.as_str())
            .prop("jwks-uri", c.jwks_uri.clone())
            .after(function.clone());
        if let Some(team) = &c.team {
            d = d.prop("team", team.as_str());
        }
        for api in &apis {
            d = d.after(api.clone());
        }
        out.push(d);
    }
    out
}

/// What the auth server holds, as the read model published it.
#[derive(Debug, Clone, Copy)]
pub struct Registered<'a> {
    /// The issuer the read model is sealed for.
    pub issuer: &'a str,
    pub resource_servers: &'a [ResourceServer],
    pub clients: &'a [Client],
}

/// The registrations that are the spec's business, as observed resources: those it
/// manages, and those with a name it uses (to show, and guard, a take-over). A resource
/// server also records which clients hold each of its scopes (`_held`), for the guard.
pub fn observed(m: &AuthDomainManifest, held: &Registered<'_>) -> Vec<Observed> {
    let spec_apis: BTreeSet<&str> = m
        .spec
        .resource_servers
        .iter()
        .map(|r| r.identifier.as_str())
        .collect();
    let spec_clients: BTreeSet<&str> = m.spec.clients.iter().map(|c| c.name.as_str()).collect();
    let mut out = Vec::new();
    for r in held.resource_servers {
        let ours = r.managed_by.as_deref() == Some(SPEC_OWNER);
        if r.identifier == ADMIN_AUDIENCE || !(ours || spec_apis.contains(r.identifier.as_str())) {
            continue;
        }
        let mut holders: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
        for c in held.clients {
            for s in &c.scopes {
                if r.scopes.iter().any(|x| &x.name == s) {
                    holders
                        .entry(s.as_str())
                        .or_default()
                        .push(json!({ "client_id": c.client_id, "name": c.name }));
                }
            }
        }
        let mut props = BTreeMap::new();
        props.insert("issuer".into(), json!(held.issuer));
        props.insert("managed-by".into(), json!(r.managed_by));
        props.insert("name".into(), json!(r.name));
        props.insert(
            "scopes".into(),
            scope_catalogue(
                r.scopes
                    .iter()
                    .map(|s| (s.name.as_str(), s.description.as_str())),
            ),
        );
        props.insert("team".into(), json!(r.team));
        props.insert("_held".into(), json!(holders));
        out.push(Observed {
            id: ResourceId::new(Kind::ResourceServer, r.identifier.as_str()),
            physical_id: r.identifier.clone(),
            props,
            refs: BTreeMap::new(),
        });
    }
    // Clients by name: the spec's own first, then the oldest. Further ones the spec manages
    // (two applies that raced) are observed under their id too, so the plan deletes them.
    let mut candidates: Vec<&Client> = held
        .clients
        .iter()
        .filter(|c| {
            c.managed_by.as_deref() == Some(SPEC_OWNER) || spec_clients.contains(c.name.as_str())
        })
        .collect();
    candidates.sort_by_key(|c| {
        (
            c.name.clone(),
            c.managed_by.as_deref() != Some(SPEC_OWNER),
            c.created_at,
            c.client_id.clone(),
        )
    });
    let mut named: BTreeSet<&str> = BTreeSet::new();
    for c in candidates {
        let first = named.insert(c.name.as_str());
        if !first && c.managed_by.as_deref() != Some(SPEC_OWNER) {
            continue;
        }
        let name = if first {
            c.name.clone()
        } else {
            format!("{} ({})", c.name, c.client_id)
        };
        let mut props = BTreeMap::new();
        props.insert("issuer".into(), json!(held.issuer));
        props.insert("managed-by".into(), json!(c.managed_by));
        props.insert("scopes".into(), sorted_scopes(&c.scopes));
        props.insert("token-ttl".into(), json!(c.token_ttl_seconds));
        props.insert("auth-method".into(), json!(c.token_endpoint_auth_method));
        props.insert("jwks-uri".into(), json!(c.jwks_uri));
        props.insert("team".into(), json!(c.team));
        out.push(Observed {
            id: ResourceId::new(Kind::Client, name),
            physical_id: c.client_id.clone(),
            props,
            refs: BTreeMap::new(),
        });
    }
    out
}

fn text(d: &BTreeMap<String, Value>, field: &str) -> Option<String> {
    d.get(field).and_then(Value::as_str).map(str::to_owned)
}

/// The team to write: the spec's, else the one the registration has (an adopted
/// registration keeps its team when the spec names none).
fn team(d: &Desired, have: Option<&Observed>) -> Option<String> {
    text(&d.props, "team").or_else(|| have.and_then(|o| text(&o.props, "team")))
}

/// What to send to create or update the resource server `d` (resolved).
pub fn resource_server_input(d: &Desired, have: Option<&Observed>) -> ResourceServerInput {
    let scopes = d
        .props
        .get("scopes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|s| ScopeInput {
                    name: s["name"].as_str().unwrap_or_default().to_owned(),
                    description: s["description"].as_str().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    ResourceServerInput {
        identifier: d.id.name.clone(),
        name: text(&d.props, "name"),
        scopes,
        team: team(d, have),
        managed_by: Some(SPEC_OWNER.to_owned()),
    }
}

/// What to send to create or update the client `d` (resolved).
pub fn client_input(d: &Desired, have: Option<&Observed>) -> ClientInput {
    ClientInput {
        name: d.id.name.clone(),
        scopes: d
            .props
            .get("scopes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        token_ttl_seconds: d.props.get("token-ttl").and_then(Value::as_i64),
        token_endpoint_auth_method: text(&d.props, "auth-method"),
        jwks_uri: text(&d.props, "jwks-uri"),
        team: team(d, have),
        managed_by: Some(SPEC_OWNER.to_owned()),
        ..ClientInput::default()
    }
}

/// The clients holding `scope` of the observed resource server `o` (`(client_id, name)`).
pub fn holders(o: &Observed, scope: &str) -> Vec<(String, String)> {
    o.props
        .get("_held")
        .and_then(|h| h.get(scope))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| {
                    (
                        c["client_id"].as_str().unwrap_or_default().to_owned(),
                        c["name"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The scope names of an observed or desired `scopes` catalogue.
pub fn scope_names(scopes: Option<&Value>) -> BTreeSet<String> {
    scopes
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, Facts, diff_with};

    fn manifest(extra: &str) -> AuthDomainManifest {
        crate::spec::load_str(
            &format!(
                r#"apiVersion: authdomain.io/v1alpha1
kind: AuthDomain
metadata: {{name: demo}}
spec:
  region: eu-west-1
  resourceServers:
    - identifier: https://orders.example.com
      scopes:
        - {{name: "orders:read", description: Read}}
        - {{name: "orders:write"}}
  clients:
    - name: billing
      scopes: ["orders:read"]
{extra}"#
            ),
            "d.yaml",
        )
        .unwrap()
    }

    fn rs(identifier: &str, scopes: &[&str], managed_by: Option<&str>) -> ResourceServer {
        ResourceServer {
            identifier: identifier.into(),
            name: identifier.into(),
            scopes: scopes
                .iter()
                .map(|s| ScopeInput {
                    name: (*s).into(),
                    description: if *s == "orders:read" {
                        "Read".into()
                    } else {
                        String::new()
                    },
                })
                .collect(),
            team: None,
            managed_by: managed_by.map(str::to_owned),
            created_at: 1,
            updated_at: 1,
        }
    }

    fn client(id: &str, name: &str, scopes: &[&str], managed_by: Option<&str>) -> Client {
        Client {
            client_id: id.into(),
            name: name.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            default_scopes: Vec::new(),
            token_ttl_seconds: None,
            token_endpoint_auth_method: "client_secret_basic".into(),
            grant_types: vec!["client_credentials".into()],
            jwks: None,
            jwks_uri: None,
            secrets: Vec::new(),
            team: None,
            managed_by: managed_by.map(str::to_owned),
            created_at: 1,
            updated_at: 1,
        }
    }

    fn facts() -> Facts {
        let mut f = Facts::default();
        f.insert(ISSUER_FACT, "https://issuer");
        f
    }

    fn plan(m: &AuthDomainManifest, rss: &[ResourceServer], cs: &[Client]) -> crate::plan::Plan {
        let held = Registered {
            issuer: "https://issuer",
            resource_servers: rss,
            clients: cs,
        };
        diff_with(&desired(m), &observed(m, &held), &facts())
    }

    fn spec_rs() -> ResourceServer {
        rs(
            "https://orders.example.com",
            &["orders:read", "orders:write"],
            Some(SPEC_OWNER),
        )
    }

    #[test]
    fn registrations_that_match_the_spec_are_in_sync() {
        let m = manifest("");
        let p = plan(
            &m,
            &[spec_rs()],
            &[client("c1", "billing", &["orders:read"], Some(SPEC_OWNER))],
        );
        assert!(p.is_empty(), "{p:?}");
    }

    #[test]
    fn a_new_client_is_created_after_its_api_and_the_function() {
        let m = manifest("    - name: shipping\n      scopes: [\"orders:write\"]\n");
        let p = plan(
            &m,
            &[spec_rs()],
            &[client("c1", "billing", &["orders:read"], Some(SPEC_OWNER))],
        );
        assert_eq!(p.changes.len(), 1);
        assert_eq!(
            p.changes[0].resource,
            ResourceId::new(Kind::Client, "shipping")
        );
        assert_eq!(p.changes[0].action, Action::Create);
        let d = desired(&m);
        let shipping = d.iter().find(|d| d.id.name == "shipping").unwrap();
        assert!(
            shipping
                .after
                .contains(&ResourceId::new(Kind::Function, "main"))
        );
        assert!(shipping.after.contains(&ResourceId::new(
            Kind::ResourceServer,
            "https://orders.example.com"
        )));
    }

    #[test]
    fn a_widened_scope_is_drift_naming_the_client_and_field() {
        let m = manifest("");
        let p = plan(
            &m,
            &[spec_rs()],
            &[client(
                "c1",
                "billing",
                &["orders:read", "orders:write"],
                Some(SPEC_OWNER),
            )],
        );
        assert_eq!(p.changes.len(), 1);
        let c = &p.changes[0];
        assert_eq!(
            (c.resource.to_string(), c.action),
            ("client/billing".into(), Action::Update)
        );
        assert_eq!(c.fields[0].field, "scopes");
        assert_eq!(c.fields[0].desired, json!(["orders:read"]));
        assert_eq!(c.fields[0].actual, json!(["orders:read", "orders:write"]));
    }

    #[test]
    fn a_spec_client_dropped_from_the_spec_is_deleted_and_others_are_left_alone() {
        let mut m = manifest("");
        m.spec.clients.clear();
        let p = plan(
            &m,
            &[spec_rs()],
            &[
                client("c1", "billing", &["orders:read"], Some(SPEC_OWNER)),
                client("c2", "portal-made", &["orders:read"], None),
                client("c3", "from-k8s", &["orders:read"], Some("kubernetes:ns/x")),
            ],
        );
        assert_eq!(p.changes.len(), 1, "{p:?}");
        assert_eq!(p.changes[0].action, Action::Delete);
        assert_eq!(p.changes[0].physical_id.as_deref(), Some("c1"));
        assert!(p.changes[0].reason.contains("managed-by: spec"));
    }

    #[test]
    fn an_unmarked_registration_with_the_spec_name_is_an_update_of_its_owner() {
        let m = manifest("");
        let p = plan(
            &m,
            &[spec_rs()],
            &[client("c9", "billing", &["orders:read"], None)],
        );
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].action, Action::Update);
        assert!(p.changes[0].touches("managed-by"));
    }

    #[test]
    fn duplicates_the_spec_manages_are_deleted_and_the_oldest_kept() {
        let m = manifest("");
        let mut older = client("c1", "billing", &["orders:read"], Some(SPEC_OWNER));
        older.created_at = 1;
        let mut newer = client("c2", "billing", &["orders:read"], Some(SPEC_OWNER));
        newer.created_at = 2;
        let p = plan(&m, &[spec_rs()], &[newer, older]);
        assert_eq!(p.changes.len(), 1, "{p:?}");
        assert_eq!(p.changes[0].action, Action::Delete);
        assert_eq!(p.changes[0].physical_id.as_deref(), Some("c2"));
    }

    #[test]
    fn without_a_read_model_every_registration_waits_for_it() {
        let m = manifest("");
        let p = diff_with(&desired(&m), &[], &Facts::default());
        let (run, deferred) = crate::plan::defer_unknown(&m, &p, &Facts::default());
        assert!(
            run.changes
                .iter()
                .all(|c| c.resource.kind.service() != crate::plan::Service::Registrations)
        );
        assert!(deferred.missing.contains(&ISSUER_FACT.to_owned()));
        assert_eq!(deferred.advice(), Some(READ_MODEL_ADVICE));
    }

    #[test]
    fn inputs_carry_the_spec_owner_and_keep_an_adopted_team() {
        let m = manifest("");
        let d: Vec<Desired> = desired(&m)
            .into_iter()
            .map(|d| d.resolved(&facts()).unwrap())
            .collect();
        let mut have = client("c1", "billing", &[], None);
        have.team = Some("payments".into());
        let held = Registered {
            issuer: "https://issuer",
            resource_servers: &[],
            clients: &[have],
        };
        let o = observed(&m, &held);
        let input = client_input(&d[1], o.first());
        assert_eq!(input.managed_by.as_deref(), Some(SPEC_OWNER));
        assert_eq!(input.team.as_deref(), Some("payments"));
        assert_eq!(input.scopes, vec!["orders:read".to_owned()]);
        let rsi = resource_server_input(&d[0], None);
        assert_eq!(rsi.scopes.len(), 2);
        assert_eq!(rsi.managed_by.as_deref(), Some(SPEC_OWNER));
    }

    fn held(m: &AuthDomainManifest, rss: &[ResourceServer], cs: &[Client]) -> Vec<Observed> {
        observed(
            m,
            &Registered {
                issuer: "https://issuer",
                resource_servers: rss,
                clients: cs,
            },
        )
    }

    #[test]
    fn taking_over_is_refused_unless_adopting_and_never_from_the_operator() {
        use crate::plan::{Allow, refusals};
        let m = manifest("");
        let cs = [client("c9", "billing", &["orders:read"], None)];
        let p = plan(&m, &[spec_rs()], &cs);
        let o = held(&m, &[spec_rs()], &cs);
        let r = refusals(&p, &o, Allow::default());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].code(), "NotManaged");
        assert!(
            r[0].to_string().contains("client/billing") && r[0].to_string().contains("--adopt")
        );
        let adopt = Allow {
            adopt: true,
            ..Allow::default()
        };
        assert!(refusals(&p, &o, adopt).is_empty());
        let cs = [client(
            "c9",
            "billing",
            &["orders:read"],
            Some("kubernetes:team/billing"),
        )];
        let p = plan(&m, &[spec_rs()], &cs);
        let r = refusals(&p, &held(&m, &[spec_rs()], &cs), adopt);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].code(), "OwnedElsewhere");
        assert!(r[0].to_string().contains("kubernetes:team/billing"));
    }

    #[test]
    fn removing_a_scope_others_hold_is_refused_naming_them() {
        use crate::plan::{Allow, refusals};
        let mut m = manifest("");
        m.spec.resource_servers[0]
            .scopes
            .retain(|s| s.name == "orders:read");
        let cs = [
            client("c1", "billing", &["orders:read"], Some(SPEC_OWNER)),
            client("c7", "portal-app", &["orders:write"], None),
        ];
        let p = plan(&m, &[spec_rs()], &cs);
        assert_eq!(p.changes.len(), 1, "{p:?}");
        let o = held(&m, &[spec_rs()], &cs);
        let r = refusals(&p, &o, Allow::default());
        assert_eq!(r.len(), 1, "{r:?}");
        assert_eq!(r[0].code(), "ScopesHeld");
        assert!(
            r[0].to_string()
                .contains("`orders:write` by portal-app (c7)"),
            "{}",
            r[0]
        );
        let allow = Allow {
            remove_held_scopes: true,
            ..Allow::default()
        };
        assert!(refusals(&p, &o, allow).is_empty());
    }

    #[test]
    fn a_spec_client_giving_up_the_scope_in_the_same_plan_does_not_hold_it() {
        use crate::plan::{Allow, refusals};
        let mut m = manifest("");
        m.spec.resource_servers[0]
            .scopes
            .retain(|s| s.name == "orders:read");
        let cs = [client(
            "c1",
            "billing",
            &["orders:read", "orders:write"],
            Some(SPEC_OWNER),
        )];
        let p = plan(&m, &[spec_rs()], &cs);
        assert_eq!(p.changes.len(), 2, "{p:?}");
        assert!(refusals(&p, &held(&m, &[spec_rs()], &cs), Allow::default()).is_empty());
    }
}
