//! The customer-managed KMS key that encrypts the function's environment (and the
//! key-encryption key kept in Secrets Manager). Name-keyed through its alias
//! `alias/authdomain/<domain>`: aliases live in our namespace and cannot be tagged, so the
//! alias is the ownership record (the key carries our tags too, for cost reports).
//! Deleting schedules the key's deletion after AWS's minimum of 7 days, alias first.

use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType, Tag};
use serde_json::json;

use super::{AwsError, NotFoundAsNone, aws_error, with_retries};
use authdomain_core::plan::{Desired, Kind, Observed, ResourceId};

pub fn alias(domain: &str) -> String {
    format!("alias/authdomain/{domain}")
}

pub async fn observe(aws: &super::Aws, domain: &str) -> Result<Vec<Observed>, AwsError> {
    let alias = alias(domain);
    let found = with_retries(5, || async {
        aws.kms
            .describe_key()
            .key_id(&alias)
            .send()
            .await
            .map_err(|e| aws_error("describe", alias.clone(), e))
    })
    .await;
    let Some(key) = found.found()? else {
        return Ok(Vec::new());
    };
    let Some(meta) = key.key_metadata() else {
        return Ok(Vec::new());
    };
    // A key pending deletion (destroy ran, apply again within 7 days) is gone for us:
    // its alias was removed first, so this only happens when someone re-pointed it.
    if meta.key_state() == Some(&KeyState::PendingDeletion) {
        return Ok(Vec::new());
    }
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
    o.props.insert("enabled".into(), json!(meta.enabled()));
    Ok(vec![o])
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

pub async fn update(aws: &super::Aws, d: &Desired, o: &Observed) -> Result<(), AwsError> {
    if d.props.get("enabled") == Some(&json!(true)) && o.props.get("enabled") != Some(&json!(true))
    {
        aws.kms
            .enable_key()
            .key_id(o.physical_id.rsplit('/').next().unwrap_or(&o.physical_id))
            .send()
            .await
            .map_err(|e| aws_error("enable", d.id.to_string(), e))?;
    }
    Ok(())
}

pub async fn delete(aws: &super::Aws, domain: &str, o: &Observed) -> Result<(), AwsError> {
    if let Err(e) = aws
        .kms
        .delete_alias()
        .alias_name(alias(domain))
        .send()
        .await
    {
        super::already_gone(Err(aws_error("delete the alias of", o.id.to_string(), e)))?;
    }
    // By key id (the ARN's last part): accepted everywhere, moto included.
    let key_id = o.physical_id.rsplit('/').next().unwrap_or(&o.physical_id);
    match aws
        .kms
        .schedule_key_deletion()
        .key_id(key_id)
        .pending_window_in_days(7)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => super::already_gone(Err(aws_error("schedule deletion of", o.id.to_string(), e))),
    }
}
