//! Aurora PostgreSQL Serverless v2: DB subnet group, cluster (RDS-managed master secret,
//! IAM authentication, Data API, scale to zero) and its instances. Clusters and instances
//! are found by listing and keeping those whose tags name the domain (RDS describes accept
//! no tag filter); the subnet group is name-keyed and checked for our tag.

use std::time::{Duration, Instant};

use aws_sdk_rds::types::{DbCluster, Filter, ServerlessV2ScalingConfiguration, Tag};
use serde_json::{Value, json};

use super::ec2::Physical;
use super::{
    AwsError, ErrorClass, NotFoundAsNone, Poll, TAG_DOMAIN, TAG_RESOURCE, aws_error, many, one,
    wait_for, with_retries,
};
use authdomain_core::plan::{Change, Desired, Kind, Observed, ResourceId};

pub use authdomain_core::plan::names::ENGINE;
/// The master user; its password is generated and kept in Secrets Manager by RDS.
pub const MASTER_USER: &str = "authdomain";

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn user_tags(tags: &[Tag]) -> Value {
    super::user_tags(tags.iter().filter_map(|t| Some((t.key()?, t.value()?))))
}

fn resource_id(tags: &[Tag], kind: Kind, physical: &str) -> ResourceId {
    super::resource_id(tag(tags, TAG_RESOURCE), kind, physical)
}

fn tags(
    domain: &str,
    id: &ResourceId,
    extra: &std::collections::BTreeMap<String, String>,
) -> Vec<Tag> {
    super::tag_pairs(domain, id, extra)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// Physical names of name-keyed resources.
pub fn subnet_group_name(domain: &str) -> String {
    format!("{domain}-db")
}
pub fn cluster_identifier(domain: &str) -> String {
    domain.to_owned()
}
pub fn instance_identifier(domain: &str, name: &str) -> String {
    format!("{domain}-{name}")
}

/// Every Aurora PostgreSQL cluster of the account (pages of 100): one listing serves every
/// domain of a multi-domain plan ([`observe_in`] picks each domain's by tag).
pub async fn clusters(aws: &super::Aws) -> Result<Vec<DbCluster>, AwsError> {
    with_retries(5, || async {
        aws.rds
            .describe_db_clusters()
            .filters(Filter::builder().name("engine").values(ENGINE).build())
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("describe", "DB clusters", e))
    })
    .await
}

pub async fn observe(aws: &super::Aws, domain: &str) -> Result<Vec<Observed>, AwsError> {
    observe_in(aws, domain, &clusters(aws).await?).await
}

/// The domain's database resources, its clusters picked from `all_clusters` ([`clusters`]).
pub async fn observe_in(
    aws: &super::Aws,
    domain: &str,
    all_clusters: &[DbCluster],
) -> Result<Vec<Observed>, AwsError> {
    let rds = &aws.rds;
    let mut out = Vec::new();
    // Subnet group: by name; ours when our cluster uses it, else only if tagged so (the
    // tag lookup is a second call, needed only while no cluster of ours exists).
    let name = subnet_group_name(domain);
    let groups = with_retries(5, || async {
        rds.describe_db_subnet_groups()
            .db_subnet_group_name(&name)
            .send()
            .await
            .map_err(|e| aws_error("describe", name.clone(), e))
    })
    .await;
    let used_by_ours = all_clusters.iter().any(|c| {
        tag(c.tag_list(), TAG_DOMAIN) == Some(domain) && c.db_subnet_group() == Some(name.as_str())
    });
    if let Some(g) = groups.found()?
        && let Some(group) = g.db_subnet_groups().first()
    {
        let id = if used_by_ours {
            Some(ResourceId::new(Kind::DbSubnetGroup, "main"))
        } else {
            let arn = group.db_subnet_group_arn().unwrap_or_default().to_owned();
            let t = with_retries(5, || async {
                rds.list_tags_for_resource()
                    .resource_name(&arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("list tags of", name.clone(), e))
            })
            .await?;
            (tag(t.tag_list(), TAG_DOMAIN) == Some(domain))
                .then(|| resource_id(t.tag_list(), Kind::DbSubnetGroup, &name))
        };
        if let Some(id) = id {
            let mut o = Observed {
                id,
                physical_id: name.clone(),
                props: Default::default(),
                refs: Default::default(),
            };
            let mut subnets: Vec<String> = group
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_owned))
                .collect();
            subnets.sort();
            o.refs.insert("subnets".into(), subnets);
            out.push(o);
        } else {
            tracing::warn!(group = %name, "a DB subnet group with our name exists but is not tagged as this domain's");
        }
    }
    let mut ids = Vec::new();
    for c in all_clusters
        .iter()
        .filter(|c| tag(c.tag_list(), TAG_DOMAIN) == Some(domain))
    {
        let pid = c.db_cluster_identifier().unwrap_or_default();
        ids.push(pid.to_owned());
        let mut o = Observed {
            id: resource_id(c.tag_list(), Kind::DbCluster, pid),
            physical_id: pid.to_owned(),
            props: Default::default(),
            refs: Default::default(),
        };
        o.props.insert("engine".into(), json!(c.engine()));
        // Informational (not in the desired graph, so never compared): for `outputs`.
        o.props.insert("_endpoint".into(), json!(c.endpoint()));
        o.props
            .insert("_reader-endpoint".into(), json!(c.reader_endpoint()));
        o.props.insert("_port".into(), json!(c.port()));
        o.props
            .insert("_resource-id".into(), json!(c.db_cluster_resource_id()));
        o.props.insert("_arn".into(), json!(c.db_cluster_arn()));
        o.props.insert("_status".into(), json!(c.status()));
        o.props.insert("tags".into(), user_tags(c.tag_list()));
        o.props.insert(
            "_http-endpoint".into(),
            json!(c.http_endpoint_enabled().unwrap_or(false)),
        );
        o.props.insert(
            "_master-secret-arn".into(),
            json!(c.master_user_secret().and_then(|s| s.secret_arn())),
        );
        o.props
            .insert("engine-version".into(), json!(c.engine_version()));
        let scaling = c.serverless_v2_scaling_configuration();
        o.props.insert(
            "min-capacity".into(),
            json!(scaling.and_then(|s| s.min_capacity())),
        );
        o.props.insert(
            "max-capacity".into(),
            json!(scaling.and_then(|s| s.max_capacity())),
        );
        if let Some(p) = scaling.and_then(|s| s.seconds_until_auto_pause()) {
            o.props.insert("seconds-until-auto-pause".into(), json!(p));
        }
        o.props
            .insert("deletion-protection".into(), json!(c.deletion_protection()));
        o.props.insert(
            "iam-auth".into(),
            json!(c.iam_database_authentication_enabled()),
        );
        o.props
            .insert("storage-encrypted".into(), json!(c.storage_encrypted()));
        o.props.insert(
            "managed-master-password".into(),
            json!(c.master_user_secret().is_some()),
        );
        o.refs.insert(
            "subnet-group".into(),
            c.db_subnet_group()
                .map(|g| vec![g.to_owned()])
                .unwrap_or_default(),
        );
        let mut sgs: Vec<String> = c
            .vpc_security_groups()
            .iter()
            .filter_map(|g| g.vpc_security_group_id().map(str::to_owned))
            .collect();
        sgs.sort();
        o.refs.insert("security-groups".into(), sgs);
        out.push(o);
    }

    if !ids.is_empty() {
        let instances = with_retries(5, || async {
            rds.describe_db_instances()
                .filters(
                    Filter::builder()
                        .name("db-cluster-id")
                        .set_values(Some(ids.clone()))
                        .build(),
                )
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| aws_error("describe", "DB instances", e))
        })
        .await?;
        for i in instances
            .iter()
            .filter(|i| tag(i.tag_list(), TAG_DOMAIN) == Some(domain))
        {
            if matches!(i.db_instance_status(), Some("deleting")) {
                continue;
            }
            let pid = i.db_instance_identifier().unwrap_or_default();
            let mut o = Observed {
                id: resource_id(i.tag_list(), Kind::DbInstance, pid),
                physical_id: pid.to_owned(),
                props: Default::default(),
                refs: Default::default(),
            };
            o.props.insert("class".into(), json!(i.db_instance_class()));
            o.props.insert("_arn".into(), json!(i.db_instance_arn()));
            o.props.insert("tags".into(), user_tags(i.tag_list()));
            o.props
                .insert("_status".into(), json!(i.db_instance_status()));
            o.refs.insert(
                "cluster".into(),
                i.db_cluster_identifier()
                    .map(|c| vec![c.to_owned()])
                    .unwrap_or_default(),
            );
            out.push(o);
        }
    }
    Ok(out)
}

/// Wait until the domain's cluster and every instance of it are `available` (Aurora takes
/// minutes to create; a paused Serverless v2 cluster also reports `available`).
pub async fn wait_available(
    aws: &super::Aws,
    domain: &str,
    timeout: Duration,
) -> Result<Vec<Observed>, AwsError> {
    let deadline = Instant::now() + timeout;
    loop {
        let observed = observe(aws, domain).await?;
        let status = |o: &Observed| {
            o.props
                .get("_status")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_owned()
        };
        let waiting: Vec<String> = observed
            .iter()
            .filter(|o| matches!(o.id.kind, Kind::DbCluster | Kind::DbInstance))
            .filter(|o| status(o) != "available")
            .map(|o| format!("{} is {}", o.id, status(o)))
            .collect();
        let has_cluster = observed.iter().any(|o| o.id.kind == Kind::DbCluster);
        if has_cluster && waiting.is_empty() {
            return Ok(observed);
        }
        if Instant::now() >= deadline {
            return Err(AwsError {
                action: "wait for",
                resource: "db-cluster/main".into(),
                code: "StillWaiting".into(),
                message: if has_cluster {
                    format!("after {} s: {}", timeout.as_secs(), waiting.join(", "))
                } else {
                    "the cluster does not exist".into()
                },
                class: ErrorClass::StillWaiting,
            });
        }
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
}

/// The final snapshots destroy took of the domain's cluster (`<cluster>-final-<time>`),
/// by identifier.
pub async fn final_snapshots(aws: &super::Aws, domain: &str) -> Result<Vec<String>, AwsError> {
    let cluster = cluster_identifier(domain);
    let prefix = format!("{cluster}-final-");
    let all = with_retries(5, || async {
        aws.rds
            .describe_db_cluster_snapshots()
            .db_cluster_identifier(&cluster)
            .snapshot_type("manual")
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| aws_error("describe", "DB cluster snapshots", e))
    })
    .await
    .found()?
    .unwrap_or_default();
    let mut ids: Vec<String> = all
        .iter()
        .filter_map(|s| s.db_cluster_snapshot_identifier())
        .filter(|id| id.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    ids.sort();
    Ok(ids)
}

/// What [`wait_status`] polls.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Cluster(&'a str),
    Instance(&'a str),
}

/// Poll a cluster's or instance's status until `available`, showing each phase
/// (`creating`, `backing-up`, `configuring-…`) with the time elapsed, up to
/// [`super::Patience::database`]. A status that cannot become available is an error.
async fn wait_status(
    aws: &super::Aws,
    id: &ResourceId,
    target: Target<'_>,
) -> Result<(), AwsError> {
    let resource = id.to_string();
    wait_for(
        aws,
        &resource,
        aws.patience.database,
        |what, elapsed| {
            format!(
                "{what} after {}: Aurora is still working on it; re-run to continue",
                super::elapsed_text(elapsed)
            )
        },
        || async {
            let status = with_retries(5, || async {
                match target {
                    Target::Cluster(c) => aws
                        .rds
                        .describe_db_clusters()
                        .db_cluster_identifier(c)
                        .send()
                        .await
                        .map(|o| {
                            o.db_clusters()
                                .first()
                                .and_then(|c| c.status())
                                .map(str::to_owned)
                        })
                        .map_err(|e| aws_error("describe", resource.clone(), e)),
                    Target::Instance(i) => aws
                        .rds
                        .describe_db_instances()
                        .db_instance_identifier(i)
                        .send()
                        .await
                        .map(|o| {
                            o.db_instances()
                                .first()
                                .and_then(|i| i.db_instance_status())
                                .map(str::to_owned)
                        })
                        .map_err(|e| aws_error("describe", resource.clone(), e)),
                }
            })
            .await?
            .unwrap_or_else(|| "unknown".into());
            match status.as_str() {
                "available" => Ok(Poll::Done(())),
                "failed"
                | "inaccessible-encryption-credentials"
                | "incompatible-parameters"
                | "incompatible-network"
                | "storage-full"
                | "deleting" => Err(AwsError {
                    action: "wait for",
                    resource: resource.clone(),
                    code: "UnexpectedStatus".into(),
                    message: format!(
                        "the status is `{status}`, which does not become available by itself"
                    ),
                    class: ErrorClass::Terminal,
                }),
                phase => Ok(Poll::Waiting(format!("Aurora is {phase}"))),
            }
        },
    )
    .await
}

/// Turn on the Data API (the RDS HTTP endpoint) of a cluster where it is off.
pub async fn enable_data_api(aws: &super::Aws, cluster_arn: &str) -> Result<(), AwsError> {
    with_retries(5, || async {
        aws.rds
            .enable_http_endpoint()
            .resource_arn(cluster_arn)
            .send()
            .await
            .map_err(|e| aws_error("enable the Data API of", "db-cluster/main", e))
    })
    .await
    .map(|_| ())
}

fn f64_prop(d: &Desired, field: &str) -> Option<f64> {
    d.props.get(field).and_then(Value::as_f64)
}

fn scaling(d: &Desired) -> ServerlessV2ScalingConfiguration {
    let mut b = ServerlessV2ScalingConfiguration::builder()
        .set_min_capacity(f64_prop(d, "min-capacity"))
        .set_max_capacity(f64_prop(d, "max-capacity"));
    if let Some(p) = d
        .props
        .get("seconds-until-auto-pause")
        .and_then(Value::as_i64)
    {
        b = b.seconds_until_auto_pause(p as i32);
    }
    b.build()
}

pub async fn create(
    aws: &super::Aws,
    domain: &str,
    extra_tags: &std::collections::BTreeMap<String, String>,
    d: &Desired,
    physical: &Physical,
) -> Result<String, AwsError> {
    let rds = &aws.rds;
    let name = d.id.to_string();
    match d.id.kind {
        Kind::DbSubnetGroup => {
            let group = subnet_group_name(domain);
            rds.create_db_subnet_group()
                .db_subnet_group_name(&group)
                .db_subnet_group_description(format!("AuthDomain {domain}: isolated subnets"))
                .set_subnet_ids(Some(many(d, "subnets", physical)?))
                .set_tags(Some(tags(domain, &d.id, extra_tags)))
                .send()
                .await
                .map_err(|e| aws_error("create", name, e))?;
            Ok(group)
        }
        Kind::DbCluster => {
            let id = cluster_identifier(domain);
            rds.create_db_cluster()
                .db_cluster_identifier(&id)
                .engine(ENGINE)
                .engine_version(
                    d.props
                        .get("engine-version")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )
                .master_username(MASTER_USER)
                .manage_master_user_password(true)
                .enable_iam_database_authentication(true)
                // The Data API runs the one-time SQL without a network path into the VPC.
                .enable_http_endpoint(true)
                .storage_encrypted(true)
                .copy_tags_to_snapshot(true)
                .deletion_protection(
                    d.props
                        .get("deletion-protection")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                )
                .db_subnet_group_name(one(d, "subnet-group", physical)?)
                .set_vpc_security_group_ids(Some(many(d, "security-groups", physical)?))
                .serverless_v2_scaling_configuration(scaling(d))
                .set_tags(Some(tags(domain, &d.id, extra_tags)))
                .send()
                .await
                .map_err(|e| aws_error("create", name, e))?;
            // 5 to 10 minutes; its instances can only be created once it is available.
            wait_status(aws, &d.id, Target::Cluster(&id)).await?;
            Ok(id)
        }
        Kind::DbInstance => {
            let id = instance_identifier(domain, &d.id.name);
            let cluster = one(d, "cluster", physical)?;
            // An instance asked of a cluster that is not available answers
            // InvalidDBClusterStateFault: wait for the cluster first (it may have been
            // created by an earlier, interrupted apply).
            wait_status(
                aws,
                &ResourceId::new(Kind::DbCluster, "main"),
                Target::Cluster(&cluster),
            )
            .await?;
            with_retries(8, || async {
                rds.create_db_instance()
                    .db_instance_identifier(&id)
                    .db_instance_class(
                        d.props
                            .get("class")
                            .and_then(Value::as_str)
                            .unwrap_or("db.serverless"),
                    )
                    .engine(ENGINE)
                    .db_cluster_identifier(&cluster)
                    .set_tags(Some(tags(domain, &d.id, extra_tags)))
                    .send()
                    .await
                    .map_err(|e| aws_error("create", name.clone(), e))
            })
            .await?;
            wait_status(aws, &d.id, Target::Instance(&id)).await?;
            Ok(id)
        }
        _ => unreachable!("not an RDS kind: {name}"),
    }
}

pub async fn update(
    aws: &super::Aws,
    d: &Desired,
    o: &Observed,
    change: &Change,
    physical: &Physical,
) -> Result<(), AwsError> {
    let rds = &aws.rds;
    let name = d.id.to_string();
    let changed = |f: &str| change.touches(f);
    match d.id.kind {
        Kind::DbSubnetGroup => {
            rds.modify_db_subnet_group()
                .db_subnet_group_name(&o.physical_id)
                .set_subnet_ids(Some(many(d, "subnets", physical)?))
                .send()
                .await
                .map_err(|e| aws_error("modify", name, e))?;
        }
        Kind::DbCluster => {
            let mut req = rds
                .modify_db_cluster()
                .db_cluster_identifier(&o.physical_id)
                .apply_immediately(true);
            if changed("min-capacity")
                || changed("max-capacity")
                || changed("seconds-until-auto-pause")
            {
                req = req.serverless_v2_scaling_configuration(scaling(d));
            }
            if changed("deletion-protection") {
                req = req.deletion_protection(
                    d.props
                        .get("deletion-protection")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                );
            }
            if changed("iam-auth") {
                req = req.enable_iam_database_authentication(true);
            }
            if changed("security-groups") {
                req = req.set_vpc_security_group_ids(Some(many(d, "security-groups", physical)?));
            }
            if changed("engine-version") {
                let want = d
                    .props
                    .get("engine-version")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let have = o
                    .props
                    .get("engine-version")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let major = |v: &str| v.split('.').next().unwrap_or_default().to_owned();
                req = req
                    .engine_version(want)
                    .allow_major_version_upgrade(major(want) != major(have));
            }
            req.send().await.map_err(|e| aws_error("modify", name, e))?;
        }
        Kind::DbInstance => {
            rds.modify_db_instance()
                .db_instance_identifier(&o.physical_id)
                .db_instance_class(
                    d.props
                        .get("class")
                        .and_then(Value::as_str)
                        .unwrap_or("db.serverless"),
                )
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| aws_error("modify", name, e))?;
        }
        _ => unreachable!("not an RDS kind: {name}"),
    }
    Ok(())
}

/// Delete `o`; for the cluster, honour deletion protection and take a final snapshot when
/// asked, then wait until it is gone (its subnet group cannot go before).
pub async fn delete(aws: &super::Aws, o: &Observed, final_snapshot: bool) -> Result<(), AwsError> {
    let rds = &aws.rds;
    let name = o.id.to_string();
    let result = match o.id.kind {
        Kind::DbInstance => {
            with_retries(8, || async {
                rds.delete_db_instance()
                    .db_instance_identifier(&o.physical_id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("delete", name.clone(), e))
            })
            .await
        }
        Kind::DbCluster => {
            if o.props.get("deletion-protection").and_then(Value::as_bool) == Some(true) {
                return Err(AwsError {
                    action: "delete",
                    resource: name,
                    code: "DeletionProtection".into(),
                    message: "the cluster has deletion protection: set spec.database.deletionProtection to false and apply first, \
                              or keep the database with deletionPolicy: Retain"
                        .into(),
                    class: ErrorClass::Terminal,
                });
            }
            let snapshot = format!(
                "{}-final-{}",
                o.physical_id,
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            );
            with_retries(8, || async {
                let mut req = rds
                    .delete_db_cluster()
                    .db_cluster_identifier(&o.physical_id)
                    .skip_final_snapshot(!final_snapshot);
                if final_snapshot {
                    req = req.final_db_snapshot_identifier(&snapshot);
                }
                req.send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("delete", name.clone(), e))
            })
            .await?;
            wait_cluster_gone(aws, &o.physical_id, &name).await
        }
        Kind::DbSubnetGroup => {
            with_retries(10, || async {
                rds.delete_db_subnet_group()
                    .db_subnet_group_name(&o.physical_id)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws_error("delete", name.clone(), e))
            })
            .await
        }
        _ => unreachable!("not an RDS kind: {name}"),
    };
    super::already_gone(result)
}

/// Poll until the cluster no longer exists (AWS takes minutes; bounded at 30).
async fn wait_cluster_gone(aws: &super::Aws, id: &str, name: &str) -> Result<(), AwsError> {
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        match aws
            .rds
            .describe_db_clusters()
            .db_cluster_identifier(id)
            .send()
            .await
        {
            Err(e) => {
                let e = aws_error("wait for deletion of", name.to_owned(), e);
                return if e.class == ErrorClass::NotFound {
                    Ok(())
                } else {
                    Err(e)
                };
            }
            Ok(_) if Instant::now() > deadline => {
                return Err(AwsError {
                    action: "wait for deletion of",
                    resource: name.to_owned(),
                    code: "StillWaiting".into(),
                    message: "the cluster still exists after 30 minutes".into(),
                    class: ErrorClass::StillWaiting,
                });
            }
            Ok(_) => tokio::time::sleep(Duration::from_secs(10)).await,
        }
    }
}
