//! The reconciler against a real moto server (started by the harness, with the fixes in
//! tests/moto_server.py): apply, idempotence (zero mutating calls), drift after hand
//! changes, repair, destroy. Error paths moto cannot produce (throttling, terminal errors,
//! eventual consistency) are in aws_errors.rs, with aws-smithy-mocks.

use std::process::Command;

use authdomain_core::plan::{Action, Kind};
use authdomain_core::spec::{self, Architecture, AuthDomainManifest};
use aws_sdk_ec2::types::{Filter, IpPermission, IpRange};
use provisioner::aws::{Aws, TAG_DOMAIN};
use provisioner::image::registry::RegistryError;
use provisioner::image::{self, registry::Registry};
use provisioner::reconcile::{self, ApplyError, ApplyFailure};
use serde_json::Value;

/// The refusal's code, when apply refused the plan before acting.
fn refused(err: &ApplyError) -> Option<&'static str> {
    match &err.failure {
        ApplyFailure::Refused(r) => Some(r.code()),
        _ => None,
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_authdomain");

/// A change to the auth server's registrations (not an AWS resource).
fn registration(c: &authdomain_core::plan::Change) -> bool {
    c.resource.kind.service() == authdomain_core::plan::Service::Registrations
}

fn manifest_with(name: &str, protect: bool, image: &str) -> AuthDomainManifest {
    spec::load_str(
        &format!(
            "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: {name}\nspec:\n  region: eu-west-1\n  network:\n    availabilityZones: 2\n    natGateway: single\n  database:\n    deletionProtection: {protect}\n    finalSnapshot: false\n  image:\n    {image}\n  tags:\n    team: platform\n"
        ),
        "test.yaml",
    )
    .unwrap()
}

/// A domain whose spec pins the digest of an image pushed to the test registry.
async fn manifest(aws: &Aws, name: &str) -> AuthDomainManifest {
    let digest = push_to_registry(
        aws,
        &format!("{name}-authserver"),
        Architecture::Arm64,
        None,
    )
    .await;
    manifest_with(name, false, &format!("digest: {digest}"))
}

/// The smallest ELF header naming `arch`, padded: a stand-in binary (these tests never
/// run the function; the image and architecture checks only read the image).
fn stand_in_binary(arch: Architecture) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = 2;
    b[5] = 1;
    let machine: u16 = match arch {
        Architecture::Arm64 => 0xB7,
        Architecture::X86_64 => 0x3E,
    };
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b.extend_from_slice(format!("{arch:?}").as_bytes());
    b
}

/// Assemble an image for `arch` and push it to the test registry (the OCI protocol, with
/// the ECR token moto issues), optionally under `tag`. Returns its digest.
async fn push_to_registry(
    aws: &Aws,
    repository: &str,
    arch: Architecture,
    tag: Option<&str>,
) -> String {
    let image = image::assemble(&stand_in_binary(arch), arch, "test").unwrap();
    let registry = Registry::connect(aws, &format!("registry.test/{repository}"))
        .await
        .unwrap();
    registry.push(repository, &image, tag).await.unwrap().digest
}

/// Push an image under `tag` to the test registry (where plans resolve tags).
async fn push_image(aws: &Aws, repository: &str, tag: &str) -> String {
    push_to_registry(aws, repository, Architecture::Arm64, Some(tag)).await
}

async fn aws(account: &str) -> Aws {
    aws_in(account, "eu-west-1").await
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
        .env(
            "AUTHDOMAIN_REGISTRY_URL",
            authdomain_tests::registry::shared().url(),
        )
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
    let m = manifest_with("netdemo", false, "tag: v1");
    let aws = aws(&account).await;

    // 1. Fresh account: the image tag is not pushed yet, so the function and what needs
    //    it wait; everything else is created, in dependency order.
    let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
    let desired = authdomain_core::plan::desired(&m).len();
    assert_eq!(plan.count(Action::Create), desired, "{plan:#?}");
    let facts = reconcile::facts(&aws, &m, &observed);
    let (runnable, deferred) = authdomain_core::plan::defer_unknown(&m, &plan, &facts);
    assert_eq!(deferred.missing, ["image.digest"]);
    assert!(deferred.waits_for_image());
    let waiting: Vec<String> = deferred
        .changes
        .iter()
        .map(|c| c.resource.to_string())
        .collect();
    assert!(waiting.contains(&"function/main".to_owned()), "{waiting:?}");
    assert!(
        waiting.contains(&"lambda-permission/api".to_owned()),
        "{waiting:?}"
    );
    assert!(
        waiting.contains(&"api-route/POST /oauth2/token".to_owned()),
        "{waiting:?}"
    );
    assert!(
        !waiting
            .iter()
            .any(|w| w.starts_with("vpc/") || w.starts_with("db-"))
    );
    let steps = reconcile::apply(&aws, &m, &runnable, &observed, |_| {})
        .await
        .unwrap();
    assert_eq!(steps.len(), desired - deferred.changes.len());

    // The image is pushed; the next apply creates the rest, deploying it by digest.
    let digest = push_image(&aws, "netdemo-authserver", "v1").await;
    let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
    assert_eq!(plan.changes.len(), deferred.changes.len(), "{plan:#?}");
    reconcile::apply(&aws, &m, &plan, &observed, |_| {})
        .await
        .unwrap();

    // 2. A second plan: in sync, observed with a bounded number of calls and no mutation.
    aws.calls.reset();
    let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
    assert!(
        plan.is_empty(),
        "second plan not empty: {:#}",
        authdomain_core::drift::json("netdemo", &plan)
    );
    assert_eq!(aws.calls.mutating(), 0);
    assert!(
        // 23 describes, the repository's lifecycle policy, the VPC endpoints, the read
        // model's bucket (its listing, tags and lifecycle rules), and the registrations:
        // the published read model (one GetObject; here nothing is published yet) and,
        // once it exists, the KEK that opens it. Never an invocation of the function.
        aws.calls.total() <= 30,
        "no-op plan used {} calls: {:?}",
        aws.calls.total(),
        aws.calls.snapshot()
    );

    // The function runs the pushed image by digest, in the private subnets, with its
    // environment encrypted by the domain's KMS key; the KEK it holds is the secret's.
    let f = aws
        .lambda
        .get_function()
        .function_name("netdemo-authserver")
        .send()
        .await
        .unwrap();
    let image = f.code().and_then(|c| c.image_uri()).unwrap();
    assert!(
        image.ends_with(&format!("/netdemo-authserver@{digest}")),
        "{image}"
    );
    let config = f.configuration().unwrap();
    let key_arn = observed
        .iter()
        .find(|o| o.id.kind == Kind::KmsKey)
        .unwrap()
        .physical_id
        .clone();
    assert_eq!(config.kms_key_arn(), Some(key_arn.as_str()));
    assert_eq!(config.vpc_config().unwrap().subnet_ids().len(), 2);
    let env = config.environment().unwrap().variables().unwrap();
    let kek = aws
        .secrets
        .get_secret_value()
        .secret_id("authdomain/netdemo/kek")
        .send()
        .await
        .unwrap()
        .secret_string()
        .unwrap()
        .to_owned();
    assert_eq!(env["AUTHSERVER_KEK"], kek);
    assert_eq!(env["AUTHSERVER_DATABASE_IAM_AUTH"], "true");
    assert!(
        env["AUTHSERVER_DATABASE_URL"].starts_with("postgres://authserver@netdemo.cluster-"),
        "{env:?}"
    );
    assert!(
        env["AUTHSERVER_DATABASE_URL"].ends_with(":5432/authserver"),
        "{env:?}"
    );
    let api_id = observed
        .iter()
        .find(|o| o.id.kind == Kind::Api)
        .unwrap()
        .physical_id
        .clone();
    assert_eq!(
        env["AUTHSERVER_ISSUER"],
        format!("https://{api_id}.execute-api.eu-west-1.amazonaws.com")
    );

    // The read model: the function's variable names the domain's bucket, which the VPC's
    // gateway endpoint reaches from the private route tables, and the function's group
    // lets HTTPS out to S3's prefix list only (and PostgreSQL to the VPC).
    let bucket = observed
        .iter()
        .find(|o| o.id.kind == Kind::Bucket)
        .expect("the read model bucket")
        .physical_id
        .clone();
    assert!(bucket.starts_with("authdomain-netdemo-"), "{bucket}");
    assert_eq!(
        env["AUTHSERVER_READ_MODEL"],
        format!("s3://{bucket}/read-model")
    );
    let lifecycle = aws
        .s3
        .get_bucket_lifecycle_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let rule = &lifecycle.rules()[0];
    assert_eq!(
        rule.filter().and_then(|f| f.prefix()),
        Some("read-model/assertions/")
    );
    assert_eq!(rule.expiration().and_then(|e| e.days()), Some(1));
    let block = aws
        .s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert!(
        block.block_public_acls() == Some(true) && block.restrict_public_buckets() == Some(true)
    );
    let endpoint = observed
        .iter()
        .find(|o| o.id.kind == Kind::VpcEndpoint)
        .expect("the S3 gateway endpoint");
    let private_tables: Vec<&str> = observed
        .iter()
        .filter(|o| o.id.kind == Kind::RouteTable && o.id.name.starts_with("private-"))
        .map(|o| o.physical_id.as_str())
        .collect();
    let mut routed: Vec<&str> = endpoint.refs["route-tables"]
        .iter()
        .map(String::as_str)
        .collect();
    routed.sort();
    let mut want = private_tables.clone();
    want.sort();
    assert_eq!(routed, want);
    let prefix_list = aws
        .ec2
        .describe_prefix_lists()
        .send()
        .await
        .unwrap()
        .prefix_lists()
        .iter()
        .find(|p| p.prefix_list_name() == Some("com.amazonaws.eu-west-1.s3"))
        .and_then(|p| p.prefix_list_id())
        .unwrap()
        .to_owned();
    let function_group = observed
        .iter()
        .find(|o| o.id == authdomain_core::plan::ResourceId::new(Kind::SecurityGroup, "function"))
        .unwrap();
    assert_eq!(
        function_group.props["egress"],
        serde_json::json!([format!("tcp:443:{prefix_list}"), "tcp:5432:10.42.0.0/16"])
    );

    // The inline policy: the database login, the environment's key, and the read model's
    // two objects (and listing under its prefix); no action with a `*`, and the one
    // resource wildcard the used-assertion markers under the prefix.
    let policy = aws
        .iam
        .get_role_policy()
        .role_name("netdemo-authserver-function")
        .policy_name("authserver")
        .send()
        .await
        .unwrap();
    let policy = provisioner::aws::iam::decode_policy(policy.policy_document());
    let statements = policy["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 4);
    for st in statements {
        let actions = match &st["Action"] {
            Value::Array(a) => a.clone(),
            one => vec![one.clone()],
        };
        assert!(
            actions.iter().all(|a| !a.as_str().unwrap().contains('*')),
            "{st}"
        );
    }
    assert_eq!(
        statements[2]["Resource"],
        serde_json::json!([
            format!("arn:aws:s3:::{bucket}/read-model/snapshot"),
            format!("arn:aws:s3:::{bucket}/read-model/assertions/*"),
        ])
    );
    assert_eq!(
        statements[3]["Resource"],
        serde_json::json!(format!("arn:aws:s3:::{bucket}"))
    );
    let cluster_resource_id = observed
        .iter()
        .find(|o| o.id.kind == Kind::DbCluster)
        .and_then(|o| o.props["_resource-id"].as_str())
        .unwrap()
        .to_owned();
    assert_eq!(
        statements[0]["Resource"],
        serde_json::json!(format!(
            "arn:aws:rds-db:eu-west-1:{account}:dbuser:{cluster_resource_id}/authserver"
        ))
    );
    assert_eq!(statements[1]["Resource"], serde_json::json!(key_arn));

    // The API invokes the function through one permission whose source is this API only.
    let permission = aws
        .lambda
        .get_policy()
        .function_name("netdemo-authserver")
        .send()
        .await
        .unwrap();
    let permission: Value = serde_json::from_str(permission.policy().unwrap()).unwrap();
    assert_eq!(
        permission["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"],
        serde_json::json!(format!(
            "arn:aws:execute-api:eu-west-1:{account}:{api_id}/*/*"
        ))
    );
    let routes = aws.apigw.get_routes().api_id(&api_id).send().await.unwrap();
    assert_eq!(
        routes.items().len(),
        authdomain_core::plan::names::ROUTES.len()
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
    aws.lambda
        .update_function_configuration()
        .function_name(find(Kind::Function, "main"))
        .memory_size(2048)
        .send()
        .await
        .unwrap();

    // 4. `authdomain drift` exits 2 and names exactly those fields.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("netdemo.yaml");
    std::fs::write(&file, authdomain_core::spec::to_yaml(&m).unwrap()).unwrap();
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
            "function/main.memory",
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

    // 6. `authdomain destroy` leaves nothing tagged as ours but the KMS key, which AWS
    // keeps for the 7 days of its scheduled deletion.
    let before = reconcile::observe(&aws, &m).await.unwrap();
    let prop = |all: &[authdomain_core::plan::Observed], kind: Kind, field: &str| {
        all.iter()
            .find(|o| o.id.kind == kind)
            .and_then(|o| o.props.get(field).cloned())
            .unwrap_or(Value::Null)
    };
    let key_arn = prop(&before, Kind::KmsKey, "_arn");
    let kek_fingerprint = prop(&before, Kind::Secret, "_fingerprint");
    assert!(key_arn.is_string() && kek_fingerprint.is_string());
    let out = cli(&account, &file, &["destroy", "--auto-approve"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let observed = reconcile::observe(&aws, &m).await.unwrap();
    assert_eq!(
        observed.iter().map(|o| o.id.kind).collect::<Vec<_>>(),
        [Kind::KmsKey],
        "left behind: {observed:#?}"
    );
    assert_eq!(prop(&observed, Kind::KmsKey, "state"), "PendingDeletion");
    let (again, _) = reconcile::destroy_plan(&aws, &m).await.unwrap();
    assert!(
        again.is_empty(),
        "a second destroy has nothing to do: {again:?}"
    );

    // 7. Re-applying within the waiting period brings back the same key (deletion
    // cancelled, enabled, the alias still naming it) and the same KEK (the secret
    // restored, still readable under that key).
    let out = cli(&account, &file, &["apply", "--auto-approve"]);
    // The repository went with its images: the function waits for the tag again.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wait for image.digest"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    push_image(&aws, "netdemo-authserver", "v1").await;
    let out = cli(&account, &file, &["apply", "--auto-approve"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let after = reconcile::observe(&aws, &m).await.unwrap();
    let kek_in_function = prop(&after, Kind::Function, "environment")
        [provisioner::aws::function::KEK_VARIABLE]
        .clone();
    assert_eq!(
        kek_in_function, kek_fingerprint,
        "the function has the same KEK"
    );
    assert_eq!(prop(&after, Kind::KmsKey, "_arn"), key_arn, "the same key");
    assert_eq!(prop(&after, Kind::KmsKey, "state"), "Enabled");
    assert_eq!(
        prop(&after, Kind::Secret, "_fingerprint"),
        kek_fingerprint,
        "the same KEK"
    );
    let key = aws
        .kms
        .describe_key()
        .key_id("alias/authdomain/netdemo")
        .send()
        .await
        .unwrap();
    let key = key.key_metadata().unwrap();
    assert_eq!(Some(key.arn().unwrap_or_default()), key_arn.as_str());
    assert_eq!(key.key_state().map(|s| s.as_str()), Some("Enabled"));
    let out = cli(&account, &file, &["destroy", "--auto-approve"]);
    assert!(out.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resources_of_other_domains_and_the_default_vpc_are_never_touched() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let aws = aws(&account).await;
    let a = manifest(&aws, "alpha").await;
    let (plan, observed) = reconcile::plan(&aws, &a).await.unwrap();
    reconcile::apply(&aws, &a, &plan, &observed, |_| {})
        .await
        .unwrap();
    // Another domain in the same account sees nothing of alpha's.
    let b = manifest(&aws, "beta").await;
    let (plan_b, observed_b) = reconcile::plan(&aws, &b).await.unwrap();
    assert!(observed_b.is_empty(), "{observed_b:#?}");
    assert_eq!(plan_b.count(Action::Delete), 0);
    reconcile::apply(&aws, &b, &plan_b, &observed_b, |_| {})
        .await
        .unwrap();
    // Drift over both at once: the network of both in one describe per type, the Aurora
    // clusters and the HTTP APIs in one listing each.
    aws.calls.reset();
    let plans = reconcile::plan_many(&aws, &[a.clone(), b.clone()])
        .await
        .unwrap();
    assert!(plans.iter().all(|p| p.is_empty()), "{plans:#?}");
    let together = aws.calls.total();
    aws.calls.reset();
    reconcile::plan(&aws, &a).await.unwrap();
    let one = aws.calls.total();
    assert_eq!(
        together,
        2 * one - 10,
        "8 EC2 describes, the cluster and the API listings shared: {:?}",
        aws.calls.snapshot()
    );
    let dir = tempfile::tempdir().unwrap();
    let (fa, fb) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
    std::fs::write(&fa, authdomain_core::spec::to_yaml(&a).unwrap()).unwrap();
    std::fs::write(&fb, authdomain_core::spec::to_yaml(&b).unwrap()).unwrap();
    let out = Command::new(BIN)
        .args(["drift", "--format", "json", "-f"])
        .arg(&fa)
        .arg("-f")
        .arg(&fb)
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AUTHDOMAIN_MOTO_ACCOUNT", &account)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reports: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 2);
    assert_eq!(reports[1]["domain"], "beta");

    // Destroying alpha leaves beta and the account's default VPC.
    let (destroy, observed) = reconcile::destroy_plan(&aws, &a).await.unwrap();
    reconcile::apply(&aws, &a, &destroy, &observed, |_| {})
        .await
        .unwrap();
    assert_eq!(
        reconcile::observe(&aws, &b).await.unwrap().len(),
        authdomain_core::plan::desired(&b).len(),
        "beta is untouched"
    );
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
    let digest = push_to_registry(&aws, "guarded-authserver", Architecture::Arm64, None).await;
    let m = manifest_with("guarded", true, &format!("digest: {digest}"));
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
    assert_eq!(refused(&err), Some("DeletionProtection"));
    assert!(err.to_string().contains("deletionProtection"), "{err}");
    assert_eq!(reconcile::observe(&aws, &m).await.unwrap().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_policy_destroys_the_serving_tier_and_keeps_the_data() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let aws = aws(&account).await;
    let mut m = manifest(&aws, "keeper").await;
    m.spec.deletion_policy = spec::DeletionPolicy::Retain;
    let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
    reconcile::apply(&aws, &m, &plan, &observed, |_| {})
        .await
        .unwrap();
    let (destroy, observed) = reconcile::destroy_plan(&aws, &m).await.unwrap();
    let deleted: Vec<Kind> = destroy.changes.iter().map(|c| c.resource.kind).collect();
    assert!(deleted.contains(&Kind::Function) && deleted.contains(&Kind::Api));
    assert!(!deleted.contains(&Kind::DbCluster) && !deleted.contains(&Kind::Secret));
    reconcile::apply(&aws, &m, &destroy, &observed, |_| {})
        .await
        .unwrap();
    let left: Vec<Kind> = reconcile::observe(&aws, &m)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id.kind)
        .collect();
    for kind in [
        Kind::Vpc,
        Kind::DbCluster,
        Kind::DbInstance,
        Kind::KmsKey,
        Kind::Secret,
    ] {
        assert!(left.contains(&kind), "{kind:?} kept: {left:?}");
    }
    for kind in [
        Kind::Function,
        Kind::Api,
        Kind::IamRole,
        Kind::LambdaPermission,
    ] {
        assert!(!left.contains(&kind), "{kind:?} deleted: {left:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_an_image_for_another_architecture_before_creating_the_function() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let aws = aws(&account).await;
    // An x86_64 image for a spec whose function is arm64 (the default).
    let digest = push_to_registry(&aws, "archcheck-authserver", Architecture::X86_64, None).await;
    let mut m = manifest_with("archcheck", false, &format!("digest: {digest}"));
    let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
    let err = reconcile::apply(&aws, &m, &plan, &observed, |_| {})
        .await
        .unwrap_err();
    match &err.failure {
        ApplyFailure::Image {
            resource,
            error: RegistryError::ArchitectureMismatch { .. },
        } => assert_eq!(resource.to_string(), "function/main"),
        other => panic!("expected an architecture mismatch, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("linux/amd64") && message.contains("is arm64"),
        "{message}"
    );
    // What was done before is reported, and no function exists.
    assert!(err.done.iter().any(|s| s.resource.kind == Kind::Vpc));
    assert!(!err.done.iter().any(|s| s.resource.kind == Kind::Function));
    let missing = aws
        .lambda
        .get_function()
        .function_name("archcheck-authserver")
        .send()
        .await;
    assert!(missing.is_err(), "no function was created");
    // The spec said the wrong architecture: fixed, the same apply converges.
    m.spec.image.architecture = Architecture::X86_64;
    let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
    reconcile::apply(&aws, &m, &plan, &observed, |_| {})
        .await
        .unwrap();
    let f = aws
        .lambda
        .get_function()
        .function_name("archcheck-authserver")
        .send()
        .await
        .unwrap();
    assert_eq!(
        f.configuration().unwrap().architectures()[0].as_str(),
        "x86_64"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_spec_tags_update_in_place_everywhere_and_then_plan_is_empty() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let aws = aws(&account).await;
    let mut m = manifest(&aws, "tagged").await;
    let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
    reconcile::apply(&aws, &m, &plan, &observed, |_| {})
        .await
        .unwrap();
    let (plan, _) = reconcile::plan(&aws, &m).await.unwrap();
    assert!(plan.is_empty(), "{plan:#?}");

    // One tag changes, one is added; a hand-set user tag on the VPC is not the spec's.
    m.spec.tags.insert("team".into(), "identity".into());
    m.spec.tags.insert("cost-center".into(), "42".into());
    let vpc = reconcile::observe(&aws, &m)
        .await
        .unwrap()
        .into_iter()
        .find(|o| o.id.kind == Kind::Vpc)
        .unwrap();
    aws.ec2
        .create_tags()
        .resources(&vpc.physical_id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("added-by-hand")
                .value("x")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
    let kinds: Vec<Kind> = plan.changes.iter().map(|c| c.resource.kind).collect();
    for kind in [
        Kind::Vpc,
        Kind::Subnet,
        Kind::SecurityGroup,
        Kind::DbCluster,
        Kind::DbInstance,
        Kind::EcrRepository,
        Kind::IamRole,
        Kind::Function,
        Kind::Api,
        Kind::Secret,
    ] {
        assert!(kinds.contains(&kind), "{kind:?} retagged: {plan:#?}");
    }
    for c in &plan.changes {
        assert_eq!(c.action, Action::Update, "tags change in place: {c:#?}");
        let fields: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["tags"], "{c:#?}");
    }
    aws.calls.reset();
    reconcile::apply(&aws, &m, &plan, &observed, |_| {})
        .await
        .unwrap();
    assert!(aws.calls.mutating() > 0);

    // In sync: the new tags are on the resources, ours are kept, the hand-set one is gone.
    let (plan, _) = reconcile::plan(&aws, &m).await.unwrap();
    assert!(plan.is_empty(), "{plan:#?}");
    let vpc_tags = aws
        .ec2
        .describe_vpcs()
        .vpc_ids(&vpc.physical_id)
        .send()
        .await
        .unwrap()
        .vpcs()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect::<std::collections::BTreeMap<_, _>>();
    assert_eq!(vpc_tags["team"], "identity");
    assert_eq!(vpc_tags["cost-center"], "42");
    assert_eq!(vpc_tags[TAG_DOMAIN], "tagged");
    assert!(vpc_tags.contains_key("Name"), "{vpc_tags:?}");
    assert!(!vpc_tags.contains_key("added-by-hand"), "{vpc_tags:?}");
    let f = aws
        .lambda
        .get_function()
        .function_name("tagged-authserver")
        .send()
        .await
        .unwrap();
    let ftags = f.tags().unwrap();
    assert_eq!(ftags["team"], "identity");
    assert_eq!(ftags[TAG_DOMAIN], "tagged");
}

/// Connect to moto for `region` (the examples name their own).
async fn aws_in(account: &str, region: &str) -> Aws {
    authdomain_tests::aws::moto(account, region, authdomain_tests::registry::shared().url()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_apply_converge_and_destroy_per_their_policy() {
    let moto = authdomain_tests::moto::server();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for file in ["examples/minimal.yaml", "examples/production.yaml"] {
        let account = moto.new_account();
        let src = std::fs::read_to_string(root.join(file)).unwrap();
        let mut m = spec::load_str(&src, file).unwrap();
        let aws = aws_in(&account, &m.spec.region).await;
        // The example's image, as `authdomain image push` leaves it: pushed for the
        // spec's architecture, pinned by its digest.
        let repository = provisioner::aws::ecr::repository_name(
            &m.metadata.name,
            m.spec.image.repository.as_deref(),
        );
        let digest = push_to_registry(&aws, &repository, m.spec.image.architecture, None).await;
        m.spec.image.tag = None;
        m.spec.image.digest = Some(digest);

        let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
        assert_eq!(
            plan.count(Action::Create),
            authdomain_core::plan::desired(&m).len(),
            "{file}"
        );
        // The registrations (the example's resource servers and clients) wait for the read
        // model the function publishes once bootstrapped: nothing runs the function here.
        let facts = reconcile::facts(&aws, &m, &observed);
        let (runnable, deferred) = authdomain_core::plan::defer_unknown(&m, &plan, &facts);
        assert_eq!(
            deferred.missing,
            [authdomain_core::plan::registrations::ISSUER_FACT],
            "{file}"
        );
        assert!(
            deferred.changes.iter().all(registration),
            "{file}: {deferred:#?}"
        );
        reconcile::apply(&aws, &m, &runnable, &observed, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        aws.calls.reset();
        let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
        assert_eq!(
            plan.changes, deferred.changes,
            "{file}: only the registrations wait"
        );
        assert_eq!(aws.calls.mutating(), 0, "{file}");
        let outputs = authdomain_core::plan::outputs(&m, &observed);
        assert!(
            outputs["issuer"].as_str().unwrap().starts_with("https://"),
            "{file}: {outputs}"
        );

        // Destroy as the example says: production (Retain) keeps its database and its
        // data; minimal deletes everything, once its (default) deletion protection is
        // turned off: until then destroy refuses before touching anything.
        if m.spec.deletion_policy != spec::DeletionPolicy::Retain
            && m.spec.database.deletion_protection
        {
            let (destroy, observed) = reconcile::destroy_plan(&aws, &m).await.unwrap();
            let err = reconcile::apply(&aws, &m, &destroy, &observed, |_| {})
                .await
                .unwrap_err();
            assert_eq!(refused(&err), Some("DeletionProtection"), "{file}: {err}");
            assert!(err.done.is_empty(), "{file}: {:?}", err.done);
            m.spec.database.deletion_protection = false;
            let (plan, observed) = reconcile::plan(&aws, &m).await.unwrap();
            let plan = authdomain_core::plan::Plan {
                changes: plan
                    .changes
                    .into_iter()
                    .filter(|c| !registration(c))
                    .collect(),
            };
            assert_eq!(plan.changes.len(), 1, "{file}: {plan:#?}");
            reconcile::apply(&aws, &m, &plan, &observed, |_| {})
                .await
                .unwrap();
        }
        let (destroy, observed) = reconcile::destroy_plan(&aws, &m).await.unwrap();
        reconcile::apply(&aws, &m, &destroy, &observed, |_| {})
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let left: Vec<Kind> = reconcile::observe(&aws, &m)
            .await
            .unwrap()
            .iter()
            .map(|o| o.id.kind)
            .collect();
        match m.spec.deletion_policy {
            spec::DeletionPolicy::Retain => {
                assert!(left.contains(&Kind::DbCluster), "{file}: {left:?}");
                assert!(!left.contains(&Kind::Function), "{file}: {left:?}");
            }
            // The final snapshot needs the KEK: the key and the secret stay, and
            // destroy says why.
            _ if m.spec.database.final_snapshot => {
                assert_eq!(left, [Kind::KmsKey, Kind::Secret], "{file}");
                let (_, _, kept) = reconcile::destroy_plan_kept(&aws, &m).await.unwrap();
                assert!(
                    kept.len() == 2 && kept.iter().all(|k| k.reason.contains("final snapshot")),
                    "{file}: {kept:?}"
                );
            }
            _ => assert!(left.is_empty(), "{file}: nothing tagged as ours: {left:?}"),
        }
    }
}
