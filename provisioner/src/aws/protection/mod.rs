//! The parts of the teams' HTTP APIs that `spec.protectedApis` owns: one authorizer per
//! API (found by its name, `authdomain.<domain>.<name>`) and the authorization settings of
//! the listed routes. Everything else of a team's API (its routes, integrations, stages,
//! other authorizers) is never written.
//!
//! The ids of the APIs that carry one of the domain's authorizers are recorded in the
//! `authdomain.io/protects` tag of the domain's own HTTP API, written before an authorizer
//! is created and after the last one of an API is deleted, so an API dropped from the spec
//! is still found, detached and cleaned up.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_apigatewayv2::types::{
    AuthorizationType, Authorizer, AuthorizerType, JwtConfiguration, Route,
};
use serde_json::{Value, json};

mod rest;

pub use rest::redeploy;

use super::{
    AwsError, ErrorClass, NotFoundAsNone, aws_error, ec2::Physical, prop_str, with_retries,
};
use authdomain_core::plan::names::{TAG_PROTECTS, authorizer_name};
use authdomain_core::plan::{Desired, Kind, Observed, ResourceId};
use authdomain_core::spec::{ApiType, AuthDomainManifest, ProtectedApi};

/// Whether observation is for applying the spec (a listed API or route that does not
/// exist is an error naming the field) or for destroying (what is gone is nothing to do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Apply,
    Destroy,
}

/// One protected API as the record names it: an HTTP API as its id, a REST API as
/// `rest:<id>@<stage>` (the stage to redeploy after detaching, when the spec no longer
/// says).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Target {
    id: String,
    rest_stage: Option<String>,
}

impl Target {
    fn parse(entry: &str) -> Option<Target> {
        match entry.strip_prefix("rest:") {
            Some(rest) => {
                let (id, stage) = rest.split_once('@')?;
                Some(Target {
                    id: id.to_owned(),
                    rest_stage: Some(stage.to_owned()),
                })
            }
            None => Some(Target {
                id: entry.to_owned(),
                rest_stage: None,
            }),
        }
    }
    fn entry(&self) -> String {
        match &self.rest_stage {
            Some(stage) => format!("rest:{}@{stage}", self.id),
            None => self.id.clone(),
        }
    }
    fn of_spec(p: &ProtectedApi) -> Target {
        Target {
            id: p.api_id.clone(),
            rest_stage: (p.api_type == ApiType::Rest).then(|| p.stage.clone().unwrap_or_default()),
        }
    }
}

/// The APIs recorded on the domain's API (its `_protects` property).
fn recorded(domain_api: Option<&Observed>) -> Vec<Target> {
    parse_record(
        domain_api
            .and_then(|o| o.props.get("_protects"))
            .and_then(Value::as_str),
    )
}

fn parse_record(value: Option<&str>) -> Vec<Target> {
    value
        .map(|s| s.split_whitespace().filter_map(Target::parse).collect())
        .unwrap_or_default()
}

fn invalid(path: String, message: String) -> AwsError {
    AwsError {
        action: "check",
        resource: path,
        code: "InvalidSpec".into(),
        message,
        class: ErrorClass::Terminal,
    }
}

/// Every page of an API's authorizers (None: no such API).
async fn authorizers(aws: &super::Aws, api: &str) -> Result<Option<Vec<Authorizer>>, AwsError> {
    super::all_pages(|token| async move {
        let page = with_retries(5, || async {
            aws.apigw
                .get_authorizers()
                .api_id(api)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| aws_error("list the authorizers of", format!("API {api}"), e))
        })
        .await
        .found()?;
        Ok(page.map(|p| (p.items().to_vec(), p.next_token().map(str::to_owned))))
    })
    .await
}

/// Every page of an API's routes (None: no such API).
async fn routes(aws: &super::Aws, api: &str) -> Result<Option<Vec<Route>>, AwsError> {
    super::all_pages(|token| async move {
        let page = with_retries(5, || async {
            aws.apigw
                .get_routes()
                .api_id(api)
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| aws_error("list the routes of", format!("API {api}"), e))
        })
        .await
        .found()?;
        Ok(page.map(|p| (p.items().to_vec(), p.next_token().map(str::to_owned))))
    })
    .await
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut v = items.to_vec();
    v.sort();
    v.dedup();
    v
}

fn authorizer_observed(name: &str, api: &str, a: &Authorizer, domain_api: &str) -> Observed {
    let mut o = Observed {
        id: ResourceId::new(Kind::ApiAuthorizer, name),
        physical_id: a.authorizer_id().unwrap_or_default().to_owned(),
        props: Default::default(),
        refs: Default::default(),
    };
    o.props.insert("api-id".into(), json!(api));
    o.props.insert("api-type".into(), json!("http"));
    o.props.insert(
        "type".into(),
        json!(a.authorizer_type().map(|t| t.as_str())),
    );
    o.props
        .insert("identity-source".into(), json!(a.identity_source()));
    match a.authorizer_type() {
        Some(AuthorizerType::Jwt) => {
            let jwt = a.jwt_configuration();
            o.props
                .insert("issuer".into(), json!(jwt.and_then(|j| j.issuer())));
            o.props.insert(
                "audience".into(),
                json!(sorted(jwt.map(|j| j.audience()).unwrap_or_default())),
            );
        }
        _ => {
            o.props.insert("uri".into(), json!(a.authorizer_uri()));
            o.props.insert(
                "payload-format".into(),
                json!(a.authorizer_payload_format_version()),
            );
            o.props.insert(
                "simple-responses".into(),
                json!(a.enable_simple_responses().unwrap_or(false)),
            );
            o.props.insert(
                "ttl".into(),
                json!(a.authorizer_result_ttl_in_seconds().unwrap_or(0)),
            );
        }
    }
    // Deleted before the domain's API, whose tag records this API.
    o.refs
        .insert("domain-api".into(), vec![domain_api.to_owned()]);
    o
}

fn route_observed(name: &str, api: &str, r: &Route) -> Observed {
    let mut o = Observed {
        id: ResourceId::new(
            Kind::RouteAuthorization,
            format!("{name}/{}", r.route_key().unwrap_or_default()),
        ),
        physical_id: r.route_id().unwrap_or_default().to_owned(),
        props: Default::default(),
        refs: Default::default(),
    };
    o.props.insert("api-id".into(), json!(api));
    o.props.insert("api-type".into(), json!("http"));
    o.props.insert("route".into(), json!(r.route_key()));
    o.props.insert(
        "authorization-type".into(),
        json!(r.authorization_type().map(|t| t.as_str()).unwrap_or("NONE")),
    );
    o.props
        .insert("scopes".into(), json!(sorted(r.authorization_scopes())));
    o.refs.insert(
        "authorizer".into(),
        r.authorizer_id()
            .filter(|a| !a.is_empty())
            .map(|a| vec![a.to_owned()])
            .unwrap_or_default(),
    );
    o
}

/// The domain's authorizers on the teams' APIs and the routes they (or the spec) concern.
/// `domain_api` is the domain's own API as observed (it records the APIs to look at).
/// With [`Purpose::Apply`], an API or route the spec lists that does not exist is an error
/// naming the field.
pub async fn observe(
    aws: &super::Aws,
    m: &AuthDomainManifest,
    domain_api: Option<&Observed>,
    purpose: Purpose,
) -> Result<Vec<Observed>, AwsError> {
    let domain = &m.metadata.name;
    let prefix = authorizer_name(domain, "");
    // The spec's APIs, then those only the record still names.
    let mut targets: BTreeMap<String, Target> = recorded(domain_api)
        .into_iter()
        .map(|t| (t.id.clone(), t))
        .collect();
    for p in &m.spec.protected_apis {
        // A REST API's recorded stage is what was deployed: kept, so a new stage in the
        // spec shows as a change.
        let keep = targets
            .get(&p.api_id)
            .is_some_and(|t| t.rest_stage.is_some() && p.api_type == ApiType::Rest);
        if !keep {
            targets.insert(p.api_id.clone(), Target::of_spec(p));
        }
    }
    let domain_api_id = domain_api
        .map(|o| o.physical_id.clone())
        .unwrap_or_default();
    let mut out = Vec::new();
    let (rest, http): (Vec<Target>, Vec<Target>) =
        targets.into_values().partition(|t| t.rest_stage.is_some());
    for t in &rest {
        out.extend(rest::observe(aws, m, t, &domain_api_id, purpose).await?);
    }
    let found = futures::future::join_all(http.iter().map(|t| async move {
        let api = &t.id;
        let (a, r) = tokio::join!(authorizers(aws, api), routes(aws, api));
        (api.clone(), a, r)
    }))
    .await;
    for (api, authorizers, routes) in found {
        let spec = m
            .spec
            .protected_apis
            .iter()
            .enumerate()
            .find(|(_, p)| p.api_id == api);
        let (Some(authorizers), Some(routes)) = (authorizers?, routes?) else {
            if let (Some((i, p)), Purpose::Apply) = (spec, purpose) {
                return Err(invalid(
                    format!("spec.protectedApis[{i}].apiId"),
                    format!(
                        "there is no HTTP API `{}` in {} (API Gateway answered NotFoundException): \
                         check the id (`aws apigatewayv2 get-apis`) and the region",
                        p.api_id, aws.region
                    ),
                ));
            }
            continue;
        };
        // Ours: the authorizers named with this domain's prefix.
        let ours: BTreeMap<String, String> = authorizers
            .iter()
            .filter_map(|a| {
                let name = a.name()?.strip_prefix(&prefix)?;
                out.push(authorizer_observed(name, &api, a, &domain_api_id));
                Some((a.authorizer_id()?.to_owned(), name.to_owned()))
            })
            .collect();
        let listed: BTreeSet<&str> = spec
            .map(|(_, p)| p.routes.iter().map(|r| r.route.as_str()).collect())
            .unwrap_or_default();
        for r in &routes {
            let key = r.route_key().unwrap_or_default();
            let attached = r
                .authorizer_id()
                .filter(|_| {
                    r.authorization_type()
                        .is_some_and(|t| *t != AuthorizationType::None)
                })
                .and_then(|id| ours.get(id));
            if let Some((_, p)) = spec.filter(|_| listed.contains(key)) {
                out.push(route_observed(&p.name, &api, r));
            } else if let Some(name) = attached {
                out.push(route_observed(name, &api, r));
            }
        }
        if let (Some((i, p)), Purpose::Apply) = (spec, purpose) {
            for (j, r) in p.routes.iter().enumerate() {
                if !routes
                    .iter()
                    .any(|x| x.route_key() == Some(r.route.as_str()))
                {
                    let have: Vec<&str> = routes.iter().filter_map(|x| x.route_key()).collect();
                    return Err(invalid(
                        format!("spec.protectedApis[{i}].routes[{j}].route"),
                        format!(
                            "API `{api}` has no route `{}` (its routes: {}); AuthDomain protects \
                             routes, it does not create them",
                            r.route,
                            sorted_keys(have)
                        ),
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn api_arn(region: &str, api: &str) -> String {
    format!("arn:aws:apigateway:{region}::/apis/{api}")
}

/// Add `target` to the domain API's record of protected APIs (replacing an entry for the
/// same API), or, with `add` false, remove the API's entry.
async fn record(
    aws: &super::Aws,
    domain_api: &str,
    target: &Target,
    add: bool,
) -> Result<(), AwsError> {
    let what = "the record of protected APIs on api/main";
    let tags = aws
        .apigw
        .get_tags()
        .resource_arn(api_arn(&aws.region, domain_api))
        .send()
        .await
        .map_err(|e| aws_error("read", what.to_owned(), e))?;
    let before: BTreeSet<Target> = parse_record(
        tags.tags()
            .and_then(|t| t.get(TAG_PROTECTS))
            .map(String::as_str),
    )
    .into_iter()
    .collect();
    let mut after: BTreeSet<Target> = before
        .iter()
        .filter(|t| t.id != target.id)
        .cloned()
        .collect();
    if add {
        after.insert(target.clone());
    }
    if after == before {
        return Ok(());
    }
    if after.is_empty() {
        aws.apigw
            .untag_resource()
            .resource_arn(api_arn(&aws.region, domain_api))
            .tag_keys(TAG_PROTECTS)
            .send()
            .await
            .map_err(|e| aws_error("update", what.to_owned(), e))?;
    } else {
        let value: Vec<String> = after.iter().map(Target::entry).collect();
        aws.apigw
            .tag_resource()
            .resource_arn(api_arn(&aws.region, domain_api))
            .tags(TAG_PROTECTS, value.join(" "))
            .send()
            .await
            .map_err(|e| aws_error("update", what.to_owned(), e))?;
    }
    Ok(())
}

fn jwt_configuration(d: &Desired) -> JwtConfiguration {
    JwtConfiguration::builder()
        .set_issuer(prop_str(d, "issuer"))
        .set_audience(Some(super::strings(d.props.get("audience"))))
        .build()
}

pub async fn create(
    aws: &super::Aws,
    domain: &str,
    d: &Desired,
    physical: &Physical,
) -> Result<String, AwsError> {
    let what = d.id.to_string();
    let api = prop_str(d, "api-id").unwrap_or_default();
    let rest = is_rest(&d.props);
    match d.id.kind {
        Kind::ApiAuthorizer => {
            let domain_api = physical
                .get(&ResourceId::new(Kind::Api, "main"))
                .cloned()
                .ok_or_else(|| super::missing(&d.id, "api/main"))?;
            // Recorded first: a crash after creating still leaves it findable.
            record(aws, &domain_api, &target_of(d), true).await?;
            if rest {
                return rest::create_authorizer(aws, domain, d).await;
            }
            let jwt = prop_str(d, "type").as_deref() == Some("JWT");
            let out = aws
                .apigw
                .create_authorizer()
                .api_id(&api)
                .name(authorizer_name(domain, &d.id.name))
                .authorizer_type(if jwt {
                    AuthorizerType::Jwt
                } else {
                    AuthorizerType::Request
                })
                .set_identity_source(Some(super::strings(d.props.get("identity-source"))))
                .set_jwt_configuration(jwt.then(|| jwt_configuration(d)))
                .set_authorizer_uri(prop_str(d, "uri"))
                .set_authorizer_payload_format_version(prop_str(d, "payload-format"))
                .set_enable_simple_responses(
                    d.props.get("simple-responses").and_then(Value::as_bool),
                )
                .set_authorizer_result_ttl_in_seconds(ttl(d))
                .send()
                .await
                .map_err(|e| aws_error("create", what, e))?;
            Ok(out.authorizer_id().unwrap_or_default().to_owned())
        }
        // The route is the team's: "creating" its authorization is an update, and reaching
        // here means the route was not observed (validated at plan time).
        _ => Err(AwsError {
            action: "protect",
            resource: what,
            code: "NotFound".into(),
            message: format!(
                "API `{api}` has no route `{}`",
                prop_str(d, "route").unwrap_or_default()
            ),
            class: ErrorClass::Terminal,
        }),
    }
}

fn is_rest(props: &BTreeMap<String, Value>) -> bool {
    props.get("api-type").and_then(Value::as_str) == Some("rest")
}

fn ttl(d: &Desired) -> Option<i32> {
    d.props
        .get("ttl")
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
}

/// The record entry of an authorizer's API.
fn target_of(d: &Desired) -> Target {
    Target {
        id: prop_str(d, "api-id").unwrap_or_default(),
        rest_stage: is_rest(&d.props).then(|| prop_str(d, "stage").unwrap_or_default()),
    }
}

pub async fn update(
    aws: &super::Aws,
    d: &Desired,
    o: &Observed,
    physical: &Physical,
) -> Result<(), AwsError> {
    let what = d.id.to_string();
    let api = prop_str(d, "api-id").unwrap_or_default();
    let rest = is_rest(&d.props);
    match d.id.kind {
        Kind::ApiAuthorizer if rest => {
            if let Some(domain_api) = physical.get(&ResourceId::new(Kind::Api, "main")) {
                // The stage to redeploy may have changed.
                record(aws, domain_api, &target_of(d), true).await?;
            }
            rest::update_authorizer(aws, d, o).await?;
        }
        Kind::ApiAuthorizer => {
            let jwt = prop_str(d, "type").as_deref() == Some("JWT");
            aws.apigw
                .update_authorizer()
                .api_id(&api)
                .authorizer_id(&o.physical_id)
                .set_identity_source(Some(super::strings(d.props.get("identity-source"))))
                .set_jwt_configuration(jwt.then(|| jwt_configuration(d)))
                .set_authorizer_uri(prop_str(d, "uri"))
                .set_authorizer_payload_format_version(prop_str(d, "payload-format"))
                .set_enable_simple_responses(
                    d.props.get("simple-responses").and_then(Value::as_bool),
                )
                .set_authorizer_result_ttl_in_seconds(ttl(d))
                .send()
                .await
                .map_err(|e| aws_error("update", what, e))?;
        }
        _ if rest => {
            let authorizer = super::one(d, "authorizer", physical)?;
            rest::protect_method(aws, d, o, &authorizer).await?;
        }
        _ => {
            let authorizer = super::one(d, "authorizer", physical)?;
            let kind = AuthorizationType::from(
                prop_str(d, "authorization-type")
                    .unwrap_or_default()
                    .as_str(),
            );
            aws.apigw
                .update_route()
                .api_id(&api)
                .route_id(&o.physical_id)
                .authorization_type(kind)
                .authorizer_id(authorizer)
                .set_authorization_scopes(Some(super::strings(d.props.get("scopes"))))
                .send()
                .await
                .map_err(|e| aws_error("update", what, e))?;
        }
    }
    Ok(())
}

/// Remove what the domain made: an authorizer (and, when it was the API's last one of
/// ours, the API from the record), or a route's authorization (back to none).
pub async fn delete(aws: &super::Aws, domain: &str, o: &Observed) -> Result<(), AwsError> {
    let what = o.id.to_string();
    let api = o
        .props
        .get("api-id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let rest = is_rest(&o.props);
    match o.id.kind {
        Kind::ApiAuthorizer => {
            let left = if rest {
                rest::delete_authorizer(aws, domain, &api, o).await?
            } else {
                let gone = aws
                    .apigw
                    .delete_authorizer()
                    .api_id(&api)
                    .authorizer_id(&o.physical_id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("delete", what, e));
                super::already_gone(gone)?;
                let prefix = authorizer_name(domain, "");
                authorizers(aws, &api)
                    .await?
                    .unwrap_or_default()
                    .iter()
                    .any(|a| a.name().is_some_and(|n| n.starts_with(&prefix)))
            };
            let domain_api = o
                .refs
                .get("domain-api")
                .and_then(|r| r.first())
                .filter(|a| !a.is_empty());
            if let Some(domain_api) = domain_api
                && !left
            {
                let entry = Target {
                    id: api.clone(),
                    rest_stage: None,
                };
                // The domain's API may be going away in the same destroy: then so does
                // its record.
                match record(aws, domain_api, &entry, false).await {
                    Err(e) if e.class == ErrorClass::NotFound => {}
                    other => other?,
                }
            }
            Ok(())
        }
        _ if rest => rest::reset_method(aws, &api, o).await,
        _ => {
            let reset = aws
                .apigw
                .update_route()
                .api_id(&api)
                .route_id(&o.physical_id)
                .authorization_type(AuthorizationType::None)
                .authorizer_id("")
                .set_authorization_scopes(Some(Vec::new()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("detach the authorizer from", what, e));
            super::already_gone(reset)
        }
    }
}

/// The REST APIs that `changes` touched and the stage each is deployed to: after an
/// apply, each gets one deployment (a REST API serves only what was deployed).
pub fn rest_deployments(
    m: &AuthDomainManifest,
    changes: &[&authdomain_core::plan::Change],
    desired: &BTreeMap<&ResourceId, &Desired>,
    observed: &BTreeMap<&ResourceId, &Observed>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for c in changes {
        let props = desired
            .get(&c.resource)
            .map(|d| &d.props)
            .or_else(|| observed.get(&c.resource).map(|o| &o.props));
        let Some(props) = props.filter(|p| is_rest(p)) else {
            continue;
        };
        let Some(api) = props.get("api-id").and_then(Value::as_str) else {
            continue;
        };
        // The spec's stage; else the one recorded (on the observed authorizer).
        let stage = m
            .spec
            .protected_apis
            .iter()
            .find(|p| p.api_id == api)
            .and_then(|p| p.stage.clone())
            .or_else(|| {
                observed
                    .values()
                    .find(|o| {
                        o.id.kind == Kind::ApiAuthorizer
                            && o.props.get("api-id").and_then(Value::as_str) == Some(api)
                    })
                    .and_then(|o| o.props.get("stage").and_then(Value::as_str))
                    .map(str::to_owned)
            });
        if let Some(stage) = stage.filter(|s| !s.is_empty()) {
            out.insert(api.to_owned(), stage);
        }
    }
    out
}

/// `a, b, c` (sorted), or `none`.
fn sorted_keys(mut keys: Vec<&str>) -> String {
    keys.sort();
    if keys.is_empty() {
        "none".to_owned()
    } else {
        keys.join(", ")
    }
}
