//! EC2 networking: VPC, subnets, internet gateway, elastic IPs, NAT gateways, route tables
//! and security groups. Observation is one filtered describe per resource type (by our
//! domain tag), so a no-op plan costs seven calls however many subnets there are.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{
    DomainType, Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification, UserIdGroupPair,
};
use serde_json::{Value, json};

use super::{AwsError, ErrorClass, TAG_DOMAIN, TAG_RESOURCE, aws_error, many, one, with_retries};
use crate::plan::{Change, Desired, Kind, Observed, ResourceId};

/// Physical ids known so far (observed, or created during this apply).
pub type Physical = BTreeMap<ResourceId, String>;

fn domains_filter(domains: &[&str]) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_DOMAIN}"))
        .set_values(Some(domains.iter().map(|d| (*d).to_owned()).collect()))
        .build()
}

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// The describes filter by our tag on the server; checking again here costs nothing and
/// keeps another domain's resources out even where an endpoint ignores a filter (moto does
/// for NAT gateways).
/// Which of `domains` a resource is tagged for (the filter is re-checked here: moto
/// ignores it on some describes).
fn domain_of<'a>(tags: &[Tag], domains: &[&'a str]) -> Option<&'a str> {
    let d = tag(tags, TAG_DOMAIN)?;
    domains.iter().find(|x| **x == d).copied()
}

fn resource_id(tags: &[Tag], kind: Kind, physical: &str) -> ResourceId {
    super::resource_id(tag(tags, TAG_RESOURCE), kind, physical)
}

fn observed(id: ResourceId, physical: &str, tags: &[Tag]) -> Observed {
    let mut props = BTreeMap::new();
    props.insert(
        "tags".to_owned(),
        super::user_tags(tags.iter().filter_map(|t| Some((t.key()?, t.value()?)))),
    );
    Observed {
        id,
        physical_id: physical.to_owned(),
        props,
        refs: BTreeMap::new(),
    }
}

/// Canonical rule strings (`tcp:5432:10.0.0.0/16`) and referenced group ids of a rule list.
fn rules(perms: &[IpPermission]) -> (Vec<String>, Vec<(String, String)>) {
    let mut cidrs = Vec::new();
    let mut groups = Vec::new();
    for p in perms {
        let proto = match p.ip_protocol() {
            Some("-1") | None => "all".to_owned(),
            Some(x) => x.to_owned(),
        };
        let ports = match (p.from_port(), p.to_port()) {
            (Some(a), Some(b)) if a == b && a >= 0 => a.to_string(),
            (Some(a), Some(b)) if a >= 0 => format!("{a}-{b}"),
            _ => "all".to_owned(),
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                cidrs.push(format!("{proto}:{ports}:{c}"));
            }
        }
        for g in p.user_id_group_pairs() {
            if let Some(id) = g.group_id() {
                groups.push((format!("{proto}:{ports}"), id.to_owned()));
            }
        }
    }
    cidrs.sort();
    (cidrs, groups)
}

/// Find every network resource tagged for `domain`.
pub async fn observe(aws: &super::Aws, domain: &str) -> Result<Vec<Observed>, AwsError> {
    Ok(observe_domains(aws, &[domain])
        .await?
        .remove(domain)
        .unwrap_or_default())
}

/// Find every network resource tagged for any of `domains`, grouped by domain: one
/// describe per resource type whatever the number of domains (EC2 filters take up to 200
/// values; more domains take a call per 200).
pub async fn observe_domains(
    aws: &super::Aws,
    domains: &[&str],
) -> Result<BTreeMap<String, Vec<Observed>>, AwsError> {
    let mut out: BTreeMap<String, Vec<Observed>> = BTreeMap::new();
    for chunk in domains.chunks(200) {
        observe_chunk(aws, chunk, &mut out).await?;
    }
    Ok(out)
}

async fn observe_chunk(
    aws: &super::Aws,
    domains: &[&str],
    out: &mut BTreeMap<String, Vec<Observed>>,
) -> Result<(), AwsError> {
    let ec2 = &aws.ec2;

    let vpcs = with_retries(5, || async {
        ec2.describe_vpcs()
            .filters(domains_filter(domains))
            .send()
            .await
            .map_err(|e| aws_error("describe", "VPCs", e))
    })
    .await?;
    for (domain, v) in vpcs
        .vpcs()
        .iter()
        .filter_map(|x| domain_of(x.tags(), domains).map(|d| (d, x)))
    {
        let pid = v.vpc_id().unwrap_or_default();
        let mut o = observed(resource_id(v.tags(), Kind::Vpc, pid), pid, v.tags());
        o.props.insert("cidr".into(), json!(v.cidr_block()));
        out.entry(domain.to_owned()).or_default().push(o);
    }

    let subnets = with_retries(5, || async {
        ec2.describe_subnets()
            .filters(domains_filter(domains))
            .send()
            .await
            .map_err(|e| aws_error("describe", "subnets", e))
    })
    .await?;
    for (domain, s) in subnets
        .subnets()
        .iter()
        .filter_map(|x| domain_of(x.tags(), domains).map(|d| (d, x)))
    {
        let pid = s.subnet_id().unwrap_or_default();
        let id = resource_id(s.tags(), Kind::Subnet, pid);
        let mut o = observed(id.clone(), pid, s.tags());
        o.props.insert("cidr".into(), json!(s.cidr_block()));
        o.props
            .insert("availability-zone".into(), json!(s.availability_zone()));
        o.props.insert(
            "tier".into(),
            json!(id.name.split('-').next().unwrap_or_default()),
        );
        o.refs.insert(
            "vpc".into(),
            s.vpc_id().map(|v| vec![v.to_owned()]).unwrap_or_default(),
        );
        out.entry(domain.to_owned()).or_default().push(o);
    }

    let igws = with_retries(5, || async {
        ec2.describe_internet_gateways()
            .filters(domains_filter(domains))
            .send()
            .await
            .map_err(|e| aws_error("describe", "internet gateways", e))
    })
    .await?;
    for (domain, g) in igws
        .internet_gateways()
        .iter()
        .filter_map(|x| domain_of(x.tags(), domains).map(|d| (d, x)))
    {
        let pid = g.internet_gateway_id().unwrap_or_default();
        let mut o = observed(
            resource_id(g.tags(), Kind::InternetGateway, pid),
            pid,
            g.tags(),
        );
        o.refs.insert(
            "vpc".into(),
            g.attachments()
                .iter()
                .filter_map(|a| a.vpc_id().map(str::to_owned))
                .collect(),
        );
        out.entry(domain.to_owned()).or_default().push(o);
    }

    let addresses = with_retries(5, || async {
        ec2.describe_addresses()
            .filters(domains_filter(domains))
            .send()
            .await
            .map_err(|e| aws_error("describe", "elastic IPs", e))
    })
    .await?;
    for (domain, a) in addresses
        .addresses()
        .iter()
        .filter_map(|x| domain_of(x.tags(), domains).map(|d| (d, x)))
    {
        let pid = a.allocation_id().unwrap_or_default();
        let mut o = observed(resource_id(a.tags(), Kind::ElasticIp, pid), pid, a.tags());
        o.props
            .insert("domain".into(), json!(a.domain().map(|d| d.as_str())));
        out.entry(domain.to_owned()).or_default().push(o);
    }

    let nats = with_retries(5, || async {
        ec2.describe_nat_gateways()
            .filter(domains_filter(domains))
            .send()
            .await
            .map_err(|e| aws_error("describe", "NAT gateways", e))
    })
    .await?;
    for (domain, n) in nats
        .nat_gateways()
        .iter()
        .filter_map(|x| domain_of(x.tags(), domains).map(|d| (d, x)))
    {
        let state = n.state().map(|s| s.as_str()).unwrap_or("");
        if matches!(state, "deleted" | "deleting" | "failed") {
            continue;
        }
        let pid = n.nat_gateway_id().unwrap_or_default();
        let mut o = observed(resource_id(n.tags(), Kind::NatGateway, pid), pid, n.tags());
        o.refs.insert(
            "subnet".into(),
            n.subnet_id()
                .map(|s| vec![s.to_owned()])
                .unwrap_or_default(),
        );
        o.refs.insert(
            "allocation".into(),
            n.nat_gateway_addresses()
                .iter()
                .filter_map(|a| a.allocation_id().map(str::to_owned))
                .collect(),
        );
        out.entry(domain.to_owned()).or_default().push(o);
    }

    let tables = with_retries(5, || async {
        ec2.describe_route_tables()
            .filters(domains_filter(domains))
            .send()
            .await
            .map_err(|e| aws_error("describe", "route tables", e))
    })
    .await?;
    for (domain, t) in tables
        .route_tables()
        .iter()
        .filter_map(|x| domain_of(x.tags(), domains).map(|d| (d, x)))
    {
        let pid = t.route_table_id().unwrap_or_default();
        let mut o = observed(resource_id(t.tags(), Kind::RouteTable, pid), pid, t.tags());
        o.refs.insert(
            "vpc".into(),
            t.vpc_id().map(|v| vec![v.to_owned()]).unwrap_or_default(),
        );
        let default_route: Vec<String> = t
            .routes()
            .iter()
            .filter(|r| r.destination_cidr_block() == Some("0.0.0.0/0"))
            .filter_map(|r| r.gateway_id().or(r.nat_gateway_id()).map(str::to_owned))
            .collect();
        if !default_route.is_empty() {
            o.refs.insert("default-route".into(), default_route);
        }
        let mut associations = serde_json::Map::new();
        let mut subnets = Vec::new();
        for a in t
            .associations()
            .iter()
            .filter(|a| !a.main().unwrap_or(false))
        {
            if let (Some(s), Some(id)) = (a.subnet_id(), a.route_table_association_id()) {
                subnets.push(s.to_owned());
                associations.insert(s.to_owned(), json!(id));
            }
        }
        o.refs.insert("subnets".into(), subnets);
        o.props
            .insert("_associations".into(), Value::Object(associations));
        out.entry(domain.to_owned()).or_default().push(o);
    }

    let groups = with_retries(5, || async {
        ec2.describe_security_groups()
            .filters(domains_filter(domains))
            .send()
            .await
            .map_err(|e| aws_error("describe", "security groups", e))
    })
    .await?;
    for (domain, g) in groups
        .security_groups()
        .iter()
        .filter_map(|x| domain_of(x.tags(), domains).map(|d| (d, x)))
    {
        let pid = g.group_id().unwrap_or_default();
        let mut o = observed(
            resource_id(g.tags(), Kind::SecurityGroup, pid),
            pid,
            g.tags(),
        );
        o.props.insert("description".into(), json!(g.description()));
        let (ingress, ingress_groups) = rules(g.ip_permissions());
        let (egress, _) = rules(g.ip_permissions_egress());
        o.props.insert("ingress".into(), json!(ingress));
        o.props.insert("egress".into(), json!(egress));
        o.refs.insert(
            "postgres-from".into(),
            ingress_groups
                .into_iter()
                .filter(|(p, _)| p == "tcp:5432")
                .map(|(_, id)| id)
                .collect(),
        );
        o.refs.insert(
            "vpc".into(),
            g.vpc_id().map(|v| vec![v.to_owned()]).unwrap_or_default(),
        );
        out.entry(domain.to_owned()).or_default().push(o);
    }
    Ok(())
}

/// The spec's tags of an EC2 resource: `spec.tags` and a readable `Name` the console
/// shows, unless `spec.tags` sets one. What the plan compares and what creation sets.
pub fn user_tags(
    domain: &str,
    id: &ResourceId,
    extra: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut all = extra.clone();
    all.entry("Name".to_owned())
        .or_insert_with(|| format!("{domain}-{}-{}", id.kind.as_str(), id.name));
    all
}

/// The tags a new resource gets: the spec's ([`user_tags`]), then ours.
fn tags(domain: &str, id: &ResourceId, extra: &BTreeMap<String, String>) -> Vec<Tag> {
    super::tag_pairs(domain, id, &user_tags(domain, id, extra))
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

/// Parse `tcp:5432:10.0.0.0/16` into an IpPermission.
fn permission(rule: &str) -> Option<IpPermission> {
    let mut parts = rule.splitn(3, ':');
    let (proto, ports, cidr) = (parts.next()?, parts.next()?, parts.next()?);
    let (from, to) = match ports {
        "all" => (-1, -1),
        p => match p.split_once('-') {
            Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
            None => (p.parse().ok()?, p.parse().ok()?),
        },
    };
    let proto = if proto == "all" { "-1" } else { proto };
    Some(
        IpPermission::builder()
            .ip_protocol(proto)
            .from_port(from)
            .to_port(to)
            .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build(),
    )
}

fn group_permission(group_id: &str) -> IpPermission {
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(group_id).build())
        .build()
}

/// Create `d`; returns its physical id.
pub async fn create(
    aws: &super::Aws,
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
    aws: &super::Aws,
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
    aws: &super::Aws,
    d: &Desired,
    group: &str,
    have_ingress: &[String],
    have_egress: &[String],
    have_from: &[String],
    physical: &Physical,
) -> Result<(), AwsError> {
    let ec2 = &aws.ec2;
    let name = d.id.to_string();
    let want_ingress = super::strings(d.props.get("ingress"));
    let want_egress = super::strings(d.props.get("egress"));
    let want_from = many(d, "postgres-from", physical)?;

    let add_in: Vec<IpPermission> = want_ingress
        .iter()
        .filter(|r| !have_ingress.contains(r))
        .filter_map(|r| permission(r))
        .chain(
            want_from
                .iter()
                .filter(|g| !have_from.contains(g))
                .map(|g| group_permission(g)),
        )
        .collect();
    let del_in: Vec<IpPermission> = have_ingress
        .iter()
        .filter(|r| !want_ingress.contains(r))
        .filter_map(|r| permission(r))
        .chain(
            have_from
                .iter()
                .filter(|g| !want_from.contains(g))
                .map(|g| group_permission(g)),
        )
        .collect();
    let add_out: Vec<IpPermission> = want_egress
        .iter()
        .filter(|r| !have_egress.contains(r))
        .filter_map(|r| permission(r))
        .collect();
    let del_out: Vec<IpPermission> = have_egress
        .iter()
        .filter(|r| !want_egress.contains(r))
        .filter_map(|r| permission(r))
        .collect();
    if !add_in.is_empty() {
        ec2.authorize_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(add_in))
            .send()
            .await
            .map_err(|e| aws_error("authorize ingress of", name.clone(), e))?;
    }
    if !del_in.is_empty() {
        ec2.revoke_security_group_ingress()
            .group_id(group)
            .set_ip_permissions(Some(del_in))
            .send()
            .await
            .map_err(|e| aws_error("revoke ingress of", name.clone(), e))?;
    }
    if !add_out.is_empty() {
        ec2.authorize_security_group_egress()
            .group_id(group)
            .set_ip_permissions(Some(add_out))
            .send()
            .await
            .map_err(|e| aws_error("authorize egress of", name.clone(), e))?;
    }
    if !del_out.is_empty() {
        ec2.revoke_security_group_egress()
            .group_id(group)
            .set_ip_permissions(Some(del_out))
            .send()
            .await
            .map_err(|e| aws_error("revoke egress of", name.clone(), e))?;
    }
    Ok(())
}

/// Change `o` in place to match `d` (only the fields in `change`).
pub async fn update(
    aws: &super::Aws,
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
            let have_in = super::strings(o.props.get("ingress"));
            let have_out = super::strings(o.props.get("egress"));
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
pub async fn delete(aws: &super::Aws, o: &Observed) -> Result<(), AwsError> {
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
                                Err(err) => super::already_gone(Err(aws_error(
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
    super::already_gone(result)
}
