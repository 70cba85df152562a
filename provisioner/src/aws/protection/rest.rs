//! REST APIs (API Gateway v1) of `spec.protectedApis`: a TOKEN authorizer backed by the
//! authorizer function, the authorization of the listed methods (`GET /orders/{id}` is the
//! method GET of the resource `/orders/{id}`), and a deployment of the named stage after
//! changes, since a REST API serves only what was deployed.

use std::collections::BTreeMap;

use aws_sdk_apigateway::types::{Authorizer, AuthorizerType, Op, PatchOperation, Resource};
use serde_json::json;

use super::{Purpose, Target, invalid, sorted_keys};
use crate::aws::{AwsError, NotFoundAsNone, aws_error, prop_str, with_retries};
use authdomain_core::plan::names::authorizer_name;
use authdomain_core::plan::{Desired, Kind, Observed, ResourceId};
use authdomain_core::spec::AuthDomainManifest;

/// Every page of a REST API's authorizers (None: no such API).
async fn authorizers(
    aws: &crate::aws::Aws,
    api: &str,
) -> Result<Option<Vec<Authorizer>>, AwsError> {
    crate::aws::all_pages(|position| async move {
        let page = with_retries(5, || async {
            aws.apigw_rest
                .get_authorizers()
                .rest_api_id(api)
                .set_position(position.clone())
                .send()
                .await
                .map_err(|e| aws_error("list the authorizers of", format!("REST API {api}"), e))
        })
        .await
        .found()?;
        Ok(page.map(|p| (p.items().to_vec(), p.position().map(str::to_owned))))
    })
    .await
}

/// Every page of a REST API's resources with their methods (None: no such API).
async fn resources(aws: &crate::aws::Aws, api: &str) -> Result<Option<Vec<Resource>>, AwsError> {
    crate::aws::all_pages(|position| async move {
        let page = with_retries(5, || async {
            aws.apigw_rest
                .get_resources()
                .rest_api_id(api)
                .embed("methods")
                .set_position(position.clone())
                .send()
                .await
                .map_err(|e| aws_error("list the resources of", format!("REST API {api}"), e))
        })
        .await
        .found()?;
        Ok(page.map(|p| (p.items().to_vec(), p.position().map(str::to_owned))))
    })
    .await
}

/// A method as a route: its key (`GET /orders`), physical id (`<resource id> <METHOD>`),
/// authorization type and authorizer.
struct MethodRoute {
    key: String,
    physical: String,
    authorization: String,
    authorizer: Option<String>,
}

fn methods(resources: &[Resource]) -> Vec<MethodRoute> {
    let mut out = Vec::new();
    for r in resources {
        let path = r.path().unwrap_or_default();
        for (verb, m) in r.resource_methods().into_iter().flatten() {
            out.push(MethodRoute {
                key: format!("{verb} {path}"),
                physical: format!("{} {verb}", r.id().unwrap_or_default()),
                authorization: m.authorization_type().unwrap_or("NONE").to_owned(),
                authorizer: m
                    .authorizer_id()
                    .filter(|a| !a.is_empty())
                    .map(str::to_owned),
            });
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// The domain's authorizer on the REST API `target` and the methods it (or the spec)
/// concerns. With [`Purpose::Apply`], an API or method the spec lists that does not exist
/// is an error naming the field.
pub(super) async fn observe(
    aws: &crate::aws::Aws,
    m: &AuthDomainManifest,
    target: &Target,
    domain_api: &str,
    purpose: Purpose,
) -> Result<Vec<Observed>, AwsError> {
    let api = &target.id;
    let prefix = authorizer_name(&m.metadata.name, "");
    let spec = m
        .spec
        .protected_apis
        .iter()
        .enumerate()
        .find(|(_, p)| &p.api_id == api);
    let (authorizers, resources) = tokio::join!(authorizers(aws, api), resources(aws, api));
    let (Some(authorizers), Some(resources)) = (authorizers?, resources?) else {
        if let (Some((i, p)), Purpose::Apply) = (spec, purpose) {
            return Err(invalid(
                format!("spec.protectedApis[{i}].apiId"),
                format!(
                    "there is no REST API `{}` in {} (API Gateway answered NotFoundException): check \
                     the id (`aws apigateway get-rest-apis`), the region and `apiType`",
                    p.api_id, aws.region
                ),
            ));
        }
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut ours: BTreeMap<String, String> = BTreeMap::new();
    for a in &authorizers {
        let Some(name) = a.name().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let id = a.id().unwrap_or_default().to_owned();
        ours.insert(id.clone(), name.to_owned());
        let mut o = Observed {
            id: ResourceId::new(Kind::ApiAuthorizer, name),
            physical_id: id,
            props: Default::default(),
            refs: Default::default(),
        };
        o.props.insert("api-id".into(), json!(api));
        o.props.insert("api-type".into(), json!("rest"));
        o.props
            .insert("type".into(), json!(a.r#type().map(|t| t.as_str())));
        o.props
            .insert("identity-source".into(), json!(a.identity_source()));
        o.props.insert("uri".into(), json!(a.authorizer_uri()));
        o.props.insert(
            "ttl".into(),
            json!(a.authorizer_result_ttl_in_seconds().unwrap_or(300)),
        );
        o.props.insert("stage".into(), json!(target.rest_stage));
        o.refs
            .insert("domain-api".into(), vec![domain_api.to_owned()]);
        out.push(o);
    }
    let routes = methods(&resources);
    let listed: Vec<&str> = spec
        .map(|(_, p)| p.routes.iter().map(|r| r.route.as_str()).collect())
        .unwrap_or_default();
    for r in &routes {
        let attached = r
            .authorizer
            .as_ref()
            .filter(|_| r.authorization != "NONE")
            .and_then(|a| ours.get(a));
        let name = match spec {
            Some((_, p)) if listed.contains(&r.key.as_str()) => p.name.as_str(),
            _ => match attached {
                Some(n) => n.as_str(),
                None => continue,
            },
        };
        let mut o = Observed {
            id: ResourceId::new(Kind::RouteAuthorization, format!("{name}/{}", r.key)),
            physical_id: r.physical.clone(),
            props: Default::default(),
            refs: Default::default(),
        };
        o.props.insert("api-id".into(), json!(api));
        o.props.insert("api-type".into(), json!("rest"));
        o.props.insert("route".into(), json!(r.key));
        o.props
            .insert("authorization-type".into(), json!(r.authorization));
        o.props.insert("scopes".into(), json!(Vec::<String>::new()));
        o.refs
            .insert("authorizer".into(), r.authorizer.iter().cloned().collect());
        out.push(o);
    }
    if let (Some((i, p)), Purpose::Apply) = (spec, purpose) {
        for (j, r) in p.routes.iter().enumerate() {
            if !routes.iter().any(|x| x.key == r.route) {
                let have: Vec<&str> = routes.iter().map(|x| x.key.as_str()).collect();
                return Err(invalid(
                    format!("spec.protectedApis[{i}].routes[{j}].route"),
                    format!(
                        "REST API `{api}` has no method `{}` (its methods: {}); AuthDomain protects \
                         methods, it does not create them",
                        r.route,
                        sorted_keys(have)
                    ),
                ));
            }
        }
    }
    Ok(out)
}

fn replace(path: &str, value: impl Into<String>) -> PatchOperation {
    PatchOperation::builder()
        .op(Op::Replace)
        .path(path)
        .value(value)
        .build()
}

pub(super) async fn create_authorizer(
    aws: &crate::aws::Aws,
    domain: &str,
    d: &Desired,
) -> Result<String, AwsError> {
    let api = prop_str(d, "api-id").unwrap_or_default();
    let out = aws
        .apigw_rest
        .create_authorizer()
        .rest_api_id(&api)
        .name(authorizer_name(domain, &d.id.name))
        .r#type(AuthorizerType::Token)
        .set_authorizer_uri(prop_str(d, "uri"))
        .set_identity_source(prop_str(d, "identity-source"))
        .authorizer_result_ttl_in_seconds(0)
        .send()
        .await
        .map_err(|e| aws_error("create", d.id.to_string(), e))?;
    Ok(out.id().unwrap_or_default().to_owned())
}

pub(super) async fn update_authorizer(
    aws: &crate::aws::Aws,
    d: &Desired,
    o: &Observed,
) -> Result<(), AwsError> {
    let api = prop_str(d, "api-id").unwrap_or_default();
    aws.apigw_rest
        .update_authorizer()
        .rest_api_id(&api)
        .authorizer_id(&o.physical_id)
        .patch_operations(replace(
            "/authorizerUri",
            prop_str(d, "uri").unwrap_or_default(),
        ))
        .patch_operations(replace(
            "/identitySource",
            prop_str(d, "identity-source").unwrap_or_default(),
        ))
        .patch_operations(replace("/authorizerResultTtlInSeconds", "0"))
        .send()
        .await
        .map_err(|e| aws_error("update", d.id.to_string(), e))?;
    Ok(())
}

/// Delete the authorizer; whether one of the domain's authorizers is left on the API.
pub(super) async fn delete_authorizer(
    aws: &crate::aws::Aws,
    domain: &str,
    api: &str,
    o: &Observed,
) -> Result<bool, AwsError> {
    let gone = aws
        .apigw_rest
        .delete_authorizer()
        .rest_api_id(api)
        .authorizer_id(&o.physical_id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("delete", o.id.to_string(), e));
    crate::aws::already_gone(gone)?;
    let prefix = authorizer_name(domain, "");
    Ok(authorizers(aws, api)
        .await?
        .unwrap_or_default()
        .iter()
        .any(|a| a.name().is_some_and(|n| n.starts_with(&prefix))))
}

fn method_of(o: &Observed) -> (String, String) {
    let (resource, verb) = o.physical_id.split_once(' ').unwrap_or_default();
    (resource.to_owned(), verb.to_owned())
}

/// Set a method's authorization to the authorizer.
pub(super) async fn protect_method(
    aws: &crate::aws::Aws,
    d: &Desired,
    o: &Observed,
    authorizer: &str,
) -> Result<(), AwsError> {
    let api = prop_str(d, "api-id").unwrap_or_default();
    let (resource, verb) = method_of(o);
    aws.apigw_rest
        .update_method()
        .rest_api_id(&api)
        .resource_id(resource)
        .http_method(verb)
        .patch_operations(replace(
            "/authorizationType",
            prop_str(d, "authorization-type").unwrap_or_default(),
        ))
        .patch_operations(replace("/authorizerId", authorizer))
        .send()
        .await
        .map_err(|e| aws_error("update", d.id.to_string(), e))?;
    Ok(())
}

/// Back to no authorization.
pub(super) async fn reset_method(
    aws: &crate::aws::Aws,
    api: &str,
    o: &Observed,
) -> Result<(), AwsError> {
    let (resource, verb) = method_of(o);
    let reset = aws
        .apigw_rest
        .update_method()
        .rest_api_id(api)
        .resource_id(resource)
        .http_method(verb)
        .patch_operations(replace("/authorizationType", "NONE"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("detach the authorizer from", o.id.to_string(), e));
    crate::aws::already_gone(reset)
}

/// Deploy the REST API's current methods to `stage`. Returns the deployment id.
pub async fn redeploy(
    aws: &crate::aws::Aws,
    domain: &str,
    api: &str,
    stage: &str,
) -> Result<String, AwsError> {
    let out = with_retries(5, || async {
        aws.apigw_rest
            .create_deployment()
            .rest_api_id(api)
            .stage_name(stage)
            .description(format!(
                "AuthDomain {domain}: authorization of the protected methods"
            ))
            .send()
            .await
            .map_err(|e| aws_error("deploy", format!("REST API {api} to stage {stage}"), e))
    })
    .await?;
    Ok(out.id().unwrap_or_default().to_owned())
}
