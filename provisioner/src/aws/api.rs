//! The HTTP API in front of the function: the API itself (found by our tags), the AWS_PROXY
//! integration (payload format 2.0), one route per public endpoint of the auth server, and
//! the stage with automatic deployment. Integrations, routes and stages cannot be tagged:
//! they are ours because they belong to our API. Integrations carry their resource name in
//! their description.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_apigatewayv2::types::{Api as ApiSummary, Cors, IntegrationType, ProtocolType};
use serde_json::{Value, json};

use super::{AwsError, TAG_DOMAIN, TAG_RESOURCE, aws_error, ec2::Physical, prop_str, with_retries};
use authdomain_core::plan::{Change, Desired, Kind, Observed, ResourceId};

pub use authdomain_core::plan::names::{ROUTES, TAG_PROTECTS, cors_value};

fn cors_of(d: &Desired) -> Option<Cors> {
    let c = d.props.get("cors").filter(|c| !c.is_null())?;
    let list = |k: &str| super::strings(c.get(k));
    Some(
        Cors::builder()
            .set_allow_origins(Some(list("allow-origins")))
            .set_allow_methods(Some(list("allow-methods")))
            .set_allow_headers(Some(list("allow-headers")))
            .set_max_age(c["max-age"].as_i64().and_then(|n| i32::try_from(n).ok()))
            .build(),
    )
}

fn observed(id: ResourceId, physical: &str, api: &str) -> Observed {
    let mut o = Observed {
        id,
        physical_id: physical.to_owned(),
        props: Default::default(),
        refs: Default::default(),
    };
    o.refs.insert("api".into(), vec![api.to_owned()]);
    o
}

/// Every HTTP API of the account (paged): one listing serves every domain of a
/// multi-domain plan ([`observe_in`] picks each domain's by tag). Paged by hand: the
/// apigatewayv2 model marks GetApis as not paginated, so the SDK has no paginator for it.
pub async fn apis(aws: &super::Aws) -> Result<Vec<ApiSummary>, AwsError> {
    let gw = &aws.apigw;
    let mut apis = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = with_retries(5, || async {
            gw.get_apis()
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| aws_error("describe", "HTTP APIs", e))
        })
        .await?;
        apis.extend(page.items().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(apis)
}

pub async fn observe(aws: &super::Aws, domain: &str) -> Result<Vec<Observed>, AwsError> {
    observe_in(aws, domain, &apis(aws).await?).await
}

/// The domain's API and its parts, the API picked from `apis` ([`apis`]).
pub async fn observe_in(
    aws: &super::Aws,
    domain: &str,
    apis: &[ApiSummary],
) -> Result<Vec<Observed>, AwsError> {
    let mut out = Vec::new();
    for api in apis
        .iter()
        .filter(|a| a.tags().and_then(|t| t.get(TAG_DOMAIN)).map(String::as_str) == Some(domain))
    {
        let id = api.api_id().unwrap_or_default();
        let rid = super::resource_id(
            api.tags()
                .and_then(|t| t.get(TAG_RESOURCE))
                .map(String::as_str),
            Kind::Api,
            id,
        );
        let main = rid.name == "main";
        let mut o = Observed {
            id: rid,
            physical_id: id.to_owned(),
            props: Default::default(),
            refs: Default::default(),
        };
        o.props.insert("_id".into(), json!(id));
        o.props.insert(
            "tags".into(),
            super::user_tags(
                api.tags()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ),
        );
        o.props
            .insert("_endpoint".into(), json!(api.api_endpoint()));
        if let Some(p) = api.tags().and_then(|t| t.get(TAG_PROTECTS)) {
            o.props.insert("_protects".into(), json!(p));
        }
        o.props.insert("name".into(), json!(api.name()));
        o.props.insert(
            "protocol".into(),
            json!(api.protocol_type().map(|p| p.as_str())),
        );
        o.props.insert(
            "cors".into(),
            api.cors_configuration()
                .map(|c| {
                    cors_value(
                        c.allow_origins(),
                        c.allow_methods(),
                        c.allow_headers(),
                        c.max_age(),
                    )
                })
                .unwrap_or(Value::Null),
        );
        out.push(o);
        // Another API tagged as ours is deleted whole; its parts need not be read.
        if main {
            out.extend(observe_parts(aws, id).await?);
        }
    }
    Ok(out)
}

async fn observe_parts(aws: &super::Aws, api: &str) -> Result<Vec<Observed>, AwsError> {
    let gw = &aws.apigw;
    // Every page of each (an API may have more parts than one page holds).
    let (integrations, routes, stages) = tokio::join!(
        super::all_pages(|token| async move {
            with_retries(5, || async {
                gw.get_integrations()
                    .api_id(api)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| aws_error("describe integrations of", api.to_owned(), e))
            })
            .await
            .map(|p| Some((p.items().to_vec(), p.next_token().map(str::to_owned))))
        }),
        super::all_pages(|token| async move {
            with_retries(5, || async {
                gw.get_routes()
                    .api_id(api)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| aws_error("describe routes of", api.to_owned(), e))
            })
            .await
            .map(|p| Some((p.items().to_vec(), p.next_token().map(str::to_owned))))
        }),
        super::all_pages(|token| async move {
            with_retries(5, || async {
                gw.get_stages()
                    .api_id(api)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| aws_error("describe stages of", api.to_owned(), e))
            })
            .await
            .map(|p| Some((p.items().to_vec(), p.next_token().map(str::to_owned))))
        }),
    );
    let mut out = Vec::new();
    for i in &integrations?.unwrap_or_default() {
        let iid = i.integration_id().unwrap_or_default();
        let rid = super::resource_id(
            i.description().and_then(|d| d.strip_prefix("authdomain:")),
            Kind::ApiIntegration,
            iid,
        );
        let mut o = observed(rid, iid, api);
        o.props.insert(
            "type".into(),
            json!(i.integration_type().map(|t| t.as_str())),
        );
        o.props.insert("uri".into(), json!(i.integration_uri()));
        o.props
            .insert("payload-format".into(), json!(i.payload_format_version()));
        out.push(o);
    }
    for r in &routes?.unwrap_or_default() {
        let key = r.route_key().unwrap_or_default();
        let mut o = observed(
            ResourceId::new(Kind::ApiRoute, key),
            r.route_id().unwrap_or_default(),
            api,
        );
        let target: Vec<String> = r
            .target()
            .and_then(|t| t.strip_prefix("integrations/"))
            .map(|t| vec![t.to_owned()])
            .unwrap_or_default();
        o.refs.insert("integration".into(), target);
        out.push(o);
    }
    for s in &stages?.unwrap_or_default() {
        let name = s.stage_name().unwrap_or_default();
        let mut o = observed(ResourceId::new(Kind::ApiStage, name), name, api);
        o.props.insert(
            "auto-deploy".into(),
            json!(s.auto_deploy().unwrap_or(false)),
        );
        out.push(o);
    }
    Ok(out)
}

/// The API id of an existing part.
fn api_of(o: &Observed) -> String {
    o.refs
        .get("api")
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default()
}

pub async fn create(
    aws: &super::Aws,
    domain: &str,
    extra: &BTreeMap<String, String>,
    d: &Desired,
    physical: &Physical,
) -> Result<String, AwsError> {
    let gw = &aws.apigw;
    let what = d.id.to_string();
    match d.id.kind {
        Kind::Api => {
            let tags: HashMap<String, String> =
                super::tag_pairs(domain, &d.id, extra).into_iter().collect();
            let out = gw
                .create_api()
                .name(prop_str(d, "name").unwrap_or_else(|| format!("{domain}-authserver")))
                .description(format!(
                    "AuthDomain {domain}: the OAuth 2.0 authorization server"
                ))
                .protocol_type(ProtocolType::Http)
                .set_cors_configuration(cors_of(d))
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| aws_error("create", what, e))?;
            Ok(out.api_id().unwrap_or_default().to_owned())
        }
        Kind::ApiIntegration => {
            let api = super::one(d, "api", physical)?;
            let out = gw
                .create_integration()
                .api_id(api)
                .description(format!("authdomain:{}", d.id))
                .integration_type(IntegrationType::AwsProxy)
                .set_integration_uri(prop_str(d, "uri"))
                .set_payload_format_version(prop_str(d, "payload-format"))
                .send()
                .await
                .map_err(|e| aws_error("create", what, e))?;
            Ok(out.integration_id().unwrap_or_default().to_owned())
        }
        Kind::ApiRoute => {
            let api = super::one(d, "api", physical)?;
            let integration = super::one(d, "integration", physical)?;
            let out = gw
                .create_route()
                .api_id(api)
                .route_key(&d.id.name)
                .target(format!("integrations/{integration}"))
                .send()
                .await
                .map_err(|e| aws_error("create", what, e))?;
            Ok(out.route_id().unwrap_or_default().to_owned())
        }
        _ => {
            let api = super::one(d, "api", physical)?;
            let tags: HashMap<String, String> =
                super::tag_pairs(domain, &d.id, extra).into_iter().collect();
            gw.create_stage()
                .api_id(api)
                .stage_name(&d.id.name)
                .auto_deploy(d.props.get("auto-deploy") == Some(&json!(true)))
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| aws_error("create", what, e))?;
            Ok(d.id.name.clone())
        }
    }
}

pub async fn update(
    aws: &super::Aws,
    d: &Desired,
    o: &Observed,
    change: &Change,
    physical: &Physical,
) -> Result<(), AwsError> {
    let gw = &aws.apigw;
    let what = d.id.to_string();
    match d.id.kind {
        Kind::Api => match cors_of(d) {
            Some(cors) => {
                gw.update_api()
                    .api_id(&o.physical_id)
                    .set_name(prop_str(d, "name"))
                    .cors_configuration(cors)
                    .send()
                    .await
                    .map_err(|e| aws_error("update", what, e))?;
            }
            None => {
                if change.touches("name") {
                    gw.update_api()
                        .api_id(&o.physical_id)
                        .set_name(prop_str(d, "name"))
                        .send()
                        .await
                        .map_err(|e| aws_error("update", what.clone(), e))?;
                }
                if change.touches("cors") {
                    gw.delete_cors_configuration()
                        .api_id(&o.physical_id)
                        .send()
                        .await
                        .map_err(|e| aws_error("remove CORS from", what, e))?;
                }
            }
        },
        Kind::ApiIntegration => {
            gw.update_integration()
                .api_id(api_of(o))
                .integration_id(&o.physical_id)
                .set_integration_uri(prop_str(d, "uri"))
                .set_payload_format_version(prop_str(d, "payload-format"))
                .send()
                .await
                .map_err(|e| aws_error("update", what, e))?;
        }
        Kind::ApiRoute => {
            let integration = super::one(d, "integration", physical)?;
            gw.update_route()
                .api_id(api_of(o))
                .route_id(&o.physical_id)
                .target(format!("integrations/{integration}"))
                .send()
                .await
                .map_err(|e| aws_error("update", what, e))?;
        }
        _ => {
            gw.update_stage()
                .api_id(api_of(o))
                .stage_name(&o.physical_id)
                .auto_deploy(d.props.get("auto-deploy") == Some(&json!(true)))
                .send()
                .await
                .map_err(|e| aws_error("update", what, e))?;
        }
    }
    Ok(())
}

pub async fn delete(aws: &super::Aws, o: &Observed) -> Result<(), AwsError> {
    let gw = &aws.apigw;
    let what = o.id.to_string();
    let result = match o.id.kind {
        Kind::Api => gw
            .delete_api()
            .api_id(&o.physical_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("delete", what, e)),
        Kind::ApiIntegration => gw
            .delete_integration()
            .api_id(api_of(o))
            .integration_id(&o.physical_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("delete", what, e)),
        Kind::ApiRoute => gw
            .delete_route()
            .api_id(api_of(o))
            .route_id(&o.physical_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("delete", what, e)),
        _ => gw
            .delete_stage()
            .api_id(api_of(o))
            .stage_name(&o.physical_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("delete", what, e)),
    };
    super::already_gone(result)
}
