//! EC2 networking: VPC, subnets, internet gateway, elastic IPs, NAT gateways, route tables
//! and security groups. Observation is one filtered describe per resource type (by our
//! domain tag), so a no-op plan costs seven calls however many subnets there are.
//!
//! `observe` reads, `mutate` changes, `rules` is the pure normalisation of security group
//! rules between AWS's form and the plan's.

mod mutate;
mod observe;
pub mod rules;

use std::collections::BTreeMap;

use authdomain_core::plan::ResourceId;
use aws_sdk_ec2::types::Tag;

pub use mutate::TAG_ZONE_ID;
pub use mutate::{create, delete, update};
pub use observe::{observe, observe_domains, s3_prefix_list, zone_assignment, zones};

/// Physical ids known so far (observed, or created during this apply).
pub type Physical = BTreeMap<ResourceId, String>;

pub(crate) fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}
