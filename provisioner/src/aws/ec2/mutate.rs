//! Creating, changing and deleting network resources.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{DomainType, IpPermission, ResourceType, Tag, TagSpecification};
use serde_json::Value;

use super::Physical;
use super::rules::{Delta, Rules};
use crate::aws::{AwsError, ErrorClass, aws_error, many, one, with_retries};
use authdomain_core::plan::names::ec2_user_tags;
use authdomain_core::plan::{Change, Desired, Kind, Observed, ResourceId};

/// The tag recording the zone ID a subnet was placed in.
pub const TAG_ZONE_ID: &str = "authdomain.io/zone-id";

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
            // The zone by ID, recorded on the subnet too: the choice stays the same on
            // every run (see `authdomain_core::plan::zones`).
            let zone = str_prop(d, "zone-id");
            let mut spec = tag_spec(ResourceType::Subnet, domain, &d.id, extra_tags);
            spec.tags
                .get_or_insert_with(Vec::new)
                .push(Tag::builder().key(TAG_ZONE_ID).value(zone).build());
            let out = ec2
                .create_subnet()
                .vpc_id(one(d, "vpc", physical)?)
                .cidr_block(str_prop(d, "cidr"))
                .availability_zone_id(zone)
                .tag_specifications(spec)
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
            let id = out
                .nat_gateway()
                .and_then(|n| n.nat_gateway_id())
                .unwrap_or_default()
                .to_owned();
            // Routes to a NAT gateway that is still `pending` black-hole traffic.
            nat_wait(aws, &d.id, &id, "available").await?;
            Ok(id)
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
        Kind::VpcEndpoint => {
            let out = ec2
                .create_vpc_endpoint()
                .vpc_endpoint_type(aws_sdk_ec2::types::VpcEndpointType::Gateway)
                .vpc_id(one(d, "vpc", physical)?)
                .service_name(authdomain_core::plan::names::s3_service_name(&aws.region))
                .set_route_table_ids(Some(many(d, "route-tables", physical)?))
                .tag_specifications(tag_spec(
                    ResourceType::VpcEndpoint,
                    domain,
                    &d.id,
                    extra_tags,
                ))
                .send()
                .await
                .map_err(err!("create"))?;
            Ok(out
                .vpc_endpoint()
                .and_then(|e| e.vpc_endpoint_id())
                .unwrap_or_default()
                .to_owned())
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
        Kind::VpcEndpoint if changed("route-tables") && !changed("vpc") => {
            let want = many(d, "route-tables", physical)?;
            let have = o.refs.get("route-tables").cloned().unwrap_or_default();
            let add: Vec<String> = want.iter().filter(|t| !have.contains(t)).cloned().collect();
            let remove: Vec<String> = have.iter().filter(|t| !want.contains(t)).cloned().collect();
            ec2.modify_vpc_endpoint()
                .vpc_endpoint_id(&o.physical_id)
                .set_add_route_table_ids((!add.is_empty()).then_some(add))
                .set_remove_route_table_ids((!remove.is_empty()).then_some(remove))
                .send()
                .await
                .map_err(|e| aws_error("modify", name.clone(), e))?;
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
/// retried with backoff. A security group or subnet that Lambda's network interfaces
/// still hold (`DependencyViolation` for up to 20 to 40 minutes after DeleteFunction)
/// waits for them to go, saying so, up to [`Patience::network_interfaces`]; a NAT
/// gateway is waited for until `deleted` (its address and the internet gateway's
/// attachment cannot go before).
///
/// [`Patience::network_interfaces`]: crate::aws::Patience
pub async fn delete(aws: &crate::aws::Aws, o: &Observed) -> Result<(), AwsError> {
    loop {
        match delete_once(aws, o).await {
            Err(e)
                if e.code == "DependencyViolation"
                    && matches!(o.id.kind, Kind::SecurityGroup | Kind::Subnet) =>
            {
                if !interfaces_released(aws, o).await? {
                    return Err(e);
                }
            }
            Ok(()) if o.id.kind == Kind::NatGateway => {
                return nat_gateway_state(aws, o, "deleted").await;
            }
            other => return other,
        }
    }
}

/// While network interfaces sit in the security group or subnet `o`, wait (saying how
/// many and for how long), polling `DescribeNetworkInterfaces`. True once they are gone
/// (the delete is worth trying again), false when there were none to begin with (the
/// dependency is something else: the error stands).
async fn interfaces_released(aws: &crate::aws::Aws, o: &Observed) -> Result<bool, AwsError> {
    use crate::aws::{Poll, elapsed_text, wait_for};
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name(if o.id.kind == Kind::SecurityGroup {
            "group-id"
        } else {
            "subnet-id"
        })
        .values(&o.physical_id)
        .build();
    let resource = o.id.to_string();
    let waited = std::sync::atomic::AtomicBool::new(false);
    wait_for(
        aws,
        &resource,
        aws.patience.network_interfaces,
        |what, elapsed| {
            format!(
                "{what} after {}: AWS releases a deleted Lambda function's network interfaces within                  about 40 minutes; nothing is lost by stopping here: run destroy again to continue",
                elapsed_text(elapsed)
            )
        },
        || {
            let filter = filter.clone();
            let resource = resource.clone();
            let waited = &waited;
            async move {
                let enis: Vec<aws_sdk_ec2::types::NetworkInterface> = aws
                    .ec2
                    .describe_network_interfaces()
                    .filters(filter)
                    .into_paginator()
                    .items()
                    .send()
                    .collect::<Result<Vec<_>, _>>()
                    .await
                    .map_err(|e| aws_error("describe the network interfaces of", resource, e))?;
                if enis.is_empty() {
                    return Ok(Poll::Done(()));
                }
                waited.store(true, std::sync::atomic::Ordering::Relaxed);
                let lambda = enis
                    .iter()
                    .filter(|n| {
                        n.interface_type().map(|t| t.as_str()) == Some("lambda")
                            || n.description().is_some_and(|d| d.starts_with("AWS Lambda VPC ENI"))
                    })
                    .count();
                let ids: Vec<&str> = enis.iter().filter_map(|n| n.network_interface_id()).collect();
                Ok(Poll::Waiting(if lambda == enis.len() {
                    format!(
                        "waiting for Lambda to release {} network interface{} ({})",
                        enis.len(),
                        if enis.len() == 1 { "" } else { "s" },
                        ids.join(", ")
                    )
                } else {
                    format!(
                        "waiting for {} network interface{} to be released ({}; {} not Lambda's)",
                        enis.len(),
                        if enis.len() == 1 { "" } else { "s" },
                        ids.join(", "),
                        enis.len() - lambda
                    )
                }))
            }
        },
    )
    .await?;
    Ok(waited.into_inner())
}

/// Poll the NAT gateway `o` until it is `want` (`available` or `deleted`); `failed` is an
/// error with AWS's failure code and message.
async fn nat_gateway_state(
    aws: &crate::aws::Aws,
    o: &Observed,
    want: &'static str,
) -> Result<(), AwsError> {
    nat_wait(aws, &o.id, &o.physical_id, want).await
}

pub(super) async fn nat_wait(
    aws: &crate::aws::Aws,
    id: &ResourceId,
    nat: &str,
    want: &'static str,
) -> Result<(), AwsError> {
    use crate::aws::{Poll, elapsed_text, wait_for};
    let resource = id.to_string();
    wait_for(
        aws,
        &resource,
        aws.patience.nat_gateway,
        |what, elapsed| {
            format!(
                "{what} after {}; run again to continue",
                elapsed_text(elapsed)
            )
        },
        || async {
            let out = with_retries(5, || async {
                aws.ec2
                    .describe_nat_gateways()
                    .nat_gateway_ids(nat)
                    .send()
                    .await
                    .map_err(|e| aws_error("describe", resource.clone(), e))
            })
            .await;
            let state = match out {
                Ok(out) => out.nat_gateways().first().map(|n| {
                    (
                        n.state().map(|s| s.as_str().to_owned()).unwrap_or_default(),
                        n.failure_code().map(str::to_owned),
                        n.failure_message().map(str::to_owned),
                    )
                }),
                Err(e) if e.class == ErrorClass::NotFound => None,
                Err(e) => return Err(e),
            };
            match state {
                None if want == "deleted" => Ok(Poll::Done(())),
                Some((s, _, _)) if s == want => Ok(Poll::Done(())),
                Some((s, code, message)) if s == "failed" && want == "available" => Err(AwsError {
                    action: "create",
                    resource: resource.clone(),
                    code: code.unwrap_or_else(|| "NatGatewayFailed".into()),
                    message: message.unwrap_or_else(|| "the NAT gateway failed".into()),
                    class: ErrorClass::Terminal,
                }),
                Some((s, _, _)) if s == "failed" => Ok(Poll::Done(())),
                Some((s, _, _)) => Ok(Poll::Waiting(format!(
                    "waiting for the NAT gateway {nat} to be {want} (it is {s})"
                ))),
                None => Ok(Poll::Waiting(format!(
                    "waiting for the NAT gateway {nat} to appear"
                ))),
            }
        },
    )
    .await
}

async fn delete_once(aws: &crate::aws::Aws, o: &Observed) -> Result<(), AwsError> {
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
                Kind::VpcEndpoint => ec2
                    .delete_vpc_endpoints()
                    .vpc_endpoint_ids(&pid)
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
