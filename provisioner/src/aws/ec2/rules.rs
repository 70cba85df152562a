//! Security group rules in canonical form (pure): what AWS returns as `IpPermission`s
//! becomes sorted strings like `tcp:5432:10.0.0.0/16`, so a rule list AWS returns in
//! another order or grouping is not drift; and back, for the calls that add and remove.

use aws_sdk_ec2::types::{IpPermission, IpRange, PrefixListId, UserIdGroupPair};

use authdomain_core::plan::names::POSTGRES_PORT;

/// Canonical rule strings (`tcp:5432:10.0.0.0/16`, `tcp:443:pl-63a5400a` for a prefix
/// list) and referenced group ids of a rule list.
pub fn canonical(perms: &[IpPermission]) -> (Vec<String>, Vec<(String, String)>) {
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
        for l in p.prefix_list_ids() {
            if let Some(id) = l.prefix_list_id() {
                cidrs.push(format!("{proto}:{ports}:{id}"));
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

/// Parse `tcp:5432:10.0.0.0/16` into an IpPermission.
pub fn permission(rule: &str) -> Option<IpPermission> {
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
    let p = IpPermission::builder()
        .ip_protocol(proto)
        .from_port(from)
        .to_port(to);
    Some(if cidr.starts_with("pl-") {
        p.prefix_list_ids(PrefixListId::builder().prefix_list_id(cidr).build())
            .build()
    } else {
        p.ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build()
    })
}

/// PostgreSQL from the members of another group (the database's one ingress rule).
pub fn group_permission(group_id: &str) -> IpPermission {
    let port = i32::from(POSTGRES_PORT);
    IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .user_id_group_pairs(UserIdGroupPair::builder().group_id(group_id).build())
        .build()
}

/// What to authorize and revoke to go from what a group has to what is wanted.
#[derive(Debug, Default, PartialEq)]
pub struct Delta {
    pub add_ingress: Vec<IpPermission>,
    pub remove_ingress: Vec<IpPermission>,
    pub add_egress: Vec<IpPermission>,
    pub remove_egress: Vec<IpPermission>,
}

/// One side of a group: CIDR rules in canonical form, and the groups PostgreSQL is
/// allowed from (ingress only).
#[derive(Debug, Default, Clone, Copy)]
pub struct Rules<'a> {
    pub ingress: &'a [String],
    pub egress: &'a [String],
    pub postgres_from: &'a [String],
}

impl Delta {
    pub fn between(want: Rules<'_>, have: Rules<'_>) -> Delta {
        let missing = |from: &[String], other: &[String]| -> Vec<IpPermission> {
            from.iter()
                .filter(|r| !other.contains(r))
                .filter_map(|r| permission(r))
                .collect()
        };
        let groups = |from: &[String], other: &[String]| -> Vec<IpPermission> {
            from.iter()
                .filter(|g| !other.contains(g))
                .map(|g| group_permission(g))
                .collect()
        };
        let mut add_ingress = missing(want.ingress, have.ingress);
        add_ingress.extend(groups(want.postgres_from, have.postgres_from));
        let mut remove_ingress = missing(have.ingress, want.ingress);
        remove_ingress.extend(groups(have.postgres_from, want.postgres_from));
        Delta {
            add_ingress,
            remove_ingress,
            add_egress: missing(want.egress, have.egress),
            remove_egress: missing(have.egress, want.egress),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.add_ingress.is_empty()
            && self.remove_ingress.is_empty()
            && self.add_egress.is_empty()
            && self.remove_egress.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(proto: &str, from: i32, to: i32, c: &str) -> IpPermission {
        IpPermission::builder()
            .ip_protocol(proto)
            .from_port(from)
            .to_port(to)
            .ip_ranges(IpRange::builder().cidr_ip(c).build())
            .build()
    }

    #[test]
    fn rules_take_one_canonical_form_whatever_aws_returns() {
        // AWS groups several ranges under one permission and uses -1 for "all".
        let grouped = IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(5432)
            .to_port(5432)
            .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/16").build())
            .ip_ranges(IpRange::builder().cidr_ip("10.1.0.0/16").build())
            .build();
        let all = IpPermission::builder().ip_protocol("-1").build();
        let all_ranges = IpPermission::builder()
            .ip_protocol("-1")
            .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
            .build();
        let range = cidr("udp", 1000, 2000, "192.168.0.0/24");
        let (rules, groups) = canonical(&[range, grouped, all, all_ranges]);
        assert_eq!(
            rules,
            [
                "all:all:0.0.0.0/0",
                "tcp:5432:10.0.0.0/16",
                "tcp:5432:10.1.0.0/16",
                "udp:1000-2000:192.168.0.0/24"
            ]
        );
        assert!(groups.is_empty());
        let from_group = group_permission("sg-1");
        assert_eq!(
            canonical(&[from_group]).1,
            [("tcp:5432".to_owned(), "sg-1".to_owned())]
        );
    }

    #[test]
    fn canonical_rules_parse_back_into_the_same_permission() {
        for rule in [
            "tcp:5432:10.0.0.0/16",
            "udp:1000-2000:192.168.0.0/24",
            "all:all:0.0.0.0/0",
        ] {
            let p = permission(rule).unwrap();
            assert_eq!(canonical(&[p]).0, [rule]);
        }
        assert_eq!(permission("tcp:x:10.0.0.0/16"), None);
        assert_eq!(permission("tcp"), None);
    }

    #[test]
    fn the_delta_adds_what_is_missing_and_removes_what_is_extra() {
        let want_in: Vec<String> = vec![];
        let have_in = vec!["tcp:22:0.0.0.0/0".to_owned()];
        let want_out = vec!["tcp:5432:10.0.0.0/16".to_owned()];
        let have_out = vec!["all:all:0.0.0.0/0".to_owned()];
        let want_from = vec!["sg-f".to_owned()];
        let d = Delta::between(
            Rules {
                ingress: &want_in,
                egress: &want_out,
                postgres_from: &want_from,
            },
            Rules {
                ingress: &have_in,
                egress: &have_out,
                postgres_from: &[],
            },
        );
        assert_eq!(d.add_ingress, [group_permission("sg-f")]);
        assert_eq!(d.remove_ingress, [permission("tcp:22:0.0.0.0/0").unwrap()]);
        assert_eq!(d.add_egress, [permission("tcp:5432:10.0.0.0/16").unwrap()]);
        assert_eq!(d.remove_egress, [permission("all:all:0.0.0.0/0").unwrap()]);
        let same = Rules {
            ingress: &have_in,
            egress: &have_out,
            postgres_from: &want_from,
        };
        assert!(Delta::between(same, same).is_empty());
    }
}
