//! The customer-managed KMS key that encrypts the function's environment (and the
//! key-encryption key kept in Secrets Manager). Name-keyed through its alias
//! `alias/authdomain/<domain>`: aliases live in our namespace and cannot be tagged, so the
//! alias is the ownership record (the key carries our tags too, for cost reports).
//!
//! Lifecycle: destroy schedules the key's deletion after AWS's minimum of 7 days and
//! keeps the alias, so that an apply within the waiting period finds the key, cancels
//! the deletion, enables it again (a cancelled key is `Disabled`) and so keeps the KEK
//! secret encrypted under it readable. A key whose alias is gone (removed by hand, or by
//! an older version's destroy) is found through the KEK secret, which names its key.
//! Destroy never schedules it while a final snapshot may need the KEK (see
//! `reconcile::destroy_plan`).

use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType, Tag};
use serde_json::json;

use super::{AwsError, NotFoundAsNone, TAG_DOMAIN, aws_error, with_retries};
use authdomain_core::plan::{Change, Desired, Kind, Observed, ResourceId};

pub fn alias(domain: &str) -> String {
    authdomain_core::plan::names::kms_alias(domain)
}

async fn describe(
    aws: &super::Aws,
    key: &str,
) -> Result<Option<aws_sdk_kms::types::KeyMetadata>, AwsError> {
    let found = with_retries(5, || async {
        aws.kms
            .describe_key()
            .key_id(key)
            .send()
            .await
            .map_err(|e| aws_error("describe", key.to_owned(), e))
    })
    .await;
    Ok(found.found()?.and_then(|k| k.key_metadata().cloned()))
}

pub async fn observe(aws: &super::Aws, domain: &str) -> Result<Vec<Observed>, AwsError> {
    let alias = alias(domain);
    let (meta, named) = match describe(aws, &alias).await? {
        Some(meta) => (meta, true),
        None => match orphan(aws, domain).await? {
            Some(meta) => (meta, false),
            None => return Ok(Vec::new()),
        },
    };
    let arn = meta.arn().unwrap_or_default().to_owned();
    let mut o = Observed {
        id: ResourceId::new(Kind::KmsKey, "main"),
        physical_id: arn.clone(),
        props: Default::default(),
        refs: Default::default(),
    };
    o.props.insert("_arn".into(), json!(arn));
    o.props
        .insert("usage".into(), json!(meta.key_usage().map(|u| u.as_str())));
    o.props
        .insert("spec".into(), json!(meta.key_spec().map(|s| s.as_str())));
    o.props
        .insert("state".into(), json!(meta.key_state().map(|s| s.as_str())));
    if let Some(when) = meta.deletion_date() {
        o.props
            .insert("_deletion-date".into(), json!(when.to_string()));
    }
    o.props.insert(
        "alias".into(),
        if named { json!(alias) } else { json!(null) },
    );
    Ok(vec![o])
}

/// The domain's key when its alias is gone: the one the KEK secret (even one scheduled
/// for deletion) is encrypted under, if it is tagged as this domain's and not deleted.
async fn orphan(
    aws: &super::Aws,
    domain: &str,
) -> Result<Option<aws_sdk_kms::types::KeyMetadata>, AwsError> {
    let Some(key) = super::secrets::kek_key_id(aws, domain).await? else {
        return Ok(None);
    };
    let Some(meta) = describe(aws, &key).await? else {
        return Ok(None);
    };
    // A key already deleted (or never usable) is nothing to bring back.
    if matches!(
        meta.key_state(),
        Some(KeyState::PendingDeletion | KeyState::Disabled | KeyState::Enabled)
    ) && tagged(aws, &key, domain).await?
    {
        return Ok(Some(meta));
    }
    Ok(None)
}

/// Whether the key carries this domain's tag.
async fn tagged(aws: &super::Aws, key: &str, domain: &str) -> Result<bool, AwsError> {
    let tags = with_retries(5, || async {
        aws.kms
            .list_resource_tags()
            .key_id(key)
            .send()
            .await
            .map_err(|e| aws_error("list tags of", key.to_owned(), e))
    })
    .await?;
    Ok(tags
        .tags()
        .iter()
        .any(|t| t.tag_key() == TAG_DOMAIN && t.tag_value() == domain))
}

pub async fn create(
    aws: &super::Aws,
    domain: &str,
    extra: &std::collections::BTreeMap<String, String>,
    d: &Desired,
) -> Result<String, AwsError> {
    let tags: Vec<Tag> = super::tag_pairs(domain, &d.id, extra)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .expect("key and value set")
        })
        .collect();
    let created = aws
        .kms
        .create_key()
        .description(format!(
            "AuthDomain {domain}: the auth server function's environment and key-encryption key"
        ))
        .key_usage(KeyUsageType::EncryptDecrypt)
        .key_spec(KeySpec::SymmetricDefault)
        .set_tags(Some(tags))
        .send()
        .await
        .map_err(|e| aws_error("create", d.id.to_string(), e))?;
    let meta = created.key_metadata();
    let (id, arn) = (
        meta.map(|m| m.key_id().to_owned()).unwrap_or_default(),
        meta.and_then(|m| m.arn())
            .map(str::to_owned)
            .unwrap_or_default(),
    );
    aws.kms
        .create_alias()
        .alias_name(alias(domain))
        .target_key_id(&id)
        .send()
        .await
        .map_err(|e| aws_error("name", d.id.to_string(), e))?;
    // Rotation of the key material yearly: AWS keeps old material for decryption.
    aws.kms
        .enable_key_rotation()
        .key_id(&id)
        .send()
        .await
        .map_err(|e| aws_error("enable rotation of", d.id.to_string(), e))?;
    Ok(arn)
}

fn key_id(o: &Observed) -> &str {
    o.physical_id.rsplit('/').next().unwrap_or(&o.physical_id)
}

/// Bring the key back to use: cancel a scheduled deletion, enable it, name it again.
pub async fn update(
    aws: &super::Aws,
    domain: &str,
    d: &Desired,
    o: &Observed,
    change: &Change,
) -> Result<(), AwsError> {
    let state = o.props.get("state").and_then(|v| v.as_str());
    if state == Some("PendingDeletion") {
        aws.kms
            .cancel_key_deletion()
            .key_id(key_id(o))
            .send()
            .await
            .map_err(|e| aws_error("cancel the deletion of", d.id.to_string(), e))?;
    }
    // CancelKeyDeletion leaves the key Disabled.
    if change.touches("state") && state != Some("Enabled") {
        aws.kms
            .enable_key()
            .key_id(key_id(o))
            .send()
            .await
            .map_err(|e| aws_error("enable", d.id.to_string(), e))?;
    }
    if change.touches("alias") {
        let named = aws
            .kms
            .create_alias()
            .alias_name(alias(domain))
            .target_key_id(key_id(o))
            .send()
            .await
            .map_err(|e| aws_error("name", d.id.to_string(), e));
        match named {
            // The alias exists but names another key: point it back at ours.
            Err(e) if e.class == super::ErrorClass::AlreadyExists => {
                aws.kms
                    .update_alias()
                    .alias_name(alias(domain))
                    .target_key_id(key_id(o))
                    .send()
                    .await
                    .map_err(|e| aws_error("name", d.id.to_string(), e))?;
            }
            other => other.map(|_| ())?,
        }
    }
    Ok(())
}

/// Schedule the key's deletion after 7 days (AWS's minimum), keeping the alias so an
/// apply in that time finds and restores the same key.
pub async fn delete(aws: &super::Aws, o: &Observed) -> Result<(), AwsError> {
    if o.props.get("state").and_then(|v| v.as_str()) == Some("PendingDeletion") {
        return Ok(());
    }
    match aws
        .kms
        .schedule_key_deletion()
        .key_id(key_id(o))
        .pending_window_in_days(7)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => super::already_gone(Err(aws_error("schedule deletion of", o.id.to_string(), e))),
    }
}
