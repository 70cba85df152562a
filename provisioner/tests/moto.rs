//! The reconciler (network and database) against a real moto server: apply, idempotence
//! (zero mutating calls), drift after hand changes, repair, destroy. Error paths moto
//! cannot produce (throttling, terminal errors) use aws-smithy-mocks, named as such.

use std::process::Command;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};
use provisioner::aws::{Aws, AwsOptions, TAG_DOMAIN};
use provisioner::plan::{Action, Kind};
use provisioner::reconcile;
use provisioner::spec::{self, AuthDomainManifest};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_authdomain");

fn manifest(name: &str) -> AuthDomainManifest {
    manifest_with(name, false)
}

fn manifest_with(name: &str, protect: bool) -> AuthDomainManifest {
    spec::load_str(
        &format!(
            "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: {name}\nspec:\n  region: eu-west-1\n  network:\n    availabilityZones: 2\n    natGateway: single\n  database:\n    deletionProtection: {protect}\n    finalSnapshot: false\n  tags:\n    team: platform\n"
        ),
        "test.yaml",
    )
    .unwrap()
}

async fn aws(account: &str) -> Aws {
    Aws::connect(&AwsOptions {
        region: Some("eu-west-1".into()),
        endpoint_url: Some(authdomain_tests::moto::server().endpoint().to_owned()),
        moto_account: Some(account.to_owned()),
        no_sdk_retries: true,
        static_credentials: Some(("testing".into(), "testing".into())),
        ..Default::default()
    })
    .await
}

fn cli(account: &str, file: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("-f")
        .arg(file)
        .env(
            "AWS_ENDPOINT_URL",
            authdomain_tests::moto::server().endpoint(),
        )
        .env("AUTHDOMAIN_MOTO_ACCOUNT", account)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_apply_is_idempotent_repairs_drift_and_destroys() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let m = manifest("netdemo");
    let aws = aws(&account).await;

    // 1. Fresh account: everything is created, in dependency order.
    let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
    let desired = reconcile::desired(&m).len();
    assert_eq!(plan.count(Action::Create), desired, "{plan:#?}");
    let steps = reconcile::apply(&aws, &m, &plan, &observed, |_| {})
        .await
        .unwrap();
    assert_eq!(steps.len(), desired);

    // 2. A second plan: in sync, observed with a bounded number of calls and no mutation.
    aws.calls.reset();
    let (plan, _) = reconcile::plan(&aws, &m).await.unwrap();
    assert!(
        plan.is_empty(),
        "second plan not empty: {:#}",
        provisioner::drift::json("netdemo", &plan)
    );
    assert_eq!(aws.calls.mutating(), 0);
    assert!(
        aws.calls.total() <= 15,
        "no-op plan used {} calls: {:?}",
        aws.calls.total(),
        aws.calls.snapshot()
    );

    // Everything carries our tags (including the spec's extra tags).
    let vpcs = aws
        .ec2
        .describe_vpcs()
        .filters(
            Filter::builder()
                .name(format!("tag:{TAG_DOMAIN}"))
                .values("netdemo")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vpc = &vpcs.vpcs()[0];
    assert!(
        vpc.tags()
            .iter()
            .any(|t| t.key() == Some("team") && t.value() == Some("platform"))
    );

    // 3. Hand changes: remove the public default route, open SSH on the database group.
    let (_, observed) = reconcile::plan(&aws, &m).await.unwrap();
    let find = |kind: Kind, name: &str| {
        observed
            .iter()
            .find(|o| o.id.kind == kind && o.id.name == name)
            .unwrap()
            .physical_id
            .clone()
    };
    aws.ec2
        .delete_route()
        .route_table_id(find(Kind::RouteTable, "public"))
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    aws.ec2
        .authorize_security_group_ingress()
        .group_id(find(Kind::SecurityGroup, "database"))
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .unwrap();

    let cluster = find(Kind::DbCluster, "main");
    aws.rds
        .modify_db_cluster()
        .db_cluster_identifier(&cluster)
        .serverless_v2_scaling_configuration(
            aws_sdk_rds::types::ServerlessV2ScalingConfiguration::builder()
                .min_capacity(0.0)
                .max_capacity(8.0)
                .seconds_until_auto_pause(300)
                .build(),
        )
        .apply_immediately(true)
        .send()
        .await
        .unwrap();

    aws.iam
        .detach_role_policy()
        .role_name(find(Kind::IamRole, "function"))
        .policy_arn(provisioner::aws::iam::VPC_ACCESS)
        .send()
        .await
        .unwrap();

    // 4. `authdomain drift` exits 2 and names exactly those fields.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("netdemo.yaml");
    std::fs::write(&file, serde_saphyr::to_string(&m).unwrap()).unwrap();
    let out = cli(&account, &file, &["drift", "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut fields: Vec<String> = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            let r = format!(
                "{}/{}",
                c["resource"]["kind"].as_str().unwrap(),
                c["resource"]["name"].as_str().unwrap()
            );
            c["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| format!("{r}.{}", f["field"].as_str().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "db-cluster/main.max-capacity",
            "iam-role/function.managed-policies",
            "route-table/public.default-route",
            "security-group/database.ingress"
        ],
        "{report:#}"
    );
    let ingress = report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["resource"]["name"] == "database")
        .unwrap();
    assert_eq!(
        ingress["fields"][0]["actual"],
        serde_json::json!(["tcp:22:0.0.0.0/0"])
    );
    assert_eq!(ingress["fields"][0]["desired"], serde_json::json!([]));

    // 5. `authdomain apply` repairs; drift is then 0.
    let out = cli(&account, &file, &["apply", "--auto-approve"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&account, &file, &["drift"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("in sync"));

    // `authdomain outputs` reads endpoints and ARNs from what exists.
    let out = cli(&account, &file, &["outputs", "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outputs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(outputs["clusterIdentifier"], "netdemo");
    assert!(
        outputs["clusterEndpoint"]
            .as_str()
            .is_some_and(|e| e.contains("netdemo")),
        "{outputs}"
    );
    assert!(
        outputs["repositoryUri"]
            .as_str()
            .is_some_and(|u| u.ends_with("/netdemo-authserver")),
        "{outputs}"
    );
    assert!(
        outputs["functionRoleArn"]
            .as_str()
            .is_some_and(|a| a.ends_with(":role/netdemo-authserver-function")),
        "{outputs}"
    );
    assert!(
        outputs["masterSecretArn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:secretsmanager:")),
        "{outputs}"
    );

    // 6. `authdomain destroy` leaves nothing tagged as ours.
    let out = cli(&account, &file, &["destroy", "--auto-approve"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let observed = reconcile::observe(&aws, &m).await.unwrap();
    assert!(observed.is_empty(), "left behind: {observed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_of_other_domains_and_the_default_vpc_are_never_touched() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let aws = aws(&account).await;
    let a = manifest("alpha");
    let (plan, observed) = reconcile::plan(&aws, &a).await.unwrap();
    reconcile::apply(&aws, &a, &plan, &observed, |_| {})
        .await
        .unwrap();
    // Another domain in the same account sees nothing of alpha's.
    let b = manifest("beta");
    let (plan_b, observed_b) = reconcile::plan(&aws, &b).await.unwrap();
    assert!(observed_b.is_empty(), "{observed_b:#?}");
    assert_eq!(plan_b.count(Action::Delete), 0);
    // Destroying alpha leaves the account's default VPC.
    let (destroy, observed) = reconcile::destroy_plan(&aws, &a).await.unwrap();
    reconcile::apply(&aws, &a, &destroy, &observed, |_| {})
        .await
        .unwrap();
    let all = aws.ec2.describe_vpcs().send().await.unwrap();
    assert!(
        all.vpcs().iter().any(|v| v.is_default() == Some(true)),
        "the default VPC survives"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_refuses_a_protected_database_before_changing_anything() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let aws = aws(&account).await;
    let m = manifest_with("guarded", true);
    let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
    reconcile::apply(&aws, &m, &plan, &observed, |_| {})
        .await
        .unwrap();
    let (destroy, observed) = reconcile::destroy_plan(&aws, &m).await.unwrap();
    let before = observed.len();
    let err = reconcile::apply(&aws, &m, &destroy, &observed, |_| {})
        .await
        .unwrap_err();
    assert!(err.done.is_empty(), "nothing was deleted: {:?}", err.done);
    assert_eq!(err.error.code, "DeletionProtection");
    assert!(err.to_string().contains("deletionProtection"), "{err}");
    assert_eq!(reconcile::observe(&aws, &m).await.unwrap().len(), before);
}
