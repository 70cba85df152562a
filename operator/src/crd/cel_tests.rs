//! The CRDs' CEL rules (`x-kubernetes-validations`) evaluated as a Kubernetes 1.25+ API
//! server evaluates them, with a real CEL implementation (the `cel` crate), because the
//! test cluster's Kubernetes 1.20 drops the field:
//!
//! - when a CRD is created, every schema default is checked against the rules at and
//!   below its node (apiextensions-apiserver pkg/apiserver/schema/defaulting/validation.go);
//!   a default that fails makes the whole CRD refused;
//! - an object is defaulted (structural defaulting: a missing property with a default gets
//!   it, then its own properties' defaults) and then every rule at every node present is
//!   evaluated, with `self` the value at the node; transition rules (`oldSelf`) only on
//!   update (<https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#validation-rules>);
//! - each rule's estimated cost must stay under the API server's static limit
//!   (`StaticEstimatedCostLimit`, 10,000,000 per rule; 100,000,000 per CRD), estimated
//!   from the schema's `maxLength`s with cel-go's cost model.

use super::crds;
use serde_json::{Value, json};

/// The OpenAPI schema of each CRD, by kind.
fn schemas() -> Vec<(String, Value)> {
    serde_json::to_value(crds())
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|crd| {
            (
                crd["spec"]["names"]["kind"].as_str().unwrap().to_string(),
                crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone(),
            )
        })
        .collect()
}

fn rules(node: &Value) -> Vec<(String, String)> {
    node["x-kubernetes-validations"]
        .as_array()
        .map(|rules| {
            rules
                .iter()
                .map(|r| {
                    (
                        r["rule"].as_str().unwrap().to_string(),
                        r["message"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn is_transition(rule: &str) -> bool {
    rule.contains("oldSelf")
}

/// A value as the API server hands it to CEL: `type: number` is a double even when the
/// YAML wrote `16`.
fn typed(node: &Value, value: &Value) -> Value {
    match (node["type"].as_str(), value) {
        (Some("number"), Value::Number(n)) => json!(n.as_f64().unwrap()),
        _ => value.clone(),
    }
}

/// Structural defaulting, top-down, as the API server does before validating: nulls of
/// fields that are not `nullable` pruned first, then missing properties defaulted.
fn default(node: &Value, value: &mut Value) {
    if let Value::Object(map) = value {
        if let Some(props) = node["properties"].as_object() {
            map.retain(|name, v| {
                !(v.is_null() && props.get(name).is_some_and(|p| p["nullable"] != true))
            });
            for (name, prop) in props {
                if !map.contains_key(name)
                    && let Some(d) = prop.get("default")
                {
                    map.insert(name.clone(), d.clone());
                }
                if let Some(child) = map.get_mut(name) {
                    default(prop, child);
                }
            }
        } else if node["additionalProperties"].is_object() {
            for child in map.values_mut() {
                default(&node["additionalProperties"], child);
            }
        }
    } else if let Value::Array(items) = value {
        for item in items {
            default(&node["items"], item);
        }
    }
}

/// The messages of every rule that fails at `node` and below, for `value` (and `old` on an
/// update: transition rules run only where the old object had the value too).
fn validate(node: &Value, value: &Value, old: Option<&Value>, at: &str) -> Vec<String> {
    let mut failed = Vec::new();
    let this = typed(node, value);
    for (rule, message) in rules(node) {
        let transition = is_transition(&rule);
        if transition && old.is_none() {
            continue;
        }
        let program =
            cel::Program::compile(&rule).unwrap_or_else(|e| panic!("{rule} compiles: {e:?}"));
        let mut context = cel::Context::default();
        context.add_variable("self", this.clone()).unwrap();
        if let (true, Some(old)) = (transition, old) {
            context.add_variable("oldSelf", typed(node, old)).unwrap();
        }
        match program.execute(&context) {
            Ok(cel::Value::Bool(true)) => {}
            Ok(cel::Value::Bool(false)) => failed.push(format!("{at}: {message}")),
            other => panic!("{rule} at {at} on {value}: {other:?}"),
        }
    }
    match value {
        Value::Object(map) => {
            for (name, child) in map {
                let prop = if let Some(p) = node["properties"].get(name) {
                    p
                } else if node["additionalProperties"].is_object() {
                    &node["additionalProperties"]
                } else {
                    continue;
                };
                let old_child = old.and_then(|o| o.get(name));
                failed.extend(validate(prop, child, old_child, &format!("{at}.{name}")));
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                failed.extend(validate(&node["items"], item, None, &format!("{at}[{i}]")));
            }
        }
        _ => {}
    }
    failed
}

/// What a `kubectl apply` of `object` (an update of `old` if given) gets from a 1.25+ API
/// server's CEL rules: the failing messages.
fn admit(kind: &str, object: &Value, old: Option<&Value>) -> Vec<String> {
    let (_, schema) = schemas().into_iter().find(|(k, _)| k == kind).unwrap();
    let mut object = object.clone();
    default(&schema, &mut object);
    let old = old.map(|o| {
        let mut o = o.clone();
        default(&schema, &mut o);
        o
    });
    validate(&schema, &object, old.as_ref(), "")
}

/// Every node of a schema with its path: `(path, node, inside a list)`.
fn nodes(node: &Value, at: String, in_list: bool, out: &mut Vec<(String, Value, bool)>) {
    out.push((at.clone(), node.clone(), in_list));
    if let Some(props) = node["properties"].as_object() {
        for (name, prop) in props {
            nodes(prop, format!("{at}.{name}"), in_list, out);
        }
    }
    if node["items"].is_object() {
        nodes(&node["items"], format!("{at}[]"), true, out);
    }
    if node["additionalProperties"].is_object() {
        nodes(
            &node["additionalProperties"],
            format!("{at}{{}}"),
            in_list,
            out,
        );
    }
}

fn all_nodes() -> Vec<(String, String, Value, bool)> {
    let mut out = Vec::new();
    for (kind, schema) in schemas() {
        let mut n = Vec::new();
        nodes(&schema, String::new(), false, &mut n);
        out.extend(n.into_iter().map(|(p, v, l)| (kind.clone(), p, v, l)));
    }
    out
}

/// The rule the CRD of an earlier release had at `spec.image`, which refused its own
/// default there: kept to show the check below catches that mistake.
const OLD_IMAGE_RULE: &str = "has(self.digest) || has(self.tag)";

#[test]
fn no_field_is_nullable() {
    let text = serde_json::to_string(&schemas()).unwrap();
    assert!(
        !text.contains("\"nullable\""),
        "a nullable field keeps explicit nulls"
    );
}

#[test]
fn every_schema_default_passes_the_rules_at_and_below_its_node() {
    let mut checked = 0;
    for (kind, path, node, _) in all_nodes() {
        let Some(d) = node.get("default") else {
            continue;
        };
        checked += 1;
        let failed = validate(&node, d, None, &path);
        assert!(
            failed.is_empty(),
            "{kind}{path}: the default {d} fails its own rules, so a 1.25+ API server refuses the CRD: {failed:?}"
        );
    }
    assert!(checked > 10, "only {checked} defaults found");

    // The check catches the mistake it is here for: the old rule at spec.image, with the
    // default spec.image has.
    let (_, schema) = &schemas()[0];
    let mut image = schema["properties"]["spec"]["properties"]["image"].clone();
    image["x-kubernetes-validations"] =
        json!([{"rule": OLD_IMAGE_RULE, "message": "the old rule"}]);
    assert_eq!(
        validate(&image, &image["default"], None, ".spec.image"),
        vec![".spec.image: the old rule"]
    );
}

#[test]
fn the_example_manifests_are_admitted_or_refused_with_the_image_message() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let object: Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let kind = object["kind"].as_str().unwrap();
        let failed = admit(kind, &object, None);
        let pinned = object["spec"]["image"]["digest"].is_string()
            || object["spec"]["image"]["tag"].is_string();
        if kind == "AuthDomain" && !pinned {
            // For the CLI, which builds the image; the operator needs one pinned.
            assert_eq!(failed.len(), 1, "{}: {failed:?}", path.display());
            assert!(failed[0].starts_with(".spec: the operator deploys an image"));
        } else {
            assert!(failed.is_empty(), "{}: {failed:?}", path.display());
        }
        // The same object applied again (an update) passes the transition rules.
        let again = admit(kind, &object, Some(&object));
        assert_eq!(again, failed, "{}", path.display());
        seen += 1;
    }
    assert!(seen >= 5, "{seen} examples");
}

#[test]
fn the_rules_refuse_what_the_controller_refuses() {
    let digest = format!("sha256:{}", "a".repeat(64));
    let spec = |extra: Value| {
        let mut spec = json!({"region": "eu-west-1", "image": {"digest": digest}});
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        json!({"apiVersion": "authdomain.io/v1alpha1", "kind": "AuthDomain",
               "metadata": {"name": "d"}, "spec": spec})
    };
    let image_pinned = "the operator deploys an image";
    let cases: Vec<(Value, Option<Value>, Vec<&str>)> = vec![
        (spec(json!({})), None, vec![]),
        (spec(json!({"image": {"tag": "v1.2_3-x"}})), None, vec![]),
        (spec(json!({"image": {}})), None, vec![image_pinned]),
        (
            spec(json!({"image": {"architecture": "x86_64"}})),
            None,
            vec![image_pinned],
        ),
        (
            spec(json!({"image": {"digest": digest, "tag": "v1"}})),
            None,
            vec!["not both"],
        ),
        (
            spec(json!({"image": {"digest": "sha256:ABC"}})),
            None,
            vec!["64 lowercase hex"],
        ),
        (
            spec(json!({"image": {"digest": format!("sha256:{}", "A".repeat(64))}})),
            None,
            vec!["64 lowercase hex"],
        ),
        (
            spec(json!({"image": {"tag": "-leading-dash"}})),
            None,
            vec!["expected an image tag"],
        ),
        // Explicit nulls (Helm and some generators write them) are pruned, not "present".
        (
            spec(json!({"image": {"digest": digest, "tag": null}})),
            None,
            vec![],
        ),
        (
            spec(json!({"image": {"tag": null}})),
            None,
            vec![image_pinned],
        ),
        (
            spec(json!({"database": {"minCapacity": 0.5, "maxCapacity": 2}})),
            None,
            vec![],
        ),
        (
            spec(json!({"database": {"minCapacity": 2, "maxCapacity": 2}})),
            None,
            vec![],
        ),
        (
            spec(json!({"database": {"minCapacity": 4, "maxCapacity": 2}})),
            None,
            vec!["maxCapacity must be at least minCapacity"],
        ),
        // The default maxCapacity (16) is what a lone minCapacity is compared with.
        (
            spec(json!({"database": {"minCapacity": 32}})),
            None,
            vec!["maxCapacity must be at least minCapacity"],
        ),
        // Transition rules: on update only, and only what changed.
        (spec(json!({"region": "us-east-1"})), None, vec![]),
        (
            spec(json!({"region": "us-east-1"})),
            Some(spec(json!({}))),
            vec!["spec.region is immutable"],
        ),
        (
            spec(json!({"network": {"cidr": "10.1.0.0/16"}})),
            Some(spec(json!({}))),
            vec!["spec.network.cidr is immutable"],
        ),
        (
            spec(json!({"network": {"cidr": "10.1.0.0/16"}, "database": {"maxCapacity": 4}})),
            Some(spec(json!({"network": {"cidr": "10.1.0.0/16"}}))),
            vec![],
        ),
    ];
    for (object, old, expected) in cases {
        let failed = admit("AuthDomain", &object, old.as_ref());
        assert_eq!(
            failed.len(),
            expected.len(),
            "{object} (old {old:?}): {failed:?}"
        );
        for (got, want) in failed.iter().zip(&expected) {
            assert!(got.contains(want), "{object}: {got} lacks {want}");
        }
    }
}

/// cel-go's cost model (checker/cost.go) as Kubernetes configures it: one per variable,
/// field selection or `has()`, and per call; string comparison costs a tenth of the
/// shorter string's length; `matches` a tenth of the string's length times a quarter of
/// the pattern's. A string's length is its schema's `maxLength`.
fn cost(expr: &cel::IdedExpr, node: &Value) -> (u64, Option<u64>) {
    use cel::common::ast::{Expr, LiteralValue};
    let tenth = |n: u64| n.div_ceil(10);
    match &expr.expr {
        Expr::Ident(_) => (1, node["maxLength"].as_u64()),
        Expr::Literal(LiteralValue::String(s)) => (0, Some(s.len() as u64)),
        Expr::Literal(_) => (0, None),
        Expr::Select(select) => {
            let target = field_schema(&select.operand, node);
            let (c, _) = cost(&select.operand, node);
            let size = target["properties"][&select.field]["maxLength"].as_u64();
            (c + 1, size)
        }
        Expr::Call(call) => {
            let args: Vec<(u64, Option<u64>)> = call
                .target
                .iter()
                .map(|t| cost(t, node))
                .chain(call.args.iter().map(|a| cost(a, node)))
                .collect();
            let sum: u64 = args.iter().map(|(c, _)| c).sum();
            let unbounded = 3 * 1024 * 1024; // no maxLength: the request size limit
            let size = |i: usize| args[i].1.unwrap_or(unbounded);
            let own = match call.func_name.as_str() {
                "_&&_" | "_||_" => 0,
                "matches" => tenth(size(0)) * size(1).div_ceil(4),
                "_==_" | "_!=_" if args.iter().all(|(_, s)| s.is_some()) => {
                    tenth(size(0).min(size(1))).max(1)
                }
                _ => 1,
            };
            (sum + own, None)
        }
        other => panic!("no cost model for {other:?}"),
    }
}

/// The schema of what `expr` (`self`, `self.a`, `self.a.b`) selects.
fn field_schema(expr: &cel::IdedExpr, node: &Value) -> Value {
    match &expr.expr {
        cel::common::ast::Expr::Ident(_) => node.clone(),
        cel::common::ast::Expr::Select(s) => {
            field_schema(&s.operand, node)["properties"][&s.field].clone()
        }
        _ => Value::Null,
    }
}

#[test]
fn every_rule_costs_less_than_the_api_servers_limit() {
    const PER_RULE: u64 = 10_000_000;
    const PER_CRD: u64 = 100_000_000;
    let mut per_crd = std::collections::BTreeMap::<String, u64>::new();
    for (kind, path, node, in_list) in all_nodes() {
        for (rule, _) in rules(&node) {
            let program = cel::Program::compile(&rule).unwrap();
            let (estimate, _) = cost(program.expression(), &node);
            // Inside a list a rule runs once per item: the estimate is multiplied by
            // maxItems, which none of our lists bound, so no rule may live there.
            assert!(!in_list, "{kind}{path}: a rule inside a list: {rule}");
            println!("{kind}{path}: {rule}: estimated cost {estimate}");
            assert!(
                estimate < PER_RULE / 1000,
                "{kind}{path}: {rule} costs about {estimate}: bound the strings it reads with maxLength"
            );
            *per_crd.entry(kind.clone()).or_default() += estimate;
        }
    }
    assert!(per_crd.values().all(|c| *c < PER_CRD), "{per_crd:?}");
    assert!(per_crd["AuthDomain"] > 0);

    // Without its maxLength, the tag's pattern costs what an unbounded string would.
    let (_, schema) = &schemas()[0];
    let mut image = schema["properties"]["spec"]["properties"]["image"].clone();
    image["properties"]["tag"]
        .as_object_mut()
        .unwrap()
        .remove("maxLength");
    let rule = "!has(self.tag) || self.tag.matches('^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$')";
    let (unbounded, _) = cost(cel::Program::compile(rule).unwrap().expression(), &image);
    assert!(unbounded > PER_RULE / 1000, "{unbounded}");
}
