//! Creating, changing and deleting network resources.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{DomainType, IpPermission, ResourceType, Tag, TagSpecification};
use serde_json::Value;

use super::Physical;
use super::rules::{Delta, Rules};
use crate::aws::{AwsError, ErrorClass, aws_error, many, one, with_retries};
use authdomain_core::plan::names::ec2_user_tags;
use authdomain_core::plan::{Change, Desired, Kind, Observed, ResourceId};

/// The tags a new resource gets: the spec's ([`ec2_user_tags`]), then ours.
fn tags(domain: &str, id: &ResourceId, extra: &BTreeMap<String, String>) -> Vec<Tag> {
    crate::aws::tag_pairs(domain, id, &ec2_user_tags(domain, id, extra))
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn tag_spec(
    kind: ResourceType,
    domain: &str,
    id: &ResourceId,
    extra: &BTreeMap<String, String>,
) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(tags(domain, id, extra)))
        .build()
}

fn str_prop<'a>(d: &'a Desired, field: &str) -> &'a str {
    d.props
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Create `d`; returns its physical id.
pub async fn create(
    aws: &crate::aws::Aws,
    domain: &str,
    extra_tags: &BTreeMap<String, String>,
    d: &Desired,
    physical: &Physical,
) -> Result<String, AwsError> {
    let ec2 = &aws.ec2;
    let name = d.id.to_string();
    macro_rules! err {
        ($action:expr) => {
            |e| aws_error($action, name.clone(), e)
        };
    }
    match d.id.kind {
        Kind::Vpc => {
            let out = ec2
                .create_vpc()
                .cidr_block(str_prop(d, "cidr"))
                .tag_specifications(tag_spec(ResourceType::Vpc, domain, &d.id, extra_tags))
                .send()
                .await
                .map_err(err!("create"))?;
            Ok(out
                .vpc()
                .and_then(|v| v.vpc_id())
                .unwrap_or_default()
                .to_owned())
        }
        Kind::Subnet => {
            let out = ec2
                .create_subnet()
                .vpc_id(one(d, "vpc", physical)?)
                .cidr_block(str_prop(d, "cidr"))
                .availability_zone(str_prop(d, "availability-zone"))
                .tag_specifications(tag_spec(ResourceType::Subnet, domain, &d.id, extra_tags))
                .send()
                .await
                .map_err(err!("create"))?;
            Ok(out
                .subnet()
                .and_then(|s| s.subnet_id())
                .unwrap_or_default()
                .to_owned())
        }
        Kind::InternetGateway => {
            let out = ec2
                .create_internet_gateway()
                .tag_specifications(tag_spec(
                    ResourceType::InternetGateway,
                    domain,
                    &d.id,
                    extra_tags,
                ))
                .send()
                .await
                .map_err(err!("create"))?;
            let id = out
                .internet_gateway()
                .and_then(|g| g.internet_gateway_id())
                .unwrap_or_default()
                .to_owned();
            ec2.attach_internet_gateway()
                .internet_gateway_id(&id)
                .vpc_id(one(d, "vpc", physical)?)
                .send()
                .await
                .map_err(err!("attach"))?;
            Ok(id)
        }
        Kind::ElasticIp => {
            let out = ec2
                .allocate_address()
                .domain(DomainType::Vpc)
                .tag_specifications(tag_spec(ResourceType::ElasticIp, domain, &d.id, extra_tags))
                .send()
                .await
                .map_err(err!("allocate"))?;
            Ok(out.allocation_id().unwrap_or_default().to_owned())
        }
        Kind::NatGateway => {
            let out = ec2
                .create_nat_gateway()
                .subnet_id(one(d, "subnet", physical)?)
                .allocation_id(one(d, "allocation", physical)?)
                .tag_specifications(tag_spec(
                    ResourceType::Natgateway,
                    domain,
                    &d.id,
                    extra_tags,
                ))
                .send()
                .await
                .map_err(err!("create"))?;
            Ok(out
                .nat_gateway()
                .and_then(|n| n.nat_gateway_id())
                .unwrap_or_default()
                .to_owned())
        }
        Kind::RouteTable => {
            let out = ec2
                .create_route_table()
                .vpc_id(one(d, "vpc", physical)?)
                .tag_specifications(tag_spec(
                    ResourceType::RouteTable,
                    domain,
                    &d.id,
                    extra_tags,
                ))
                .send()
                .await
                .map_err(err!("create"))?;
            let id = out
                .route_table()
                .and_then(|t| t.route_table_id())
                .unwrap_or_default()
                .to_owned();
            if d.refs.contains_key("default-route") {
                set_default_route(aws, d, &id, physical, false).await?;
            }
            for s in many(d, "subnets", physical)? {
                ec2.associate_route_table()
                    .route_table_id(&id)
                    .subnet_id(s)
                    .send()
                    .await
                    .map_err(err!("associate"))?;
            }
            Ok(id)
        }
        Kind::SecurityGroup => {
            let out = ec2
                .create_security_group()
                .group_name(format!("{domain}-{}", d.id.name))
                .description(str_prop(d, "description"))
                .vpc_id(one(d, "vpc", physical)?)
                .tag_specifications(tag_spec(
                    ResourceType::SecurityGroup,
                    domain,
                    &d.id,
                    extra_tags,
                ))
                .send()
                .await
                .map_err(err!("create"))?;
            let id = out.group_id().unwrap_or_default().to_owned();
            // A new group allows all egress; replace that with the declared rules.
            let have = vec!["all:all:0.0.0.0/0".to_owned()];
            sync_rules(aws, d, &id, &[], &have, &[], physical).await?;
            Ok(id)
        }
        _ => unreachable!("not an EC2 kind: {}", d.id),
    }
}

async fn set_default_route(
    aws: &crate::aws::Aws,
    d: &Desired,
    table: &str,
    physical: &Physical,
    replace: bool,
) -> Result<(), AwsError> {
    let ec2 = &aws.ec2;
    let target = one(d, "default-route", physical)?;
    let name = d.id.to_string();
    if replace {
        let mut req = ec2
            .replace_route()
            .route_table_id(table)
            .destination_cidr_block("0.0.0.0/0");
        req = if target.starts_with("nat-") {
            req.nat_gateway_id(&target)
        } else {
            req.gateway_id(&target)
        };
        req.send()
            .await
            .map_err(|e| aws_error("replace route of", name, e))?;
    } else {
        let mut req = ec2
            .create_route()
            .route_table_id(table)
            .destination_cidr_block("0.0.0.0/0");
        req = if target.starts_with("nat-") {
            req.nat_gateway_id(&target)
        } else {
            req.gateway_id(&target)
        };
        req.send()
            .await
            .map_err(|e| aws_error("create route of", name, e))?;
    }
    Ok(())
}

/// Make a group's rules what `d` declares, given what it has.
async fn sync_rules(
    aws: &crate::aws::Aws,
    d: &Desired,
    group: &str,
    have_ingress: &[String],
    have_egress: &[String],
    have_from: &[String],
    physical: &Physical,
) -> Result<(), AwsError> {
    let ec2 = &aws.ec2;
    let name = d.id.to_string();
    let want_ingress = crate::aws::strings(d.props.get("ingress"));
    let want_egress = crate::aws::strings(d.props.get("egress"));
    let want_from = many(d, "postgres-from", physical)?;
    let delta = Delta::between(
        Rules {
            ingress: &want_ingress,
            egress: &want_egress,
            postgres_from: &want_from,
        },
        Rules {
            ingress: have_ingress,
            egress: have_egress,
            postgres_from: have_from,
        },
    );
    let some = |v: Vec<IpPermission>| (!v.is_empty()).then_some(v);
    if let Some(p) = some(delta.add_ingress) {
        ec2.authorize_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(p))
            .send()
            .await
            .map_err(|e| aws_error("authorize ingress of", name.clone(), e))?;
    }
    if let Some(p) = some(delta.remove_ingress) {
        ec2.revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(p))
            .send()
            .await
            .map_err(|e| aws_error("revoke ingress of", name.clone(), e))?;
    }
    if let Some(p) = some(delta.add_egress) {
        ec2.authorize_security_group_egress()
            .group_id(group)
            .set_ip_permissions(Some(p))
            .send()
            .await
            .map_err(|e| aws_error("authorize egress of", name.clone(), e))?;
    }
    if let Some(p) = some(delta.remove_egress) {
        ec2.revoke_security_group_egress()
            .group_id(group)
            .set_ip_permissions(Some(p))
            .send()
            .await
            .map_err(|e| aws_error("revoke egress of", name.clone(), e))?;
    }
    Ok(())
}

/// Change `o` in place to match `d` (only the fields in `change`).
pub async fn update(
    aws: &crate::aws::Aws,
    d: &Desired,
    o: &Observed,
    change: &Change,
    physical: &Physical,
) -> Result<(), AwsError> {
    let ec2 = &aws.ec2;
    let name = d.id.to_string();
    let changed = |f: &str| change.touches(f);
    match d.id.kind {
        Kind::InternetGateway if changed("vpc") => {
            for old in o.refs.get("vpc").into_iter().flatten() {
                ec2.detach_internet_gateway()
                    .internet_gateway_id(&o.physical_id)
                    .vpc_id(old)
                    .send()
                    .await
                    .map_err(|e| aws_error("detach", name.clone(), e))?;
            }
            ec2.attach_internet_gateway()
                .internet_gateway_id(&o.physical_id)
                .vpc_id(one(d, "vpc", physical)?)
                .send()
                .await
                .map_err(|e| aws_error("attach", name.clone(), e))?;
        }
        Kind::RouteTable => {
            if changed("default-route") {
                let had = o.refs.get("default-route").is_some_and(|r| !r.is_empty());
                match (d.refs.contains_key("default-route"), had) {
                    (true, _) => set_default_route(aws, d, &o.physical_id, physical, had).await?,
                    (false, true) => {
                        ec2.delete_route()
                            .route_table_id(&o.physical_id)
                            .destination_cidr_block("0.0.0.0/0")
                            .send()
                            .await
                            .map_err(|e| aws_error("delete route of", name.clone(), e))?;
                    }
                    (false, false) => {}
                }
            }
            if changed("subnets") {
                let want = many(d, "subnets", physical)?;
                let have = o.refs.get("subnets").cloned().unwrap_or_default();
                let assoc = o.props.get("_associations").cloned().unwrap_or(Value::Null);
                for s in have.iter().filter(|s| !want.contains(s)) {
                    if let Some(a) = assoc.get(s).and_then(Value::as_str) {
                        ec2.disassociate_route_table()
                            .association_id(a)
                            .send()
                            .await
                            .map_err(|e| aws_error("disassociate", name.clone(), e))?;
                    }
                }
                for s in want.iter().filter(|s| !have.contains(s)) {
                    // A subnet has one association: move it here if another table holds it.
                    ec2.associate_route_table()
                        .route_table_id(&o.physical_id)
                        .subnet_id(s)
                        .send()
                        .await
                        .map_err(|e| aws_error("associate", name.clone(), e))?;
                }
            }
        }
        Kind::SecurityGroup => {
            let have_in = crate::aws::strings(o.props.get("ingress"));
            let have_out = crate::aws::strings(o.props.get("egress"));
            let have_from = o.refs.get("postgres-from").cloned().unwrap_or_default();
            sync_rules(
                aws,
                d,
                &o.physical_id,
                &have_in,
                &have_out,
                &have_from,
                physical,
            )
            .await?;
        }
        _ => {
            return Err(AwsError {
                action: "update",
                resource: name,
                code: "NotUpdatable".into(),
                message: format!(
                    "fields {} cannot be updated in place",
                    change
                        .fields
                        .iter()
                        .map(|f| f.field.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                class: ErrorClass::Terminal,
            });
        }
    }
    Ok(())
}

/// Delete `o`. Missing resources count as deleted; a dependency still going away is
/// retried with backoff.
pub async fn delete(aws: &crate::aws::Aws, o: &Observed) -> Result<(), AwsError> {
    let ec2 = &aws.ec2;
    let name = o.id.to_string();
    let pid = o.physical_id.clone();
    let result = with_retries(8, || {
        let (name, pid) = (name.clone(), pid.clone());
        async move {
            macro_rules! e {
                () => {
                    |err| aws_error("delete", name.clone(), err)
                };
            }
            match o.id.kind {
                Kind::Vpc => ec2
                    .delete_vpc()
                    .vpc_id(&pid)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(e!()),
                Kind::Subnet => ec2
                    .delete_subnet()
                    .subnet_id(&pid)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(e!()),
                Kind::InternetGateway => {
                    for v in o.refs.get("vpc").into_iter().flatten() {
                        ec2.detach_internet_gateway()
                            .internet_gateway_id(&pid)
                            .vpc_id(v)
                            .send()
                            .await
                            .map_err(|e| aws_error("detach", name.clone(), e))?;
                    }
                    ec2.delete_internet_gateway()
                        .internet_gateway_id(&pid)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(e!())
                }
                Kind::ElasticIp => ec2
                    .release_address()
                    .allocation_id(&pid)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(e!()),
                Kind::NatGateway => ec2
                    .delete_nat_gateway()
                    .nat_gateway_id(&pid)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(e!()),
                Kind::RouteTable => {
                    if let Some(Value::Object(assoc)) = o.props.get("_associations") {
                        for a in assoc.values().filter_map(Value::as_str) {
                            match ec2
                                .disassociate_route_table()
                                .association_id(a)
                                .send()
                                .await
                            {
                                Ok(_) => {}
                                Err(err) => crate::aws::already_gone(Err(aws_error(
                                    "disassociate",
                                    name.clone(),
                                    err,
                                )))?,
                            }
                        }
                    }
                    ec2.delete_route_table()
                        .route_table_id(&pid)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(e!())
                }
                Kind::SecurityGroup => ec2
                    .delete_security_group()
                    .group_id(&pid)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(e!()),
                _ => unreachable!("not an EC2 kind: {}", o.id),
            }
        }
    })
    .await;
    crate::aws::already_gone(result)
}
