//! The spec's extra tags (`spec.tags`) on resources that already exist: each service's
//! tag and untag calls, for the `tags` prop of the plan. Our own tags
//! (`authdomain.io/…`) are set at creation and never part of the comparison.
//!
//! Kinds not here take no tags or are not compared: the DB subnet group and the KMS key
//! (reading their tags would add a call to every no-op plan; they are tagged at creation),
//! the inline policy, API integrations and routes, the invoke permission.

use serde_json::Value;

use super::{AwsError, aws_error, tag_delta};
use authdomain_core::plan::names::tags_converge;
use authdomain_core::plan::{Desired, Observed, Service};

fn arn(o: &Observed) -> String {
    o.props
        .get("_arn")
        .and_then(Value::as_str)
        .unwrap_or(&o.physical_id)
        .to_owned()
}

/// Send `$request` unless `$items` (tags to set, or keys to remove) is empty; an error
/// names the resource.
macro_rules! send_unless_empty {
    ($items:expr, $action:literal, $name:expr, $request:expr) => {
        if !$items.is_empty() {
            $request
                .send()
                .await
                .map_err(|e| aws_error($action, $name.clone(), e))?;
        }
    };
}

/// Make the user tags of `o` those of `d`.
pub async fn retag(aws: &super::Aws, d: &Desired, o: &Observed) -> Result<(), AwsError> {
    if !tags_converge(d.id.kind) {
        return Ok(());
    }
    let (set, remove) = tag_delta(d.props.get("tags"), o.props.get("tags"));
    let name = d.id.to_string();
    let pairs = || set.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    if d.id.kind.service() == Service::S3 {
        return super::s3::retag(aws, d, o).await;
    }
    match d.id.kind.service() {
        Service::Ec2 => {
            use aws_sdk_ec2::types::Tag;
            let tag = |(k, v): (&str, &str)| Tag::builder().key(k).value(v).build();
            let keys = remove.iter().map(|k| Tag::builder().key(k).build());
            send_unless_empty!(
                set,
                "tag",
                name,
                aws.ec2
                    .create_tags()
                    .resources(&o.physical_id)
                    .set_tags(Some(pairs().map(tag).collect()))
            );
            send_unless_empty!(
                remove,
                "untag",
                name,
                aws.ec2
                    .delete_tags()
                    .resources(&o.physical_id)
                    .set_tags(Some(keys.collect()))
            );
        }
        Service::Rds => {
            use aws_sdk_rds::types::Tag;
            let tag = |(k, v): (&str, &str)| Tag::builder().key(k).value(v).build();
            send_unless_empty!(
                set,
                "tag",
                name,
                aws.rds
                    .add_tags_to_resource()
                    .resource_name(arn(o))
                    .set_tags(Some(pairs().map(tag).collect()))
            );
            send_unless_empty!(
                remove,
                "untag",
                name,
                aws.rds
                    .remove_tags_from_resource()
                    .resource_name(arn(o))
                    .set_tag_keys(Some(remove.clone()))
            );
        }
        Service::Ecr => {
            use aws_sdk_ecr::types::Tag;
            // The builder fails only without a key or a value; both are always set.
            let tag = |(k, v): (&str, &str)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value set")
            };
            send_unless_empty!(
                set,
                "tag",
                name,
                aws.ecr
                    .tag_resource()
                    .resource_arn(arn(o))
                    .set_tags(Some(pairs().map(tag).collect()))
            );
            send_unless_empty!(
                remove,
                "untag",
                name,
                aws.ecr
                    .untag_resource()
                    .resource_arn(arn(o))
                    .set_tag_keys(Some(remove.clone()))
            );
        }
        Service::Iam => {
            use aws_sdk_iam::types::Tag;
            let tag = |(k, v): (&str, &str)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("key and value set")
            };
            send_unless_empty!(
                set,
                "tag",
                name,
                aws.iam
                    .tag_role()
                    .role_name(&o.physical_id)
                    .set_tags(Some(pairs().map(tag).collect()))
            );
            send_unless_empty!(
                remove,
                "untag",
                name,
                aws.iam
                    .untag_role()
                    .role_name(&o.physical_id)
                    .set_tag_keys(Some(remove.clone()))
            );
        }
        Service::Function => {
            send_unless_empty!(
                set,
                "tag",
                name,
                aws.lambda
                    .tag_resource()
                    .resource(arn(o))
                    .set_tags(Some(set.clone().into_iter().collect()))
            );
            send_unless_empty!(
                remove,
                "untag",
                name,
                aws.lambda
                    .untag_resource()
                    .resource(arn(o))
                    .set_tag_keys(Some(remove.clone()))
            );
        }
        Service::Api => {
            let api_arn = format!("arn:aws:apigateway:{}::/apis/{}", aws.region, o.physical_id);
            send_unless_empty!(
                set,
                "tag",
                name,
                aws.apigw
                    .tag_resource()
                    .resource_arn(&api_arn)
                    .set_tags(Some(set.clone().into_iter().collect()))
            );
            send_unless_empty!(
                remove,
                "untag",
                name,
                aws.apigw
                    .untag_resource()
                    .resource_arn(&api_arn)
                    .set_tag_keys(Some(remove.clone()))
            );
        }
        Service::Secrets => {
            use aws_sdk_secretsmanager::types::Tag;
            let tag = |(k, v): (&str, &str)| Tag::builder().key(k).value(v).build();
            send_unless_empty!(
                set,
                "tag",
                name,
                aws.secrets
                    .tag_resource()
                    .secret_id(&o.physical_id)
                    .set_tags(Some(pairs().map(tag).collect()))
            );
            send_unless_empty!(
                remove,
                "untag",
                name,
                aws.secrets
                    .untag_resource()
                    .secret_id(&o.physical_id)
                    .set_tag_keys(Some(remove.clone()))
            );
        }
        // Not converged (see [`tags_converge`]).
        Service::IamPolicy
        | Service::Kms
        | Service::Permission
        | Service::Protection
        | Service::S3
        | Service::Registrations => {}
    }
    Ok(())
}
