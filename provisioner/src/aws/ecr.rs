//! The ECR repository that holds the auth server image: immutable tags, scan on push, a
//! lifecycle rule keeping the last `spec.image.keepImages` images. Name-keyed: found by
//! name, ours only when tagged so.

use aws_sdk_ecr::types::{ImageScanningConfiguration, ImageTagMutability, Tag};
use serde_json::{Value, json};

use super::{AwsError, NotFoundAsNone, TAG_DOMAIN, aws_error, with_retries};
use authdomain_core::plan::{Change, Desired, Kind, Observed, ResourceId};

/// The repository name: the spec's, or `<domain>-authserver`.
pub fn repository_name(domain: &str, spec_name: Option<&str>) -> String {
    spec_name
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{domain}-authserver"))
}

pub async fn observe(
    aws: &super::Aws,
    domain: &str,
    name: &str,
) -> Result<Vec<Observed>, AwsError> {
    let ecr = &aws.ecr;
    let found = with_retries(5, || async {
        ecr.describe_repositories()
            .repository_names(name)
            .send()
            .await
            .map_err(|e| aws_error("describe", name.to_owned(), e))
    })
    .await;
    let Some(repos) = found.found()? else {
        return Ok(Vec::new());
    };
    let Some(repo) = repos.repositories().first() else {
        return Ok(Vec::new());
    };
    let arn = repo.repository_arn().unwrap_or_default().to_owned();
    let tags = with_retries(5, || async {
        ecr.list_tags_for_resource()
            .resource_arn(&arn)
            .send()
            .await
            .map_err(|e| aws_error("list tags of", name.to_owned(), e))
    })
    .await?;
    let tag = |k: &str| {
        tags.tags()
            .iter()
            .find(|t| t.key() == k)
            .map(|t| t.value().to_owned())
    };
    if tag(TAG_DOMAIN).as_deref() != Some(domain) {
        tracing::warn!(
            repository = name,
            "an ECR repository with this name exists but is not tagged as this domain's"
        );
        return Ok(Vec::new());
    }
    let mut o = Observed {
        id: ResourceId::new(Kind::EcrRepository, "main"),
        physical_id: name.to_owned(),
        props: Default::default(),
        refs: Default::default(),
    };
    o.props.insert("_uri".into(), json!(repo.repository_uri()));
    o.props.insert("_arn".into(), json!(arn));
    o.props.insert(
        "tags".into(),
        super::user_tags(tags.tags().iter().map(|t| (t.key(), t.value()))),
    );
    o.props.insert(
        "tag-mutability".into(),
        json!(repo.image_tag_mutability().map(|m| m.as_str())),
    );
    o.props.insert(
        "scan-on-push".into(),
        json!(
            repo.image_scanning_configuration()
                .map(|c| c.scan_on_push())
        ),
    );
    let policy = with_retries(5, || async {
        ecr.get_lifecycle_policy()
            .repository_name(name)
            .send()
            .await
            .map_err(|e| aws_error("read the lifecycle policy of", name.to_owned(), e))
    })
    .await
    .found()?;
    o.props.insert(
        "keep-images".into(),
        policy
            .and_then(|p| p.lifecycle_policy_text().map(kept_images))
            .unwrap_or(Value::Null),
    );
    Ok(vec![o])
}

/// The lifecycle policy that keeps the newest `n` images (any tag, untagged too) and
/// expires the rest.
fn lifecycle_policy(n: u64) -> String {
    json!({
        "rules": [{
            "rulePriority": 1,
            "description": format!("authdomain: keep the newest {n} images"),
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": n},
            "action": {"type": "expire"}
        }]
    })
    .to_string()
}

/// The count our rule keeps, or the whole policy when it is not ours (shown as drift).
fn kept_images(text: &str) -> Value {
    let doc: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    match doc["rules"].as_array().map(Vec::as_slice) {
        Some([rule])
            if rule["selection"]["tagStatus"] == "any"
                && rule["selection"]["countType"] == "imageCountMoreThan"
                && rule["action"]["type"] == "expire" =>
        {
            rule["selection"]["countNumber"].clone()
        }
        _ => doc,
    }
}

async fn put_lifecycle(aws: &super::Aws, d: &Desired, name: &str) -> Result<(), AwsError> {
    let Some(n) = d.props.get("keep-images").and_then(Value::as_u64) else {
        return Ok(());
    };
    with_retries(5, || async {
        aws.ecr
            .put_lifecycle_policy()
            .repository_name(name)
            .lifecycle_policy_text(lifecycle_policy(n))
            .send()
            .await
            .map_err(|e| aws_error("set the lifecycle policy of", d.id.to_string(), e))
    })
    .await?;
    Ok(())
}

fn tags(
    domain: &str,
    id: &ResourceId,
    extra: &std::collections::BTreeMap<String, String>,
) -> Vec<Tag> {
    super::tag_pairs(domain, id, extra)
        .into_iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("key and value set")
        })
        .collect()
}

fn mutability(d: &Desired) -> ImageTagMutability {
    ImageTagMutability::from(
        d.props
            .get("tag-mutability")
            .and_then(Value::as_str)
            .unwrap_or("IMMUTABLE"),
    )
}

fn scan(d: &Desired) -> ImageScanningConfiguration {
    ImageScanningConfiguration::builder()
        .scan_on_push(
            d.props
                .get("scan-on-push")
                .and_then(Value::as_bool)
                .unwrap_or(true),
        )
        .build()
}

pub async fn create(
    aws: &super::Aws,
    domain: &str,
    extra: &std::collections::BTreeMap<String, String>,
    d: &Desired,
    name: &str,
) -> Result<String, AwsError> {
    aws.ecr
        .create_repository()
        .repository_name(name)
        .image_tag_mutability(mutability(d))
        .image_scanning_configuration(scan(d))
        .set_tags(Some(tags(domain, &d.id, extra)))
        .send()
        .await
        .map_err(|e| aws_error("create", d.id.to_string(), e))?;
    put_lifecycle(aws, d, name).await?;
    Ok(name.to_owned())
}

pub async fn update(
    aws: &super::Aws,
    d: &Desired,
    o: &Observed,
    change: &Change,
) -> Result<(), AwsError> {
    let changed = |f: &str| change.touches(f);
    if changed("tag-mutability") {
        aws.ecr
            .put_image_tag_mutability()
            .repository_name(&o.physical_id)
            .image_tag_mutability(mutability(d))
            .send()
            .await
            .map_err(|e| aws_error("modify", d.id.to_string(), e))?;
    }
    if changed("scan-on-push") {
        aws.ecr
            .put_image_scanning_configuration()
            .repository_name(&o.physical_id)
            .image_scanning_configuration(scan(d))
            .send()
            .await
            .map_err(|e| aws_error("modify", d.id.to_string(), e))?;
    }
    if changed("keep-images") {
        put_lifecycle(aws, d, &o.physical_id).await?;
    }
    Ok(())
}

pub async fn delete(aws: &super::Aws, o: &Observed) -> Result<(), AwsError> {
    match aws
        .ecr
        .delete_repository()
        .repository_name(&o.physical_id)
        .force(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => super::already_gone(Err(aws_error("delete", o.id.to_string(), e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_lifecycle_rule_reads_back_as_its_count() {
        assert_eq!(kept_images(&lifecycle_policy(10)), json!(10));
        let theirs = r#"{"rules":[{"rulePriority":1,"selection":{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14},"action":{"type":"expire"}}]}"#;
        assert_eq!(
            kept_images(theirs)["rules"][0]["selection"]["countNumber"],
            json!(14)
        );
    }
}
