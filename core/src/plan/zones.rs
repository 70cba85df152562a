//! Which availability zones a domain's subnets go into (pure): chosen by zone ID from
//! what `DescribeAvailabilityZones` reports for the account, stably.
//!
//! Zone *names* (`us-east-1a`) are mapped to physical zones differently in every account;
//! zone *IDs* (`use1-az1`) are the same everywhere, so the choice is made and recorded by
//! ID. A zone is eligible when it is an availability zone proper (not a Local or
//! Wavelength zone), `available`, needs no opt-in, and Lambda can run functions attached
//! to a VPC there. Subnets that exist keep their zone; new slots take the lowest eligible
//! IDs not taken yet, so every run chooses the same zones.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Kind, Observed};

/// Zone IDs where Lambda cannot place a VPC function's network interfaces (AWS's Lambda
/// documentation: us-east-1's `use1-az3`). `spec.network.excludeZoneIds` adds to it.
pub const LAMBDA_UNSUPPORTED_ZONE_IDS: [&str; 1] = ["use1-az3"];

/// One zone as `DescribeAvailabilityZones` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Zone {
    /// `eu-west-1a`: this account's name for it.
    pub name: String,
    /// `euw1-az2`: the same in every account.
    pub id: String,
    /// `available`, `information`, `impaired`, `unavailable`, `constrained`.
    pub state: String,
    /// `opt-in-not-required`, `opted-in`, `not-opted-in`.
    pub opt_in: String,
    /// `availability-zone`, `local-zone`, `wavelength-zone`.
    pub zone_type: String,
}

impl Zone {
    /// Why the zone cannot take the domain's subnets, or None when it can.
    pub fn unusable(&self, exclude: &[String]) -> Option<&'static str> {
        if self.zone_type != "availability-zone" {
            Some("not an availability zone (a Local or Wavelength zone)")
        } else if self.state != "available" {
            Some("not available")
        } else if self.opt_in != "opt-in-not-required" {
            Some("needs opting in")
        } else if LAMBDA_UNSUPPORTED_ZONE_IDS.contains(&self.id.as_str()) {
            Some("Lambda does not run VPC functions there")
        } else if exclude.contains(&self.id) {
            Some("excluded by spec.network.excludeZoneIds")
        } else {
            None
        }
    }
}

/// The subnet slot letters (`a`, `b`, …) of `count` zones.
pub fn slots(count: u8) -> Vec<char> {
    (0..count).map(|i| (b'a' + i) as char).collect()
}

/// Not enough usable zones for the spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "spec.network.availabilityZones: {wanted} zones asked for, but the region offers {} usable for this domain: {}{}",
    usable.len(),
    if usable.is_empty() { "none".to_owned() } else { usable.join(", ") },
    if skipped.is_empty() { String::new() } else { format!(" (skipped: {})", skipped.join("; ")) }
)]
pub struct NotEnoughZones {
    pub wanted: u8,
    /// `eu-west-1a (euw1-az2)`, …
    pub usable: Vec<String>,
    /// `us-east-1c (use1-az3): Lambda does not run VPC functions there`, …
    pub skipped: Vec<String>,
}

/// The zone ID of each slot the domain's subnets already occupy (from any tier).
pub fn occupied(observed: &[Observed]) -> BTreeMap<char, String> {
    let mut out = BTreeMap::new();
    for o in observed.iter().filter(|o| o.id.kind == Kind::Subnet) {
        let Some(slot) = o.id.name.rsplit('-').next().and_then(|s| s.chars().next()) else {
            continue;
        };
        if let Some(id) = o.props.get("zone-id").and_then(serde_json::Value::as_str) {
            out.entry(slot).or_insert_with(|| id.to_owned());
        }
    }
    out
}

/// The zone of each of `count` slots: what the slot's subnets already use, else the
/// lowest eligible zone ID not yet taken.
pub fn assign(
    zones: &[Zone],
    count: u8,
    exclude: &[String],
    occupied: &BTreeMap<char, String>,
) -> Result<BTreeMap<char, String>, NotEnoughZones> {
    let mut eligible: Vec<&Zone> = zones
        .iter()
        .filter(|z| z.unusable(exclude).is_none())
        .collect();
    eligible.sort_by(|a, b| a.id.cmp(&b.id));
    let mut out = BTreeMap::new();
    for slot in slots(count) {
        if let Some(id) = occupied.get(&slot) {
            out.insert(slot, id.clone());
        }
    }
    let taken: Vec<String> = out.values().cloned().collect();
    let mut free = eligible.iter().filter(|z| !taken.contains(&z.id));
    for slot in slots(count) {
        if out.contains_key(&slot) {
            continue;
        }
        match free.next() {
            Some(z) => {
                out.insert(slot, z.id.clone());
            }
            None => {
                let mut skipped: Vec<&Zone> = zones
                    .iter()
                    .filter(|z| z.unusable(exclude).is_some())
                    .collect();
                skipped.sort_by(|a, b| a.id.cmp(&b.id));
                return Err(NotEnoughZones {
                    wanted: count,
                    usable: eligible
                        .iter()
                        .map(|z| format!("{} ({})", z.name, z.id))
                        .collect(),
                    skipped: skipped
                        .iter()
                        .map(|z| {
                            format!(
                                "{} ({}): {}",
                                z.name,
                                z.id,
                                z.unusable(exclude).unwrap_or_default()
                            )
                        })
                        .collect(),
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ResourceId;
    use serde_json::json;

    fn zone(name: &str, id: &str) -> Zone {
        Zone {
            name: name.into(),
            id: id.into(),
            state: "available".into(),
            opt_in: "opt-in-not-required".into(),
            zone_type: "availability-zone".into(),
        }
    }

    /// us-east-1 as one real account names it: the letters do not follow the IDs.
    fn us_east_1() -> Vec<Zone> {
        vec![
            zone("us-east-1a", "use1-az6"),
            zone("us-east-1b", "use1-az1"),
            zone("us-east-1c", "use1-az3"),
            zone("us-east-1d", "use1-az2"),
            zone("us-east-1e", "use1-az4"),
            zone("us-east-1f", "use1-az5"),
            Zone {
                zone_type: "local-zone".into(),
                opt_in: "not-opted-in".into(),
                ..zone("us-east-1-bos-1a", "use1-bos1-az1")
            },
        ]
    }

    #[test]
    fn zones_are_chosen_by_id_skipping_the_one_lambda_does_not_support() {
        let chosen = assign(&us_east_1(), 3, &[], &BTreeMap::new()).unwrap();
        assert_eq!(
            chosen.values().collect::<Vec<_>>(),
            ["use1-az1", "use1-az2", "use1-az4"],
            "lowest IDs, use1-az3 skipped"
        );
    }

    #[test]
    fn existing_subnets_keep_their_zones() {
        let mut observed = Vec::new();
        for (name, id) in [("private-a", "use1-az5"), ("isolated-b", "use1-az1")] {
            let mut o = Observed {
                id: ResourceId::new(Kind::Subnet, name),
                physical_id: format!("subnet-{name}"),
                props: Default::default(),
                refs: Default::default(),
            };
            o.props.insert("zone-id".into(), json!(id));
            observed.push(o);
        }
        let chosen = assign(&us_east_1(), 3, &[], &occupied(&observed)).unwrap();
        assert_eq!(chosen[&'a'], "use1-az5");
        assert_eq!(chosen[&'b'], "use1-az1");
        assert_eq!(chosen[&'c'], "use1-az2", "the lowest free eligible ID");
        // The same answer on every run.
        assert_eq!(
            chosen,
            assign(&us_east_1(), 3, &[], &occupied(&observed)).unwrap()
        );
    }

    #[test]
    fn asking_for_more_zones_than_usable_names_the_usable_ones() {
        let two = vec![
            zone("ap-northeast-1a", "apne1-az4"),
            zone("ap-northeast-1c", "apne1-az1"),
            Zone {
                state: "impaired".into(),
                ..zone("ap-northeast-1d", "apne1-az2")
            },
        ];
        let err = assign(&two, 3, &[], &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.network.availabilityZones: 3 zones asked for, but the region offers 2 usable for this \
             domain: ap-northeast-1c (apne1-az1), ap-northeast-1a (apne1-az4) (skipped: ap-northeast-1d \
             (apne1-az2): not available)"
        );
        let excluded = assign(&us_east_1(), 5, &["use1-az1".to_owned()], &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(
            excluded.contains("use1-az1): excluded by spec.network.excludeZoneIds")
                && excluded.contains("use1-az3): Lambda does not run VPC functions there")
                && excluded.contains("not an availability zone"),
            "{excluded}"
        );
    }
}
