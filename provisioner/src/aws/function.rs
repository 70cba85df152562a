//! The auth server's Lambda function (from the ECR image, by digest) and the permission
//! that lets the domain's HTTP API, and nothing else, invoke it. Name-keyed
//! (`<domain>-authserver`), ours only when tagged so.
//!
//! The environment holds no secret in clear: it is encrypted at rest with the domain's
//! KMS key, the database password is an IAM token the function signs itself, and the
//! key-encryption key is observed as a fingerprint only (see `secrets`).

use std::collections::{BTreeMap, HashMap};

use authdomain_api::ManagementEvent;
use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, PackageType, VpcConfig};
use serde_json::{Value, json};

use super::{
    AwsError, ErrorClass, NotFoundAsNone, Poll, TAG_DOMAIN, aws_error, ec2::Physical, prop_str,
    wait_for, with_propagation, with_retries,
};
use authdomain_core::plan::{Change, Desired, Kind, Observed, ResourceId};

/// The environment variable that carries the key-encryption key.
pub use authdomain_core::plan::names::KEK_VARIABLE;
/// The function's tag recording which image tag its digest was resolved from: repository
/// tags are immutable, so while it equals the spec's tag no registry lookup is needed.
pub const TAG_IMAGE_TAG: &str = "authdomain.io/image-tag";
/// The permission statement that lets the API invoke the function.
pub const STATEMENT_ID: &str = "authdomain-api-invoke";

pub fn function_name(domain: &str) -> String {
    format!("{domain}-authserver")
}

/// The function a resource names: `function/main` is the auth server
/// (`<domain>-authserver`), `function/authorizer` the Lambda authorizer
/// (`<domain>-authorizer`).
pub fn name_of(domain: &str, id: &ResourceId) -> String {
    if id.name == "main" {
        function_name(domain)
    } else {
        format!("{domain}-{}", id.name)
    }
}

/// The statement id of a permission resource: `lambda-permission/api` is the auth
/// server's API; `lambda-permission/authorizer-<api>` a protected API's authorizer.
fn statement_id(id: &ResourceId) -> String {
    if id.name == "api" {
        STATEMENT_ID.to_owned()
    } else {
        format!("authdomain-{}", id.name)
    }
}

/// The permission resource a statement id names (the inverse of [`statement_id`]).
fn permission_of(sid: &str) -> Option<ResourceId> {
    let name = if sid == STATEMENT_ID {
        "api"
    } else {
        sid.strip_prefix("authdomain-")?
    };
    Some(ResourceId::new(Kind::LambdaPermission, name))
}

fn prop_i32(d: &Desired, field: &str) -> Option<i32> {
    d.props
        .get(field)
        .and_then(Value::as_u64)
        .and_then(|n| i32::try_from(n).ok())
}

pub async fn observe(aws: &super::Aws, domain: &str) -> Result<Vec<Observed>, AwsError> {
    observe_one(aws, domain, "main").await
}

/// One of the domain's functions (`main` or `authorizer`) and its permissions.
pub async fn observe_one(
    aws: &super::Aws,
    domain: &str,
    resource: &str,
) -> Result<Vec<Observed>, AwsError> {
    let id = ResourceId::new(Kind::Function, resource);
    let name = name_of(domain, &id);
    let found = with_retries(5, || async {
        aws.lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .map_err(|e| aws_error("describe", name.clone(), e))
    })
    .await;
    let Some(f) = found.found()? else {
        return Ok(Vec::new());
    };
    if f.tags().and_then(|t| t.get(TAG_DOMAIN)).map(String::as_str) != Some(domain) {
        tracing::warn!(function = %name, "a Lambda function with this name exists but is not tagged as this domain's");
        return Ok(Vec::new());
    }
    let Some(c) = f.configuration() else {
        return Ok(Vec::new());
    };
    let mut o = Observed {
        id,
        physical_id: name.clone(),
        props: Default::default(),
        refs: Default::default(),
    };
    o.props.insert("_arn".into(), json!(c.function_arn()));
    o.props.insert(
        "tags".into(),
        super::user_tags(
            f.tags()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
    );
    o.props.insert(
        "package-type".into(),
        json!(c.package_type().map(|p| p.as_str())),
    );
    o.props
        .insert("image".into(), json!(f.code().and_then(|c| c.image_uri())));
    o.props.insert(
        "image-tag".into(),
        json!(f.tags().and_then(|t| t.get(TAG_IMAGE_TAG))),
    );
    o.props.insert(
        "architecture".into(),
        json!(c.architectures().first().map(|a| a.as_str())),
    );
    o.props.insert("memory".into(), json!(c.memory_size()));
    o.props.insert("timeout".into(), json!(c.timeout()));
    o.props.insert(
        "reserved-concurrency".into(),
        json!(
            f.concurrency()
                .and_then(|c| c.reserved_concurrent_executions())
        ),
    );
    o.props.insert("role".into(), json!(c.role()));
    o.props.insert("kms-key".into(), json!(c.kms_key_arn()));
    let env: BTreeMap<String, String> = c
        .environment()
        .and_then(|e| e.variables())
        .map(|vars| {
            vars.iter()
                .map(|(k, v)| {
                    // Never hold the key itself: its fingerprint is compared instead.
                    let v = if k == KEK_VARIABLE {
                        super::secrets::fingerprint(v)
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    o.props.insert("environment".into(), json!(env));
    if let Some(vpc) = c.vpc_config() {
        let mut subnets = vpc.subnet_ids().to_vec();
        subnets.sort();
        let mut groups = vpc.security_group_ids().to_vec();
        groups.sort();
        o.refs.insert("subnets".into(), subnets);
        o.refs.insert("security-groups".into(), groups);
    }
    let mut out = vec![o];
    out.extend(observe_permission(aws, &name).await?);
    Ok(out)
}

async fn observe_permission(aws: &super::Aws, name: &str) -> Result<Vec<Observed>, AwsError> {
    let policy = with_retries(5, || async {
        aws.lambda
            .get_policy()
            .function_name(name)
            .send()
            .await
            .map_err(|e| aws_error("read the policy of", name.to_owned(), e))
    })
    .await;
    let Some(policy) = policy.found()? else {
        return Ok(Vec::new());
    };
    let doc: Value = policy
        .policy()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or(Value::Null);
    let statements = doc["Statement"].as_array().cloned().unwrap_or_default();
    let mut out = Vec::new();
    for st in &statements {
        let Some(sid) = st["Sid"].as_str() else {
            continue;
        };
        let Some(id) = permission_of(sid) else {
            continue;
        };
        out.push(permission_observed(id, sid, st, name));
    }
    Ok(out)
}

fn permission_observed(id: ResourceId, sid: &str, st: &Value, name: &str) -> Observed {
    let mut o = Observed {
        id,
        physical_id: sid.to_owned(),
        props: Default::default(),
        refs: Default::default(),
    };
    let principal = match &st["Principal"] {
        Value::Object(p) => p.get("Service").cloned().unwrap_or(Value::Null),
        other => other.clone(),
    };
    o.props.insert("principal".into(), principal);
    o.props.insert("action".into(), st["Action"].clone());
    o.props.insert(
        "source-arn".into(),
        st["Condition"]["ArnLike"]["AWS:SourceArn"].clone(),
    );
    o.refs.insert("function".into(), vec![name.to_owned()]);
    o
}

/// The environment to write: the desired one with the KEK's fingerprint replaced by the
/// KEK, read from Secrets Manager now.
async fn environment(aws: &super::Aws, domain: &str, d: &Desired) -> Result<Environment, AwsError> {
    let mut vars: HashMap<String, String> = d
        .props
        .get("environment")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    if vars.contains_key(KEK_VARIABLE) {
        let kek = super::secrets::value(aws, &super::secrets::secret_name(domain)).await?;
        vars.insert(KEK_VARIABLE.to_owned(), kek);
    }
    Ok(Environment::builder().set_variables(Some(vars)).build())
}

/// The VPC attachment, for a function that has one (the authorizer has none: it reaches
/// only the issuer's public JWKS).
fn vpc_config(d: &Desired, physical: &Physical) -> Result<Option<VpcConfig>, AwsError> {
    if !d.refs.contains_key("subnets") {
        return Ok(None);
    }
    Ok(Some(
        VpcConfig::builder()
            .set_subnet_ids(Some(super::many(d, "subnets", physical)?))
            .set_security_group_ids(Some(super::many(d, "security-groups", physical)?))
            .build(),
    ))
}

fn description(domain: &str, id: &ResourceId) -> String {
    if id.name == "main" {
        format!("AuthDomain {domain}: the OAuth 2.0 authorization server")
    } else {
        format!("AuthDomain {domain}: the Lambda authorizer of the protected APIs")
    }
}

/// What Lambda answers (`InvalidParameterValueException`) for tens of seconds after the
/// function's role or KMS key was created, while IAM propagates them:
/// - "The role defined for the function cannot be assumed by Lambda."
/// - "The provided execution role does not have permissions to call CreateNetworkInterface
///   on EC2" (the role's VPC access policy is not visible to EC2 yet)
/// - "Lambda was unable to configure access to your environment variables because the KMS
///   key is invalid for CreateGrant. Please check your KMS key settings. KMS Exception:
///   InvalidArnException KMS Message: ARN does not refer to a valid principal: …"
const PROPAGATION_MESSAGES: [&str; 4] = [
    "cannot be assumed by Lambda",
    "does not have permissions to call CreateNetworkInterface on EC2",
    "ARN does not refer to a valid principal",
    "is invalid for CreateGrant",
];

/// Those answers are propagation, retried by elapsed time; every other invalid parameter
/// is the caller's to fix and fails at once.
fn eventual(mut e: AwsError) -> AwsError {
    if e.code == "InvalidParameterValueException"
        && PROPAGATION_MESSAGES.iter().any(|m| e.message.contains(m))
    {
        e.class = ErrorClass::Propagating;
    }
    e
}

pub async fn create(
    aws: &super::Aws,
    domain: &str,
    extra: &BTreeMap<String, String>,
    d: &Desired,
    physical: &Physical,
) -> Result<String, AwsError> {
    let name = name_of(domain, &d.id);
    let env = environment(aws, domain, d).await?;
    let vpc = vpc_config(d, physical)?;
    let mut tags: HashMap<String, String> =
        super::tag_pairs(domain, &d.id, extra).into_iter().collect();
    if let Some(t) = prop_str(d, "image-tag") {
        tags.insert(TAG_IMAGE_TAG.to_owned(), t);
    }
    let architecture = Architecture::from(prop_str(d, "architecture").unwrap_or_default().as_str());
    with_propagation(aws, || async {
        aws.lambda
            .create_function()
            .function_name(&name)
            .description(description(domain, &d.id))
            .package_type(PackageType::Image)
            .code(
                FunctionCode::builder()
                    .set_image_uri(prop_str(d, "image"))
                    .build(),
            )
            .architectures(architecture.clone())
            .set_role(prop_str(d, "role"))
            .set_memory_size(prop_i32(d, "memory"))
            .set_timeout(prop_i32(d, "timeout"))
            .set_kms_key_arn(prop_str(d, "kms-key"))
            .environment(env.clone())
            .set_vpc_config(vpc.clone())
            .set_tags(Some(tags.clone()))
            .send()
            .await
            .map_err(|e| eventual(aws_error("create", d.id.to_string(), e)))
    })
    .await?;
    wait_settled(aws, &name, &d.id, aws.patience.function).await?;
    if let Some(n) = prop_i32(d, "reserved-concurrency") {
        put_concurrency(aws, &name, d, n).await?;
    }
    Ok(name)
}

async fn put_concurrency(
    aws: &super::Aws,
    name: &str,
    d: &Desired,
    n: i32,
) -> Result<(), AwsError> {
    aws.lambda
        .put_function_concurrency()
        .function_name(name)
        .reserved_concurrent_executions(n)
        .send()
        .await
        .map_err(|e| aws_error("set the concurrency of", d.id.to_string(), e))?;
    Ok(())
}

pub async fn update(
    aws: &super::Aws,
    domain: &str,
    d: &Desired,
    o: &Observed,
    change: &Change,
    physical: &Physical,
) -> Result<(), AwsError> {
    let name = &o.physical_id;
    let changed = |f: &str| change.touches(f);
    if changed("image") || changed("architecture") {
        let architecture =
            Architecture::from(prop_str(d, "architecture").unwrap_or_default().as_str());
        with_retries(10, || async {
            aws.lambda
                .update_function_code()
                .function_name(name)
                .set_image_uri(prop_str(d, "image"))
                .architectures(architecture.clone())
                .send()
                .await
                .map_err(|e| aws_error("update the code of", d.id.to_string(), e))
        })
        .await?;
        wait_settled(aws, name, &d.id, aws.patience.function).await?;
    }
    let config_fields = [
        "memory",
        "timeout",
        "role",
        "kms-key",
        "environment",
        "subnets",
        "security-groups",
    ];
    if config_fields.iter().any(|f| changed(f)) {
        let env = environment(aws, domain, d).await?;
        let vpc = vpc_config(d, physical)?;
        // A code update still in progress answers ResourceConflictException: retried;
        // the wait for `LastUpdateStatus` after each update makes it rare.
        with_propagation(aws, || async {
            aws.lambda
                .update_function_configuration()
                .function_name(name)
                .set_role(prop_str(d, "role"))
                .set_memory_size(prop_i32(d, "memory"))
                .set_timeout(prop_i32(d, "timeout"))
                .set_kms_key_arn(prop_str(d, "kms-key"))
                .environment(env.clone())
                .set_vpc_config(vpc.clone())
                .send()
                .await
                .map_err(|e| eventual(aws_error("update", d.id.to_string(), e)))
        })
        .await?;
        wait_settled(aws, name, &d.id, aws.patience.function).await?;
    }
    if changed("image-tag") {
        let arn = o
            .props
            .get("_arn")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        match prop_str(d, "image-tag") {
            Some(t) => aws
                .lambda
                .tag_resource()
                .resource(&arn)
                .tags(TAG_IMAGE_TAG, t)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("tag", d.id.to_string(), e))?,
            None => aws
                .lambda
                .untag_resource()
                .resource(&arn)
                .tag_keys(TAG_IMAGE_TAG)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("untag", d.id.to_string(), e))?,
        }
    }
    if changed("reserved-concurrency") {
        match prop_i32(d, "reserved-concurrency") {
            Some(n) => put_concurrency(aws, name, d, n).await?,
            None => {
                aws.lambda
                    .delete_function_concurrency()
                    .function_name(name)
                    .send()
                    .await
                    .map_err(|e| aws_error("reset the concurrency of", d.id.to_string(), e))?;
            }
        }
    }
    Ok(())
}

/// Wait until the function can be invoked: state `Active` and no update in progress (a
/// function in a VPC is `Pending` while Lambda creates its network interfaces).
pub async fn wait_ready(
    aws: &super::Aws,
    domain: &str,
    timeout: std::time::Duration,
) -> Result<(), AwsError> {
    let id = ResourceId::new(Kind::Function, "main");
    wait_settled(aws, &function_name(domain), &id, timeout).await
}

/// After CreateFunction, UpdateFunctionCode or UpdateFunctionConfiguration: wait until
/// `State` is `Active` and `LastUpdateStatus` is `Successful`, before the next change or
/// before reporting done. `Failed` is an error with AWS's reason code and reason.
pub async fn wait_settled(
    aws: &super::Aws,
    name: &str,
    id: &ResourceId,
    bound: std::time::Duration,
) -> Result<(), AwsError> {
    let resource = id.to_string();
    wait_for(
        aws,
        &resource,
        bound,
        |what, elapsed| {
            format!(
                "{what} after {}: Lambda is still working on it; re-run to continue",
                super::elapsed_text(elapsed)
            )
        },
        || async {
            let c = with_retries(5, || async {
                aws.lambda
                    .get_function_configuration()
                    .function_name(name)
                    .send()
                    .await
                    .map_err(|e| aws_error("read the state of", resource.clone(), e))
            })
            .await?;
            let state = c.state().map(|s| s.as_str().to_owned());
            let update = c.last_update_status().map(|s| s.as_str().to_owned());
            match (state.as_deref(), update.as_deref()) {
                (Some("Active") | None, Some("Successful") | None) => Ok(Poll::Done(())),
                (Some("Failed"), _) => Err(failed(
                    &resource,
                    c.state_reason_code().map(|r| r.as_str()),
                    c.state_reason(),
                    "the function failed to become active",
                )),
                (_, Some("Failed")) => Err(failed(
                    &resource,
                    c.last_update_status_reason_code().map(|r| r.as_str()),
                    c.last_update_status_reason(),
                    "the function's last update failed",
                )),
                (Some("Inactive"), _) => Ok(Poll::Waiting(
                    "the function is Inactive (idle for weeks): Lambda is restoring it".into(),
                )),
                _ => Ok(Poll::Waiting(format!(
                    "waiting for Lambda: State {}, LastUpdateStatus {}{}",
                    state.as_deref().unwrap_or("?"),
                    update.as_deref().unwrap_or("?"),
                    c.state_reason()
                        .or(c.last_update_status_reason())
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ))),
            }
        },
    )
    .await
}

fn failed(resource: &str, code: Option<&str>, reason: Option<&str>, fallback: &str) -> AwsError {
    AwsError {
        action: "wait for",
        resource: resource.to_owned(),
        code: code.unwrap_or("Failed").to_owned(),
        message: reason.unwrap_or(fallback).to_owned(),
        class: ErrorClass::Terminal,
    }
}

/// Invoke the function with a management event (`{"authdomain": {...}}`) and return its
/// `result`. `lambda:InvokeFunction` is IAM-protected and API Gateway never forwards such
/// events. The answer may hold credentials: it is never logged, and errors carry only the
/// server's error message.
pub async fn invoke_management(
    aws: &super::Aws,
    domain: &str,
    event: &ManagementEvent,
) -> Result<Value, AwsError> {
    let name = function_name(domain);
    let resource = format!("function/main ({})", event.action());
    let payload = serde_json::to_vec(&event.payload()).expect("JSON");
    let invoke = || {
        with_retries(8, || async {
            aws.lambda
                .invoke()
                .function_name(&name)
                .payload(aws_smithy_types::Blob::new(payload.clone()))
                .send()
                .await
                .map_err(|e| aws_error("invoke", resource.clone(), e))
        })
    };
    // A function idle long enough for Lambda to reclaim its network interfaces is
    // `Inactive`: the invocation fails, Lambda sets it `Pending` while it re-creates them,
    // then `Active` (https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html).
    // Wait for that, saying so, then invoke again.
    let out = match invoke().await {
        Err(e) if e.code == "ResourceNotReadyException" => {
            aws.notices.say(&format!(
                "{resource}: the function is not ready ({}); waiting for Lambda to make it Active",
                e.message
            ));
            wait_ready(aws, domain, aws.patience.function).await?;
            invoke().await?
        }
        other => other?,
    };
    let body: Value = out
        .payload()
        .and_then(|p| serde_json::from_slice(p.as_ref()).ok())
        .unwrap_or(Value::Null);
    if let Some(kind) = out.function_error() {
        return Err(AwsError {
            action: "invoke",
            resource,
            code: format!("Function{kind}"),
            message: body["errorMessage"]
                .as_str()
                .unwrap_or("the function failed without a message")
                .to_owned(),
            class: ErrorClass::Terminal,
        });
    }
    if body["ok"] == json!(true) {
        return Ok(body["result"].clone());
    }
    let not_found = body["not_found"] == json!(true);
    Err(AwsError {
        action: "invoke",
        resource,
        code: if not_found {
            "NotFound"
        } else {
            "ManagementEventFailed"
        }
        .into(),
        message: body["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| "the function's answer is not a management result".into()),
        class: if not_found {
            ErrorClass::NotFound
        } else {
            ErrorClass::Terminal
        },
    })
}

pub async fn delete(aws: &super::Aws, o: &Observed) -> Result<(), AwsError> {
    match aws
        .lambda
        .delete_function()
        .function_name(&o.physical_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => super::already_gone(Err(aws_error("delete", o.id.to_string(), e))),
    }
}

pub async fn create_permission(
    aws: &super::Aws,
    d: &Desired,
    physical: &Physical,
) -> Result<String, AwsError> {
    let function = super::one(d, "function", physical)?;
    let sid = statement_id(&d.id);
    aws.lambda
        .add_permission()
        .function_name(function)
        .statement_id(&sid)
        .set_action(prop_str(d, "action"))
        .set_principal(prop_str(d, "principal"))
        .set_source_arn(prop_str(d, "source-arn"))
        .send()
        .await
        .map_err(|e| aws_error("create", d.id.to_string(), e))?;
    Ok(sid)
}

/// A permission cannot be changed: it is removed and added again.
pub async fn update_permission(
    aws: &super::Aws,
    d: &Desired,
    o: &Observed,
    physical: &Physical,
) -> Result<(), AwsError> {
    delete_permission(aws, o).await?;
    create_permission(aws, d, physical).await.map(|_| ())
}

pub async fn delete_permission(aws: &super::Aws, o: &Observed) -> Result<(), AwsError> {
    let function = o
        .refs
        .get("function")
        .and_then(|f| f.first())
        .cloned()
        .unwrap_or_default();
    match aws
        .lambda
        .remove_permission()
        .function_name(function)
        .statement_id(&o.physical_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => super::already_gone(Err(aws_error("delete", o.id.to_string(), e))),
    }
}
