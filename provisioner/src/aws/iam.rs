//! The function's IAM role: trusted by Lambda only, with the two AWS-managed policies a
//! VPC-attached function needs (logs; network interfaces) and nothing with a `*` action.
//! Name-keyed: found by name, ours only when tagged so. IAM returns policy documents
//! URL-encoded; they are decoded and parsed, so encoding and key order are never drift.

use aws_sdk_iam::types::Tag;
use serde_json::{Value, json};

use super::{
    AwsError, ErrorClass, NotFoundAsNone, TAG_DOMAIN, aws_error, with_propagation, with_retries,
};
use authdomain_core::plan::{Change, Desired, Kind, Observed, ResourceId};

pub use authdomain_core::plan::names::{BASIC_EXECUTION, POLICY_NAME, VPC_ACCESS, trust_policy};

pub fn role_name(domain: &str) -> String {
    format!("{domain}-authserver-function")
}

/// The role a resource names: `iam-role/function` (the auth server's) or
/// `iam-role/authorizer` (the Lambda authorizer's, `<domain>-authorizer-function`).
pub fn name_of(domain: &str, id: &ResourceId) -> String {
    if id.name == "function" {
        role_name(domain)
    } else {
        format!("{domain}-{}-function", id.name)
    }
}

/// A policy document as IAM returns it (URL-encoded JSON, or plain JSON) as a value.
pub fn decode_policy(doc: &str) -> Value {
    serde_json::from_str(doc)
        .or_else(|_| {
            let decoded = percent_encoding::percent_decode_str(doc).decode_utf8_lossy();
            serde_json::from_str(&decoded)
        })
        .unwrap_or(Value::String(doc.to_owned()))
}

pub async fn observe(aws: &super::Aws, domain: &str) -> Result<Vec<Observed>, AwsError> {
    observe_one(aws, domain, "function").await
}

/// One of the domain's roles (`function` with its inline policy, or `authorizer`).
pub async fn observe_one(
    aws: &super::Aws,
    domain: &str,
    resource: &str,
) -> Result<Vec<Observed>, AwsError> {
    let iam = &aws.iam;
    let id = ResourceId::new(Kind::IamRole, resource);
    let name = name_of(domain, &id);
    let Some(role) = with_retries(5, || async {
        iam.get_role()
            .role_name(&name)
            .send()
            .await
            .map_err(|e| aws_error("describe", name.clone(), e))
    })
    .await
    .found()?
    else {
        return Ok(Vec::new());
    };
    let Some(role) = role.role() else {
        return Ok(Vec::new());
    };
    if !role
        .tags()
        .iter()
        .any(|t| t.key() == TAG_DOMAIN && t.value() == domain)
    {
        tracing::warn!(role = %name, "an IAM role with this name exists but is not tagged as this domain's");
        return Ok(Vec::new());
    }
    let attached = with_retries(5, || async {
        iam.list_attached_role_policies()
            .role_name(&name)
            .send()
            .await
            .map_err(|e| aws_error("list policies of", name.clone(), e))
    })
    .await?;
    let mut arns: Vec<String> = attached
        .attached_policies()
        .iter()
        .filter_map(|p| p.policy_arn().map(str::to_owned))
        .collect();
    arns.sort();
    let with_policy = id.name == "function";
    let mut o = Observed {
        id,
        physical_id: name.clone(),
        props: Default::default(),
        refs: Default::default(),
    };
    o.props.insert("_arn".into(), json!(role.arn()));
    o.props.insert(
        "tags".into(),
        super::user_tags(role.tags().iter().map(|t| (t.key(), t.value()))),
    );
    o.props.insert(
        "trust-policy".into(),
        role.assume_role_policy_document()
            .map(decode_policy)
            .unwrap_or(Value::Null),
    );
    o.props.insert("managed-policies".into(), json!(arns));
    let mut out = vec![o];
    if !with_policy {
        return Ok(out);
    }
    let inline = with_retries(5, || async {
        iam.get_role_policy()
            .role_name(&name)
            .policy_name(POLICY_NAME)
            .send()
            .await
            .map_err(|e| aws_error("read the policy of", name.clone(), e))
    })
    .await;
    if let Some(p) = inline.found()? {
        let mut o = Observed {
            id: ResourceId::new(Kind::IamPolicy, POLICY_NAME),
            physical_id: POLICY_NAME.to_owned(),
            props: Default::default(),
            refs: Default::default(),
        };
        o.props
            .insert("document".into(), decode_policy(p.policy_document()));
        o.refs.insert("role".into(), vec![name.clone()]);
        out.push(o);
    }
    Ok(out)
}

/// IAM is eventually consistent: right after CreateRole, AttachRolePolicy and
/// PutRolePolicy on the new role may answer `NoSuchEntity` ("The role with name … cannot
/// be found."). For a role this apply made or found, that is propagation, not absence.
fn role_not_visible_yet(mut e: AwsError) -> AwsError {
    if e.code == "NoSuchEntity" {
        e.class = ErrorClass::Propagating;
    }
    e
}

/// Write the inline policy (create and update are the same call).
pub async fn put_policy(aws: &super::Aws, domain: &str, d: &Desired) -> Result<String, AwsError> {
    let document = d.props.get("document").cloned().unwrap_or(Value::Null);
    with_propagation(aws, || async {
        aws.iam
            .put_role_policy()
            .role_name(role_name(domain))
            .policy_name(POLICY_NAME)
            .policy_document(document.to_string())
            .send()
            .await
            .map_err(|e| role_not_visible_yet(aws_error("write", d.id.to_string(), e)))
    })
    .await?;
    Ok(POLICY_NAME.to_owned())
}

async fn attach(aws: &super::Aws, d: &Desired, role: &str, arn: &str) -> Result<(), AwsError> {
    with_propagation(aws, || async {
        aws.iam
            .attach_role_policy()
            .role_name(role)
            .policy_arn(arn)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| role_not_visible_yet(aws_error("attach a policy to", d.id.to_string(), e)))
    })
    .await
}

pub async fn delete_policy(aws: &super::Aws, o: &Observed) -> Result<(), AwsError> {
    let role = o
        .refs
        .get("role")
        .and_then(|r| r.first())
        .cloned()
        .unwrap_or_default();
    match aws
        .iam
        .delete_role_policy()
        .role_name(role)
        .policy_name(&o.physical_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => super::already_gone(Err(aws_error("delete", o.id.to_string(), e))),
    }
}

pub async fn create(
    aws: &super::Aws,
    domain: &str,
    extra: &std::collections::BTreeMap<String, String>,
    d: &Desired,
) -> Result<String, AwsError> {
    let iam = &aws.iam;
    let name = name_of(domain, &d.id);
    let tags: Vec<Tag> = super::tag_pairs(domain, &d.id, extra)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value set")
        })
        .collect();
    iam.create_role()
        .role_name(&name)
        .description(if d.id.name == "function" {
            format!("AuthDomain {domain}: the auth server's Lambda function")
        } else {
            format!("AuthDomain {domain}: the Lambda authorizer")
        })
        .assume_role_policy_document(
            d.props
                .get("trust-policy")
                .cloned()
                .unwrap_or_else(trust_policy)
                .to_string(),
        )
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_error("create", d.id.to_string(), e))?;
    for arn in super::strings(d.props.get("managed-policies")) {
        attach(aws, d, &name, &arn).await?;
    }
    Ok(name)
}

pub async fn update(
    aws: &super::Aws,
    d: &Desired,
    o: &Observed,
    change: &Change,
) -> Result<(), AwsError> {
    let iam = &aws.iam;
    let changed = |f: &str| change.touches(f);
    if changed("trust-policy") {
        iam.update_assume_role_policy()
            .role_name(&o.physical_id)
            .policy_document(
                d.props
                    .get("trust-policy")
                    .cloned()
                    .unwrap_or_else(trust_policy)
                    .to_string(),
            )
            .send()
            .await
            .map_err(|e| aws_error("update the trust policy of", d.id.to_string(), e))?;
    }
    if changed("managed-policies") {
        let want = super::strings(d.props.get("managed-policies"));
        let have: Vec<String> = super::strings(o.props.get("managed-policies"));
        for arn in want.iter().filter(|a| !have.contains(a)) {
            attach(aws, d, &o.physical_id, arn).await?;
        }
        for arn in have.iter().filter(|a| !want.contains(a)) {
            iam.detach_role_policy()
                .role_name(&o.physical_id)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| aws_error("detach a policy from", d.id.to_string(), e))?;
        }
    }
    Ok(())
}

pub async fn delete(aws: &super::Aws, o: &Observed) -> Result<(), AwsError> {
    let iam = &aws.iam;
    let name = o.id.to_string();
    let attached: Vec<String> = super::strings(o.props.get("managed-policies"));
    for arn in attached {
        if let Err(e) = iam
            .detach_role_policy()
            .role_name(&o.physical_id)
            .policy_arn(&arn)
            .send()
            .await
        {
            super::already_gone(Err(aws_error("detach a policy from", name.clone(), e)))?;
        }
    }
    match iam.delete_role().role_name(&o.physical_id).send().await {
        Ok(_) => Ok(()),
        Err(e) => super::already_gone(Err(aws_error("delete", name, e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_documents_decode_from_either_form() {
        let plain = trust_policy().to_string();
        let encoded =
            percent_encoding::utf8_percent_encode(&plain, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        assert_eq!(decode_policy(&plain), trust_policy());
        assert_eq!(decode_policy(&encoded), trust_policy());
        // Key order is not a difference.
        let reordered = r#"{"Statement":[{"Action":"sts:AssumeRole","Principal":{"Service":"lambda.amazonaws.com"},"Effect":"Allow"}],"Version":"2012-10-17"}"#;
        assert_eq!(decode_policy(reordered), trust_policy());
    }
}
