//! The desired resource graph of a spec (pure). So far: the network (VPC, subnets,
//! internet gateway, NAT, route tables, security groups).

use std::net::Ipv4Addr;

use serde_json::json;

use super::{Desired, Kind, Ref, ResourceId};
use crate::spec::{AuthDomainManifest, NatGateway};

/// Subnet tiers: public (NAT gateways), private (the function), isolated (the database).
pub const TIERS: [&str; 3] = ["public", "private", "isolated"];

/// PostgreSQL's port, the only path from the function to the database.
pub const POSTGRES_PORT: u16 = 5432;

/// Availability zone names: the region plus a letter (`eu-west-1a`, `eu-west-1b`, …).
pub fn zones(region: &str, count: u8) -> Vec<String> {
    (0..count)
        .map(|i| format!("{region}{}", (b'a' + i) as char))
        .collect()
}

/// The CIDR of subnet `slot` when the VPC's range is split into 32 equal subnets.
pub fn subnet_cidr(vpc_cidr: &str, slot: u32) -> Option<String> {
    let (ip, prefix) = vpc_cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let prefix: u32 = prefix.parse().ok()?;
    let sub = prefix + 5;
    if sub > 28 || slot >= 32 {
        return None;
    }
    let base = u32::from(ip) + (slot << (32 - sub));
    Some(format!("{}/{sub}", Ipv4Addr::from(base)))
}

fn id(kind: Kind, name: impl Into<String>) -> ResourceId {
    ResourceId::new(kind, name)
}

/// Build the desired network for a validated manifest.
pub fn network(m: &AuthDomainManifest) -> Vec<Desired> {
    let s = &m.spec;
    let zones = zones(&s.region, s.network.availability_zones);
    let letter = |z: &str| z.chars().last().map(String::from).unwrap_or_default();
    let vpc = id(Kind::Vpc, "main");
    let mut out = vec![
        // DNS support stays at AWS's default (on); reading it would cost two calls per plan.
        Desired::new(vpc.clone()).immutable_prop("cidr", s.network.cidr.as_str()),
    ];

    let mut subnets_of = |tier_index: usize| -> Vec<ResourceId> {
        let tier = TIERS[tier_index];
        zones
            .iter()
            .enumerate()
            .map(|(i, z)| {
                let sid = id(Kind::Subnet, format!("{tier}-{}", letter(z)));
                let cidr =
                    subnet_cidr(&s.network.cidr, (tier_index * 8 + i) as u32).unwrap_or_default();
                out.push(
                    Desired::new(sid.clone())
                        .immutable_prop("cidr", cidr)
                        .immutable_prop("availability-zone", z.as_str())
                        .prop("tier", tier)
                        .reference("vpc", Ref::One(vpc.clone()), true),
                );
                sid
            })
            .collect()
    };
    let public = subnets_of(0);
    let private = subnets_of(1);
    let isolated = subnets_of(2);

    let igw = id(Kind::InternetGateway, "main");
    out.push(Desired::new(igw.clone()).reference("vpc", Ref::One(vpc.clone()), false));

    // NAT gateways: none (default), one in the first zone, or one per zone.
    let nat_zones: Vec<usize> = match s.network.nat_gateway {
        NatGateway::None => vec![],
        NatGateway::Single => vec![0],
        NatGateway::PerAz => (0..zones.len()).collect(),
    };
    let mut nats = Vec::new();
    for &i in &nat_zones {
        let l = letter(&zones[i]);
        let eip = id(Kind::ElasticIp, format!("nat-{l}"));
        let nat = id(Kind::NatGateway, l.clone());
        out.push(Desired::new(eip.clone()).immutable_prop("domain", "vpc"));
        out.push(
            Desired::new(nat.clone())
                .reference("subnet", Ref::One(public[i].clone()), true)
                .reference("allocation", Ref::One(eip), true),
        );
        nats.push(nat);
    }

    out.push(
        Desired::new(id(Kind::RouteTable, "public"))
            .reference("vpc", Ref::One(vpc.clone()), true)
            .reference("default-route", Ref::One(igw), false)
            .reference("subnets", Ref::Many(public.clone()), false),
    );
    for (i, z) in zones.iter().enumerate() {
        let mut rt = Desired::new(id(Kind::RouteTable, format!("private-{}", letter(z))))
            .reference("vpc", Ref::One(vpc.clone()), true)
            .reference("subnets", Ref::Many(vec![private[i].clone()]), false);
        let nat = match s.network.nat_gateway {
            NatGateway::None => None,
            NatGateway::Single => nats.first(),
            NatGateway::PerAz => nats.get(i),
        };
        if let Some(nat) = nat {
            rt = rt.reference("default-route", Ref::One(nat.clone()), false);
        }
        out.push(rt);
    }
    out.push(
        Desired::new(id(Kind::RouteTable, "isolated"))
            .reference("vpc", Ref::One(vpc.clone()), true)
            .reference("subnets", Ref::Many(isolated), false),
    );

    // The function may reach PostgreSQL inside the VPC and nothing else; the database
    // accepts PostgreSQL from the function's group only.
    let function_sg = id(Kind::SecurityGroup, "function");
    out.push(
        Desired::new(function_sg.clone())
            .immutable_prop(
                "description",
                format!("AuthDomain {}: auth server function", m.metadata.name),
            )
            .prop("ingress", json!([]))
            .prop(
                "egress",
                json!([format!("tcp:{POSTGRES_PORT}:{}", s.network.cidr)]),
            )
            .reference("vpc", Ref::One(vpc.clone()), true),
    );
    out.push(
        Desired::new(id(Kind::SecurityGroup, "database"))
            .immutable_prop(
                "description",
                format!("AuthDomain {}: Aurora PostgreSQL", m.metadata.name),
            )
            .prop("ingress", json!([]))
            .prop("egress", json!([]))
            .reference("postgres-from", Ref::One(function_sg), false)
            .reference("vpc", Ref::One(vpc), true),
    );
    out
}

/// The desired database: subnet group over the isolated subnets, the Aurora Serverless v2
/// cluster, its writer and readers.
pub fn database(m: &AuthDomainManifest) -> Vec<Desired> {
    let s = &m.spec;
    let db = &s.database;
    let isolated: Vec<ResourceId> = zones(&s.region, s.network.availability_zones)
        .iter()
        .map(|z| {
            id(
                Kind::Subnet,
                format!("isolated-{}", z.chars().last().unwrap_or('a')),
            )
        })
        .collect();
    let group = id(Kind::DbSubnetGroup, "main");
    let cluster = id(Kind::DbCluster, "main");
    let mut c = Desired::new(cluster.clone())
        .immutable_prop("engine", crate::aws::rds::ENGINE)
        .prop("engine-version", db.engine_version.as_str())
        .prop("min-capacity", db.min_capacity)
        .prop("max-capacity", db.max_capacity)
        .prop("deletion-protection", db.deletion_protection)
        .prop("iam-auth", true)
        .immutable_prop("storage-encrypted", true)
        .immutable_prop("managed-master-password", true)
        .reference("subnet-group", Ref::One(group.clone()), true)
        .reference(
            "security-groups",
            Ref::Many(vec![id(Kind::SecurityGroup, "database")]),
            false,
        );
    if db.min_capacity == 0.0 {
        c = c.prop("seconds-until-auto-pause", db.seconds_until_auto_pause);
    }
    let mut out = vec![
        Desired::new(group).reference("subnets", Ref::Many(isolated), false),
        c,
    ];
    let names =
        std::iter::once("writer".to_owned()).chain((1..=db.readers).map(|i| format!("reader-{i}")));
    for name in names {
        out.push(
            Desired::new(id(Kind::DbInstance, name))
                .prop("class", "db.serverless")
                .reference("cluster", Ref::One(cluster.clone()), true),
        );
    }
    out
}

/// The image repository and the function's role.
pub fn application(_m: &AuthDomainManifest) -> Vec<Desired> {
    let mut policies = vec![
        crate::aws::iam::BASIC_EXECUTION,
        crate::aws::iam::VPC_ACCESS,
    ];
    policies.sort();
    vec![
        Desired::new(id(Kind::EcrRepository, "main"))
            .prop("tag-mutability", "IMMUTABLE")
            .prop("scan-on-push", true),
        Desired::new(id(Kind::IamRole, "function"))
            .prop("trust-policy", crate::aws::iam::trust_policy())
            .prop("managed-policies", json!(policies)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Action, diff};
    use crate::spec::load_str;

    fn manifest(extra: &str) -> AuthDomainManifest {
        load_str(
            &format!("apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: demo\nspec:\n  region: eu-west-1\n{extra}"),
            "t.yaml",
        )
        .unwrap()
    }

    #[test]
    fn subnet_cidrs_split_the_vpc_range() {
        assert_eq!(subnet_cidr("10.42.0.0/16", 0).unwrap(), "10.42.0.0/21");
        assert_eq!(subnet_cidr("10.42.0.0/16", 9).unwrap(), "10.42.72.0/21");
        assert_eq!(subnet_cidr("10.60.16.0/20", 1).unwrap(), "10.60.16.128/25");
        assert_eq!(
            zones("eu-west-1", 3),
            ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
        );
    }

    #[test]
    fn default_network_has_no_nat_and_three_tiers() {
        let g = network(&manifest(""));
        let count = |k: Kind| g.iter().filter(|d| d.id.kind == k).count();
        assert_eq!(count(Kind::Vpc), 1);
        assert_eq!(count(Kind::Subnet), 6);
        assert_eq!(count(Kind::NatGateway), 0);
        assert_eq!(count(Kind::ElasticIp), 0);
        assert_eq!(
            count(Kind::RouteTable),
            4,
            "public, private per zone, isolated"
        );
        assert_eq!(count(Kind::SecurityGroup), 2);
        let private_rt = g.iter().find(|d| d.id.name == "private-a").unwrap();
        assert!(
            !private_rt.refs.contains_key("default-route"),
            "no route to the internet without NAT"
        );
        // Subnet CIDRs do not overlap.
        let mut cidrs: Vec<&str> = g
            .iter()
            .filter_map(|d| d.props.get("cidr").and_then(|v| v.as_str()))
            .collect();
        cidrs.sort();
        cidrs.dedup();
        assert_eq!(cidrs.len(), 7);
    }

    #[test]
    fn database_graph() {
        let g = database(&manifest(
            "  database:\n    readers: 2\n    minCapacity: 0.5\n",
        ));
        let names: Vec<String> = g.iter().map(|d| d.id.to_string()).collect();
        assert_eq!(
            names,
            [
                "db-subnet-group/main",
                "db-cluster/main",
                "db-instance/writer",
                "db-instance/reader-1",
                "db-instance/reader-2"
            ]
        );
        let cluster = &g[1];
        assert!(
            !cluster.props.contains_key("seconds-until-auto-pause"),
            "auto-pause only with minCapacity 0"
        );
        let g = database(&manifest(""));
        assert_eq!(
            g[1].props["seconds-until-auto-pause"],
            serde_json::json!(300)
        );
        assert_eq!(g[1].props["min-capacity"], serde_json::json!(0.0));
    }

    #[test]
    fn nat_options() {
        let single = network(&manifest(
            "  network:\n    availabilityZones: 3\n    natGateway: single\n",
        ));
        assert_eq!(
            single
                .iter()
                .filter(|d| d.id.kind == Kind::NatGateway)
                .count(),
            1
        );
        let routes: Vec<_> = single
            .iter()
            .filter(|d| d.id.kind == Kind::RouteTable && d.id.name.starts_with("private-"))
            .map(|d| d.refs["default-route"].clone())
            .collect();
        assert!(
            routes
                .iter()
                .all(|r| *r == Ref::One(ResourceId::new(Kind::NatGateway, "a")))
        );
        let per_az = network(&manifest(
            "  network:\n    availabilityZones: 3\n    natGateway: perAz\n",
        ));
        assert_eq!(
            per_az
                .iter()
                .filter(|d| d.id.kind == Kind::NatGateway)
                .count(),
            3
        );
    }

    #[test]
    fn fresh_account_plan_creates_everything_in_order() {
        let g = network(&manifest(""));
        let plan = diff(&g, &[]);
        assert_eq!(plan.count(Action::Create), g.len());
        let pos = |name: &str| {
            plan.changes
                .iter()
                .position(|c| c.resource.to_string() == name)
                .unwrap()
        };
        assert!(pos("vpc/main") < pos("subnet/public-a"));
        assert!(pos("security-group/function") < pos("security-group/database"));
        assert!(pos("internet-gateway/main") < pos("route-table/public"));
    }
}
