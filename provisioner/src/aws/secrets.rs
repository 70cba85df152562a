//! The auth server's key-encryption key (KEK), generated once by the provisioner and kept in
//! Secrets Manager under `authdomain/<domain>/kek`, encrypted with the domain's KMS key, so
//! that every apply gives the function the same KEK. The value is read only when the
//! function is created or its environment written; plans compare a fingerprint (the first
//! 64 bits of its SHA-256, a tag on the secret) and never the value.

use aws_lc_rs::digest;
use aws_sdk_secretsmanager::operation::describe_secret::DescribeSecretOutput;
use aws_sdk_secretsmanager::types::Tag;
use base64::Engine as _;
use serde_json::{Value, json};

use super::{AwsError, ErrorClass, NotFoundAsNone, TAG_DOMAIN, aws_error, with_retries};
use authdomain_core::plan::{Change, Desired, Kind, Observed, ResourceId};

pub const TAG_FINGERPRINT: &str = "authdomain.io/fingerprint";

pub fn secret_name(domain: &str) -> String {
    format!("authdomain/{domain}/kek")
}

/// `sha256:<16 hex digits>`: enough to tell values apart, nothing about the value.
pub fn fingerprint(value: &str) -> String {
    let d = digest::digest(&digest::SHA256, value.as_bytes());
    let hex: String = d.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The KEK secret as Secrets Manager describes it (also while scheduled for deletion),
/// or None when there is none.
async fn describe_kek(
    aws: &super::Aws,
    domain: &str,
) -> Result<Option<DescribeSecretOutput>, AwsError> {
    let name = secret_name(domain);
    with_retries(5, || async {
        aws.secrets
            .describe_secret()
            .secret_id(&name)
            .send()
            .await
            .map_err(|e| aws_error("describe", name.clone(), e))
    })
    .await
    .found()
}

/// Whether a described secret carries this domain's tag.
fn ours(s: &DescribeSecretOutput, domain: &str) -> bool {
    s.tags()
        .iter()
        .any(|t| t.key() == Some(TAG_DOMAIN) && t.value() == Some(domain))
}

pub async fn observe(aws: &super::Aws, domain: &str) -> Result<Vec<Observed>, AwsError> {
    let name = secret_name(domain);
    let Some(s) = describe_kek(aws, domain).await? else {
        return Ok(Vec::new());
    };
    let tag = |k: &str| {
        s.tags()
            .iter()
            .find(|t| t.key() == Some(k))
            .and_then(|t| t.value())
    };
    if !ours(&s, domain) {
        tracing::warn!(secret = %name, "a secret with this name exists but is not tagged as this domain's");
        return Ok(Vec::new());
    }
    if s.deleted_date().is_some() {
        // Scheduled for deletion by a destroy: `create` restores it (and the same KEK).
        return Ok(Vec::new());
    }
    let arn = s.arn().unwrap_or_default().to_owned();
    let mut o = Observed {
        id: ResourceId::new(Kind::Secret, "kek"),
        physical_id: arn.clone(),
        props: Default::default(),
        refs: Default::default(),
    };
    o.props.insert("_arn".into(), json!(arn));
    o.props
        .insert("_fingerprint".into(), json!(tag(TAG_FINGERPRINT)));
    o.props.insert("kms-key".into(), json!(s.kms_key_id()));
    o.props.insert(
        "tags".into(),
        super::user_tags(s.tags().iter().filter_map(|t| Some((t.key()?, t.value()?)))),
    );
    Ok(vec![o])
}

/// The KMS key the domain's KEK secret is encrypted under, even while the secret is
/// scheduled for deletion (None: no such secret, or not this domain's).
pub async fn kek_key_id(aws: &super::Aws, domain: &str) -> Result<Option<String>, AwsError> {
    Ok(describe_kek(aws, domain)
        .await?
        .filter(|s| ours(s, domain))
        .and_then(|s| s.kms_key_id().map(str::to_owned)))
}

fn kms_key(d: &Desired) -> Option<String> {
    d.props
        .get("kms-key")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub async fn create(
    aws: &super::Aws,
    domain: &str,
    extra: &std::collections::BTreeMap<String, String>,
    d: &Desired,
) -> Result<String, AwsError> {
    let name = secret_name(domain);
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| AwsError {
        action: "generate",
        resource: d.id.to_string(),
        code: "RandomUnavailable".into(),
        message: "the system random number generator failed".into(),
        class: ErrorClass::Terminal,
    })?;
    let value = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut pairs = super::tag_pairs(domain, &d.id, extra);
    pairs.push((TAG_FINGERPRINT.to_owned(), fingerprint(&value)));
    let tags: Vec<Tag> = pairs
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let created = aws
        .secrets
        .create_secret()
        .name(&name)
        .description(format!(
            "AuthDomain {domain}: the auth server's key-encryption key (generated once; do not change)"
        ))
        .set_kms_key_id(kms_key(d))
        .secret_string(value)
        .set_tags(Some(tags))
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.arn().unwrap_or_default().to_owned()),
        // Scheduled for deletion by an earlier destroy (AWS: InvalidRequestException
        // "…already scheduled for deletion"; moto: ResourceExistsException): bring it,
        // and its KEK, back. A live secret of that name is not ours to take over.
        Err(e) => {
            let err = aws_error("create", d.id.to_string(), e);
            let pending = describe_kek(aws, domain)
                .await?
                .is_some_and(|s| s.deleted_date().is_some() && ours(&s, domain));
            if !pending {
                return Err(err);
            }
            let restored = aws
                .secrets
                .restore_secret()
                .secret_id(&name)
                .send()
                .await
                .map_err(|e| aws_error("restore", d.id.to_string(), e))?;
            Ok(restored.arn().unwrap_or_default().to_owned())
        }
    }
}

pub async fn update(
    aws: &super::Aws,
    d: &Desired,
    o: &Observed,
    change: &Change,
) -> Result<(), AwsError> {
    if change.touches("kms-key") {
        aws.secrets
            .update_secret()
            .secret_id(&o.physical_id)
            .set_kms_key_id(kms_key(d))
            .send()
            .await
            .map_err(|e| aws_error("modify", d.id.to_string(), e))?;
    }
    Ok(())
}

/// The KEK itself, for the function's environment.
pub async fn value(aws: &super::Aws, arn: &str) -> Result<String, AwsError> {
    let out = with_retries(5, || async {
        aws.secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| aws_error("read", "secret/kek", e))
    })
    .await?;
    out.secret_string().map(str::to_owned).ok_or(AwsError {
        action: "read",
        resource: "secret/kek".into(),
        code: "EmptySecret".into(),
        message: "the key-encryption key secret has no string value".into(),
        class: ErrorClass::Terminal,
    })
}

/// Scheduled for deletion after 7 days (the shortest window): an apply in that time
/// restores it, and a domain restored from the final snapshot can still read its keys.
pub async fn delete(aws: &super::Aws, o: &Observed) -> Result<(), AwsError> {
    match aws
        .secrets
        .delete_secret()
        .secret_id(&o.physical_id)
        .recovery_window_in_days(7)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => super::already_gone(Err(aws_error("delete", o.id.to_string(), e))),
    }
}

/// Schedule the secret `name` for deletion (7 days, the shortest window); one that does
/// not exist or is already scheduled is done.
pub async fn schedule_deletion(aws: &super::Aws, name: &str) -> Result<(), AwsError> {
    match aws
        .secrets
        .delete_secret()
        .secret_id(name)
        .recovery_window_in_days(7)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = aws_error("delete", name.to_owned(), e);
            // AWS: InvalidRequestException "You tried to perform the operation on a secret
            // that's currently marked deleted" (DeleteSecret, Errors:
            // https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html).
            if e.code == "InvalidRequestException" && e.message.contains("marked deleted") {
                return Ok(());
            }
            super::already_gone(Err(e))
        }
    }
}

/// Where `authdomain bootstrap` keeps the admin client's credentials.
pub fn admin_secret_name(domain: &str) -> String {
    authdomain_core::plan::names::admin_credentials_secret(domain)
}

/// Where `authdomain bootstrap` keeps the credentials of the spec's client `client`.
pub fn client_secret_name(domain: &str, client: &str) -> String {
    authdomain_core::plan::names::client_credentials_secret(domain, client)
}

/// A credentials secret's JSON value, or None when it does not exist (or is scheduled for
/// deletion).
pub async fn read_json(aws: &super::Aws, name: &str) -> Result<Option<Value>, AwsError> {
    let found = with_retries(5, || async {
        aws.secrets
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| aws_error("read", name.to_owned(), e))
    })
    .await;
    match found {
        Ok(out) => Ok(out
            .secret_string()
            .and_then(|s| serde_json::from_str(s).ok())),
        Err(e) if e.class == ErrorClass::NotFound || e.message.contains("marked for deletion") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A credentials secret to write.
#[derive(Debug, Clone)]
pub struct CredentialsSecret<'a> {
    /// Its identity in the domain (the `authdomain.io/resource` tag).
    pub id: ResourceId,
    pub name: String,
    pub description: String,
    /// The domain's KMS key, which encrypts it.
    pub kms_key: &'a str,
}

/// Create or overwrite a credentials secret. One scheduled for deletion by a destroy is
/// restored first.
pub async fn write_json(
    aws: &super::Aws,
    domain: &str,
    extra: &std::collections::BTreeMap<String, String>,
    secret: &CredentialsSecret<'_>,
    value: &Value,
) -> Result<String, AwsError> {
    let CredentialsSecret {
        id,
        name,
        description,
        kms_key,
    } = secret;
    let name = name.as_str();
    let text = value.to_string();
    let tags: Vec<Tag> = super::tag_pairs(domain, id, extra)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    let created = aws
        .secrets
        .create_secret()
        .name(name)
        .description(description)
        .kms_key_id(*kms_key)
        .secret_string(&text)
        .set_tags(Some(tags))
        .send()
        .await;
    let err = match created {
        Ok(out) => return Ok(out.arn().unwrap_or_default().to_owned()),
        Err(e) => aws_error("create", id.to_string(), e),
    };
    if err.message.contains("scheduled for deletion") {
        aws.secrets
            .restore_secret()
            .secret_id(name)
            .send()
            .await
            .map_err(|e| aws_error("restore", id.to_string(), e))?;
    } else if err.class != ErrorClass::AlreadyExists {
        return Err(err);
    }
    let put = aws
        .secrets
        .put_secret_value()
        .secret_id(name)
        .secret_string(&text)
        .send()
        .await
        .map_err(|e| aws_error("write", id.to_string(), e))?;
    Ok(put.arn().unwrap_or_default().to_owned())
}

/// The credentials secrets bootstrap made for the domain (admin and clients): found by
/// name prefix and our tag, for `destroy`. They are data, not part of the desired graph,
/// so plans and drift reports leave them alone.
pub async fn observe_credentials(
    aws: &super::Aws,
    domain: &str,
) -> Result<Vec<Observed>, AwsError> {
    let prefix = format!("authdomain/{domain}/");
    let listed = with_retries(5, || async {
        aws.secrets
            .list_secrets()
            .filters(
                aws_sdk_secretsmanager::types::Filter::builder()
                    .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                    .values(&prefix)
                    .build(),
            )
            .filters(
                aws_sdk_secretsmanager::types::Filter::builder()
                    .key(aws_sdk_secretsmanager::types::FilterNameStringType::TagKey)
                    .values(TAG_DOMAIN)
                    .build(),
            )
            .into_paginator()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("list", format!("secrets {prefix}*"), e))
    })
    .await?;
    let mut out = Vec::new();
    for s in listed.iter().flat_map(|page| page.secret_list()) {
        let name = s.name().unwrap_or_default();
        let ours = s
            .tags()
            .iter()
            .any(|t| t.key() == Some(TAG_DOMAIN) && t.value() == Some(domain));
        let logical = if name == admin_secret_name(domain) {
            "admin".to_owned()
        } else if let Some(client) = name.strip_prefix(&format!("{prefix}clients/")) {
            format!("client-{client}")
        } else {
            continue;
        };
        if !ours || s.deleted_date().is_some() {
            continue;
        }
        out.push(Observed {
            id: ResourceId::new(Kind::Secret, logical),
            physical_id: s.arn().unwrap_or_default().to_owned(),
            props: Default::default(),
            refs: Default::default(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_values_apart_and_hide_them() {
        let a = fingerprint("c2VjcmV0LWtleS1vbmU=");
        assert_eq!(a, fingerprint("c2VjcmV0LWtleS1vbmU="));
        assert_ne!(a, fingerprint("c2VjcmV0LWtleS10d28="));
        assert!(a.starts_with("sha256:") && a.len() == 7 + 16);
        assert!(!a.contains("c2Vj"));
    }
}
