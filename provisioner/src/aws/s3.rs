//! The read model's bucket. Bucket names are global, so ours is the domain's prefix
//! (`authdomain-<domain>-`) and a random suffix chosen at creation; it is found again by
//! listing the buckets with that prefix and keeping the one tagged as the domain's. Private
//! (Block Public Access; ACLs disabled, which S3 makes the default), encrypted at rest with
//! S3's own key (the content is sealed under the KEK already), TLS only, and a lifecycle
//! rule that expires the used-assertion markers. Destroy empties it first: S3 refuses to
//! delete a bucket that holds objects.

use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration,
    ExpirationStatus, LifecycleExpiration, LifecycleRule, LifecycleRuleFilter, ObjectIdentifier,
    PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};
use serde_json::{Value, json};

use super::{AwsError, NotFoundAsNone, TAG_DOMAIN, TAG_MANAGED_BY, aws_error, with_retries};
use authdomain_core::plan::names::{MANAGED_BY, read_model_bucket_prefix, tag_pairs};
use authdomain_core::plan::{Change, Desired, Kind, Observed, ResourceId};

fn id() -> ResourceId {
    ResourceId::new(Kind::Bucket, "read-model")
}

/// The domain's read model bucket, if it exists (one ListBuckets, then the tags of each
/// bucket with the domain's prefix, and the lifecycle rules of ours).
pub async fn observe(aws: &super::Aws, domain: &str) -> Result<Vec<Observed>, AwsError> {
    let prefix = read_model_bucket_prefix(domain);
    let listed = with_retries(5, || async {
        aws.s3
            .list_buckets()
            .prefix(&prefix)
            .send()
            .await
            .map_err(|e| aws_error("list", "s3 buckets", e))
    })
    .await?;
    let mut ours = Vec::new();
    for b in listed.buckets() {
        let Some(name) = b.name().filter(|n| n.starts_with(&prefix)) else {
            continue;
        };
        let tags = with_retries(5, || async {
            aws.s3
                .get_bucket_tagging()
                .bucket(name)
                .send()
                .await
                .map_err(|e| aws_error("read tags of", name.to_owned(), e))
        })
        .await;
        // A bucket with no tags answers NoSuchTagSet: not ours.
        let tags: Vec<(String, String)> = match tags {
            Ok(t) => t
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect(),
            Err(e) if e.code == "NoSuchTagSet" || e.class == super::ErrorClass::NotFound => {
                continue;
            }
            Err(e) => return Err(e),
        };
        let tag = |k: &str| {
            tags.iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        if tag(TAG_DOMAIN) == Some(domain) && tag(TAG_MANAGED_BY) == Some(MANAGED_BY) {
            ours.push((name.to_owned(), tags));
        }
    }
    if ours.len() > 1 {
        tracing::warn!(
            domain,
            buckets = ?ours.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            "more than one read model bucket is tagged as this domain's; using the first"
        );
    }
    let Some((name, tags)) = ours.into_iter().next() else {
        return Ok(Vec::new());
    };
    let lifecycle = with_retries(5, || async {
        aws.s3
            .get_bucket_lifecycle_configuration()
            .bucket(&name)
            .send()
            .await
            .map_err(|e| aws_error("read the lifecycle of", name.clone(), e))
    })
    .await;
    let rules = match lifecycle {
        Ok(l) => canonical_rules(l.rules()),
        Err(e) if e.code == "NoSuchLifecycleConfiguration" => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut o = Observed {
        id: id(),
        physical_id: name.clone(),
        props: Default::default(),
        refs: Default::default(),
    };
    o.props
        .insert("_arn".into(), json!(format!("arn:aws:s3:::{name}")));
    o.props.insert("lifecycle".into(), json!(rules));
    o.props.insert(
        "tags".into(),
        super::user_tags(tags.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
    );
    Ok(vec![o])
}

/// Lifecycle rules in the plan's form: `{id, prefix, expiration-days}`, sorted by id.
fn canonical_rules(rules: &[LifecycleRule]) -> Vec<Value> {
    let mut out: Vec<Value> = rules
        .iter()
        .filter(|r| r.status() == &ExpirationStatus::Enabled)
        .map(|r| {
            json!({
                "id": r.id().unwrap_or_default(),
                "prefix": r.filter().and_then(|f| f.prefix()).unwrap_or_default(),
                "expiration-days": r.expiration().and_then(|e| e.days()),
            })
        })
        .collect();
    out.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    out
}

fn lifecycle(d: &Desired) -> Result<BucketLifecycleConfiguration, AwsError> {
    let bad = |what: &str| super::missing(&d.id, what);
    let rules = d
        .props
        .get("lifecycle")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|r| {
            LifecycleRule::builder()
                .id(r["id"].as_str().unwrap_or_default())
                .status(ExpirationStatus::Enabled)
                .filter(
                    LifecycleRuleFilter::builder()
                        .prefix(r["prefix"].as_str().unwrap_or_default())
                        .build(),
                )
                .expiration(
                    LifecycleExpiration::builder()
                        .days(r["expiration-days"].as_i64().unwrap_or(1) as i32)
                        .build(),
                )
                .build()
                .map_err(|_| bad("lifecycle"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .map_err(|_| bad("lifecycle"))
}

async fn put_lifecycle(aws: &super::Aws, d: &Desired, name: &str) -> Result<(), AwsError> {
    let config = lifecycle(d)?;
    with_retries(5, || async {
        aws.s3
            .put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(config.clone())
            .send()
            .await
            .map_err(|e| aws_error("set the lifecycle of", d.id.to_string(), e))
    })
    .await
    .map(|_| ())
}

/// Our tags and the spec's, as one tag set (S3 replaces a bucket's tags whole).
fn tagging(domain: &str, d: &Desired, user: &[(String, String)]) -> Result<Tagging, AwsError> {
    let mut pairs = tag_pairs(domain, &d.id, &Default::default());
    pairs.extend(user.iter().cloned());
    let tags = pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| super::missing(&d.id, "tags"))?;
    Tagging::builder()
        .set_tag_set(Some(tags))
        .build()
        .map_err(|_| super::missing(&d.id, "tags"))
}

/// The spec's tags of `d`.
fn desired_tags(d: &Desired) -> Vec<(String, String)> {
    d.props
        .get("tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Create the bucket (a random suffix after the domain's prefix) and configure it.
pub async fn create(
    aws: &super::Aws,
    domain: &str,
    extra: &std::collections::BTreeMap<String, String>,
    d: &Desired,
) -> Result<String, AwsError> {
    let mut suffix = [0u8; 4];
    aws_lc_rs::rand::fill(&mut suffix).map_err(|_| super::missing(&d.id, "a random name"))?;
    let name = format!(
        "{}{}",
        read_model_bucket_prefix(domain),
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut create = aws.s3.create_bucket().bucket(&name);
    // us-east-1 is the one region that takes no location constraint.
    if aws.region != "us-east-1" && !aws.region.is_empty() {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(aws.region.as_str()))
                .build(),
        );
    }
    create
        .send()
        .await
        .map_err(|e| aws_error("create", d.id.to_string(), e))?;
    let user: Vec<(String, String)> = extra.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let tags = tagging(domain, d, &user)?;
    with_retries(5, || async {
        aws.s3
            .put_bucket_tagging()
            .bucket(&name)
            .tagging(tags.clone())
            .send()
            .await
            .map_err(|e| aws_error("tag", d.id.to_string(), e))
    })
    .await?;
    with_retries(5, || async {
        aws.s3
            .put_public_access_block()
            .bucket(&name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(true)
                    .ignore_public_acls(true)
                    .block_public_policy(true)
                    .restrict_public_buckets(true)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("block public access to", d.id.to_string(), e))
    })
    .await?;
    let encryption = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .map_err(|_| super::missing(&d.id, "encryption"))?,
                )
                .build(),
        )
        .build()
        .map_err(|_| super::missing(&d.id, "encryption"))?;
    with_retries(5, || async {
        aws.s3
            .put_bucket_encryption()
            .bucket(&name)
            .server_side_encryption_configuration(encryption.clone())
            .send()
            .await
            .map_err(|e| aws_error("encrypt", d.id.to_string(), e))
    })
    .await?;
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{name}"), format!("arn:aws:s3:::{name}/*")],
            "Condition": { "Bool": { "aws:SecureTransport": "false" } },
        }],
    })
    .to_string();
    with_retries(5, || async {
        aws.s3
            .put_bucket_policy()
            .bucket(&name)
            .policy(&policy)
            .send()
            .await
            .map_err(|e| aws_error("set the policy of", d.id.to_string(), e))
    })
    .await?;
    put_lifecycle(aws, d, &name).await?;
    Ok(name)
}

pub async fn update(
    aws: &super::Aws,
    d: &Desired,
    o: &Observed,
    change: &Change,
) -> Result<(), AwsError> {
    if change.touches("lifecycle") {
        put_lifecycle(aws, d, &o.physical_id).await?;
    }
    Ok(())
}

/// Make the spec's tags of the bucket those of `d`, keeping ours and AWS's (S3 replaces a
/// bucket's tag set whole, so the set is read first).
pub async fn retag(aws: &super::Aws, d: &Desired, o: &Observed) -> Result<(), AwsError> {
    let name = &o.physical_id;
    let current = with_retries(5, || async {
        aws.s3
            .get_bucket_tagging()
            .bucket(name)
            .send()
            .await
            .map_err(|e| aws_error("read tags of", d.id.to_string(), e))
    })
    .await?;
    let mut pairs: Vec<(String, String)> = current
        .tag_set()
        .iter()
        .filter(|t| t.key().starts_with("authdomain.io/") || t.key().starts_with("aws:"))
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect();
    pairs.extend(desired_tags(d));
    let tags = pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| super::missing(&d.id, "tags"))?;
    let tagging = Tagging::builder()
        .set_tag_set(Some(tags))
        .build()
        .map_err(|_| super::missing(&d.id, "tags"))?;
    with_retries(5, || async {
        aws.s3
            .put_bucket_tagging()
            .bucket(name)
            .tagging(tagging.clone())
            .send()
            .await
            .map_err(|e| aws_error("tag", d.id.to_string(), e))
    })
    .await
    .map(|_| ())
}

/// Empty the bucket (every object; it is not versioned), then delete it.
pub async fn delete(aws: &super::Aws, o: &Observed) -> Result<(), AwsError> {
    let name = &o.physical_id;
    loop {
        let listed = with_retries(5, || async {
            aws.s3
                .list_objects_v2()
                .bucket(name)
                .max_keys(1000)
                .send()
                .await
                .map_err(|e| aws_error("list the objects of", o.id.to_string(), e))
        })
        .await
        .found()?;
        let Some(listed) = listed else {
            return Ok(());
        };
        let keys: Vec<ObjectIdentifier> = listed
            .contents()
            .iter()
            .filter_map(|c| c.key())
            .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
            .collect();
        if keys.is_empty() {
            break;
        }
        let batch = aws_sdk_s3::types::Delete::builder()
            .set_objects(Some(keys))
            .quiet(true)
            .build()
            .map_err(|_| super::missing(&o.id, "objects"))?;
        with_retries(5, || async {
            aws.s3
                .delete_objects()
                .bucket(name)
                .delete(batch.clone())
                .send()
                .await
                .map_err(|e| aws_error("empty", o.id.to_string(), e))
        })
        .await?;
    }
    super::already_gone(
        with_retries(5, || async {
            aws.s3
                .delete_bucket()
                .bucket(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_error("delete", o.id.to_string(), e))
        })
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_rules_read_back_as_the_plan_writes_them() {
        let d = Desired::new(id()).prop(
            "lifecycle",
            json!([{"id": "assertions", "prefix": "read-model/assertions/", "expiration-days": 1}]),
        );
        let config = lifecycle(&d).unwrap();
        assert_eq!(json!(canonical_rules(config.rules())), d.props["lifecycle"]);
    }
}
