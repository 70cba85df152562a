//! Observing the network: one tag-filtered describe per resource type, for one or many
//! domains at once, normalised to the plan's canonical forms.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, Tag};
use serde_json::{Value, json};

use super::rules::canonical;
use super::tag;
use crate::aws::{AwsError, TAG_DOMAIN, TAG_RESOURCE, aws_error, with_retries};
use authdomain_core::plan::zones::Zone;
use authdomain_core::plan::{Kind, Observed, ResourceId};

fn domains_filter(domains: &[&str]) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_DOMAIN}"))
        .set_values(Some(domains.iter().map(|d| (*d).to_owned()).collect()))
        .build()
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
    crate::aws::resource_id(tag(tags, TAG_RESOURCE), kind, physical)
}

fn observed(id: ResourceId, physical: &str, tags: &[Tag]) -> Observed {
    let mut props = BTreeMap::new();
    props.insert(
        "tags".to_owned(),
        crate::aws::user_tags(tags.iter().filter_map(|t| Some((t.key()?, t.value()?)))),
    );
    Observed {
        id,
        physical_id: physical.to_owned(),
        props,
        refs: BTreeMap::new(),
    }
}

/// Find every network resource tagged for `domain`.
pub async fn observe(aws: &crate::aws::Aws, domain: &str) -> Result<Vec<Observed>, AwsError> {
    Ok(observe_domains(aws, &[domain])
        .await?
        .remove(domain)
        .unwrap_or_default())
}

/// Find every network resource tagged for any of `domains`, grouped by domain: one
/// describe per resource type whatever the number of domains (EC2 filters take up to 200
/// values; more domains take a call per 200).
pub async fn observe_domains(
    aws: &crate::aws::Aws,
    domains: &[&str],
) -> Result<BTreeMap<String, Vec<Observed>>, AwsError> {
    let mut out: BTreeMap<String, Vec<Observed>> = BTreeMap::new();
    for chunk in domains.chunks(200) {
        observe_chunk(aws, chunk, &mut out).await?;
    }
    Ok(out)
}

async fn observe_chunk(
    aws: &crate::aws::Aws,
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
        // Chosen and compared by zone ID (the same zone in every account); the name is
        // this account's, for people.
        o.props
            .insert("zone-id".into(), json!(s.availability_zone_id()));
        o.props.insert("_zone".into(), json!(s.availability_zone()));
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
        let (ingress, ingress_groups) = canonical(g.ip_permissions());
        let (egress, _) = canonical(g.ip_permissions_egress());
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

    let endpoints = with_retries(5, || async {
        ec2.describe_vpc_endpoints()
            .filters(domains_filter(domains))
            .send()
            .await
            .map_err(|e| aws_error("describe", "VPC endpoints", e))
    })
    .await?;
    for (domain, e) in endpoints
        .vpc_endpoints()
        .iter()
        // A deleted endpoint is listed for a while; AWS spells its states in lower case.
        .filter(|e| {
            !e.state().is_some_and(|s| {
                matches!(
                    s.as_str().to_ascii_lowercase().as_str(),
                    "deleted" | "deleting"
                )
            })
        })
        .filter_map(|x| domain_of(x.tags(), domains).map(|d| (d, x)))
    {
        let pid = e.vpc_endpoint_id().unwrap_or_default();
        let mut o = observed(resource_id(e.tags(), Kind::VpcEndpoint, pid), pid, e.tags());
        let service = e
            .service_name()
            .and_then(|s| s.rsplit('.').next())
            .unwrap_or_default();
        o.props.insert("service".into(), json!(service));
        o.props.insert(
            "type".into(),
            json!(e.vpc_endpoint_type().map(|t| t.as_str())),
        );
        o.refs.insert(
            "vpc".into(),
            e.vpc_id().map(|v| vec![v.to_owned()]).unwrap_or_default(),
        );
        let mut tables: Vec<String> = e.route_table_ids().to_vec();
        tables.sort();
        o.refs.insert("route-tables".into(), tables);
        out.entry(domain.to_owned()).or_default().push(o);
    }
    Ok(())
}

/// The region's S3 prefix list (`pl-…`: the destinations a gateway endpoint routes),
/// read once per [`Aws`], for the function's egress rule.
///
/// [`Aws`]: crate::aws::Aws
pub async fn s3_prefix_list(aws: &crate::aws::Aws) -> Result<String, AwsError> {
    let name = authdomain_core::plan::names::s3_service_name(&aws.region);
    aws.s3_prefix_list
        .get_or_try_init(|| async {
            let out = with_retries(5, || async {
                aws.ec2
                    .describe_prefix_lists()
                    .filters(
                        Filter::builder()
                            .name("prefix-list-name")
                            .values(&name)
                            .build(),
                    )
                    .send()
                    .await
                    .map_err(|e| aws_error("describe", "prefix lists", e))
            })
            .await?;
            out.prefix_lists()
                .iter()
                .find(|p| p.prefix_list_name() == Some(name.as_str()))
                .and_then(|p| p.prefix_list_id())
                .map(str::to_owned)
                .ok_or_else(|| AwsError {
                    action: "describe",
                    resource: format!("prefix list {name}"),
                    code: "NotFound".into(),
                    message: format!("the region has no S3 prefix list named {name}"),
                    class: crate::aws::ErrorClass::Terminal,
                })
        })
        .await
        .cloned()
}

/// The region's availability zones as this account sees them, read once per [`Aws`]
/// (`DescribeAvailabilityZones` with `AllAvailabilityZones` so that zones needing opt-in
/// are seen, and skipped, too).
///
/// [`Aws`]: crate::aws::Aws
pub async fn zones(aws: &crate::aws::Aws) -> Result<Vec<Zone>, AwsError> {
    aws.zones
        .get_or_try_init(|| async {
            let out = with_retries(5, || async {
                aws.ec2
                    .describe_availability_zones()
                    .all_availability_zones(true)
                    .send()
                    .await
                    .map_err(|e| aws_error("describe", "availability zones", e))
            })
            .await?;
            Ok(out
                .availability_zones()
                .iter()
                .map(|z| Zone {
                    name: z.zone_name().unwrap_or_default().to_owned(),
                    id: z.zone_id().unwrap_or_default().to_owned(),
                    state: z.state().map_or("available", |s| s.as_str()).to_owned(),
                    opt_in: z
                        .opt_in_status()
                        .map_or("opt-in-not-required", |s| s.as_str())
                        .to_owned(),
                    // An emulator that leaves it out lists availability zones only.
                    zone_type: z.zone_type().unwrap_or("availability-zone").to_owned(),
                })
                .collect())
        })
        .await
        .cloned()
}

/// The zone ID of every subnet slot of `m`: the slot's existing subnets' zone, else the
/// lowest usable ID (see [`authdomain_core::plan::zones`]). A spec asking for more zones
/// than usable is an `InvalidSpec` error naming the field and the usable zones.
pub async fn zone_assignment(
    aws: &crate::aws::Aws,
    m: &authdomain_core::spec::AuthDomainManifest,
    observed: &[Observed],
) -> Result<BTreeMap<char, String>, AwsError> {
    let all = zones(aws).await?;
    let n = &m.spec.network;
    authdomain_core::plan::zones::assign(
        &all,
        n.availability_zones,
        &n.exclude_zone_ids,
        &authdomain_core::plan::zones::occupied(observed),
    )
    .map_err(|e| AwsError {
        action: "plan",
        resource: "spec.network.availabilityZones".into(),
        code: "InvalidSpec".into(),
        message: e.to_string(),
        class: crate::aws::ErrorClass::Terminal,
    })
}
