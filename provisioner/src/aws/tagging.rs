//! The spec's extra tags (`spec.tags`) on resources that already exist: each service's
//! tag and untag calls, for the `tags` prop of the plan. Our own tags
//! (`authdomain.io/…`) are set at creation and never part of the comparison.
//!
//! Kinds not here take no tags or are not compared: the DB subnet group and the KMS key
//! (reading their tags would add a call to every no-op plan; they are tagged at creation),
//! the inline policy, API integrations and routes, the invoke permission.

use serde_json::Value;

use super::{AwsError, aws_error, tag_delta};
use crate::plan::{Desired, Kind, Observed};

/// Whether a kind's `tags` are compared and converged.
pub fn converged(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Vpc
            | Kind::Subnet
            | Kind::InternetGateway
            | Kind::ElasticIp
            | Kind::NatGateway
            | Kind::RouteTable
            | Kind::SecurityGroup
            | Kind::DbCluster
            | Kind::DbInstance
            | Kind::Secret
            | Kind::EcrRepository
            | Kind::IamRole
            | Kind::Api
            | Kind::Function
    )
}

fn arn(o: &Observed) -> String {
    o.props
        .get("_arn")
        .and_then(Value::as_str)
        .unwrap_or(&o.physical_id)
        .to_owned()
}

/// Make the user tags of `o` those of `d`.
pub async fn retag(aws: &super::Aws, d: &Desired, o: &Observed) -> Result<(), AwsError> {
    let (set, remove) = tag_delta(d.props.get("tags"), o.props.get("tags"));
    let name = d.id.to_string();
    match d.id.kind {
        k if !converged(k) => {}
        Kind::Vpc
        | Kind::Subnet
        | Kind::InternetGateway
        | Kind::ElasticIp
        | Kind::NatGateway
        | Kind::RouteTable
        | Kind::SecurityGroup => {
            use aws_sdk_ec2::types::Tag;
            if !set.is_empty() {
                aws.ec2
                    .create_tags()
                    .resources(&o.physical_id)
                    .set_tags(Some(
                        set.iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(|e| aws_error("tag", name.clone(), e))?;
            }
            if !remove.is_empty() {
                aws.ec2
                    .delete_tags()
                    .resources(&o.physical_id)
                    .set_tags(Some(
                        remove
                            .iter()
                            .map(|k| Tag::builder().key(k).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(|e| aws_error("untag", name.clone(), e))?;
            }
        }
        Kind::DbCluster | Kind::DbInstance => {
            use aws_sdk_rds::types::Tag;
            if !set.is_empty() {
                aws.rds
                    .add_tags_to_resource()
                    .resource_name(arn(o))
                    .set_tags(Some(
                        set.iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(|e| aws_error("tag", name.clone(), e))?;
            }
            if !remove.is_empty() {
                aws.rds
                    .remove_tags_from_resource()
                    .resource_name(arn(o))
                    .set_tag_keys(Some(remove.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("untag", name.clone(), e))?;
            }
        }
        Kind::EcrRepository => {
            use aws_sdk_ecr::types::Tag;
            if !set.is_empty() {
                let tags: Result<Vec<Tag>, _> = set
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect();
                aws.ecr
                    .tag_resource()
                    .resource_arn(arn(o))
                    .set_tags(Some(tags.expect("key and value set")))
                    .send()
                    .await
                    .map_err(|e| aws_error("tag", name.clone(), e))?;
            }
            if !remove.is_empty() {
                aws.ecr
                    .untag_resource()
                    .resource_arn(arn(o))
                    .set_tag_keys(Some(remove.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("untag", name.clone(), e))?;
            }
        }
        Kind::IamRole => {
            use aws_sdk_iam::types::Tag;
            if !set.is_empty() {
                let tags: Result<Vec<Tag>, _> = set
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect();
                aws.iam
                    .tag_role()
                    .role_name(&o.physical_id)
                    .set_tags(Some(tags.expect("key and value set")))
                    .send()
                    .await
                    .map_err(|e| aws_error("tag", name.clone(), e))?;
            }
            if !remove.is_empty() {
                aws.iam
                    .untag_role()
                    .role_name(&o.physical_id)
                    .set_tag_keys(Some(remove.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("untag", name.clone(), e))?;
            }
        }
        Kind::Function => {
            if !set.is_empty() {
                aws.lambda
                    .tag_resource()
                    .resource(arn(o))
                    .set_tags(Some(set.iter().cloned().collect()))
                    .send()
                    .await
                    .map_err(|e| aws_error("tag", name.clone(), e))?;
            }
            if !remove.is_empty() {
                aws.lambda
                    .untag_resource()
                    .resource(arn(o))
                    .set_tag_keys(Some(remove.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("untag", name.clone(), e))?;
            }
        }
        Kind::Api => {
            let api_arn = format!("arn:aws:apigateway:{}::/apis/{}", aws.region, o.physical_id);
            if !set.is_empty() {
                aws.apigw
                    .tag_resource()
                    .resource_arn(&api_arn)
                    .set_tags(Some(set.iter().cloned().collect()))
                    .send()
                    .await
                    .map_err(|e| aws_error("tag", name.clone(), e))?;
            }
            if !remove.is_empty() {
                aws.apigw
                    .untag_resource()
                    .resource_arn(&api_arn)
                    .set_tag_keys(Some(remove.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("untag", name.clone(), e))?;
            }
        }
        Kind::Secret => {
            use aws_sdk_secretsmanager::types::Tag;
            if !set.is_empty() {
                aws.secrets
                    .tag_resource()
                    .secret_id(&o.physical_id)
                    .set_tags(Some(
                        set.iter()
                            .map(|(k, v)| Tag::builder().key(k).value(v).build())
                            .collect(),
                    ))
                    .send()
                    .await
                    .map_err(|e| aws_error("tag", name.clone(), e))?;
            }
            if !remove.is_empty() {
                aws.secrets
                    .untag_resource()
                    .secret_id(&o.physical_id)
                    .set_tag_keys(Some(remove.clone()))
                    .send()
                    .await
                    .map_err(|e| aws_error("untag", name.clone(), e))?;
            }
        }
        _ => {}
    }
    Ok(())
}
