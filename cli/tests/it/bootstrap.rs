//! `authdomain bootstrap` end to end, with real parts wherever moto stops:
//!
//! - AWS APIs: moto (tests/moto_server.py);
//! - the image: assembled from the real cross-built arm64 auth server and pushed over the
//!   OCI protocol to a real registry on loopback (Debian's docker-registry) with ECR's
//!   token;
//! - Lambda: moto cannot run functions, so Invoke is forwarded to a fake Lambda service
//!   (`authdomain_tests::lambda`) that runs that same arm64 binary under qemu, with the
//!   environment the provisioner gave the function (only the database address and IAM
//!   authentication are replaced: there is no Aurora here);
//! - the database: the Data API's SQL runs on a real PostgreSQL server (psql).
//!
//! Then: the credentials kept in Secrets Manager obtain a token through an API Gateway
//! event, a second bootstrap changes nothing, drift is clean, destroy leaves nothing.

use std::process::Command;

use authdomain_core::spec;
use provisioner::image::registry::{Found, Registry};
use provisioner::reconcile;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_authdomain");
const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../authserver/tests/fixtures/lambda"
);

const SPEC: &str = "apiVersion: authdomain.io/v1alpha1
kind: AuthDomain
metadata:
  name: boot
spec:
  region: eu-west-1
  database:
    deletionProtection: false
    finalSnapshot: false
  tokens:
    algorithm: ES256
  resourceServers:
    - identifier: https://orders.example.com
      scopes:
        - name: orders:read
        - name: orders:write
  clients:
    - name: shipping
      scopes: [orders:read]
      tokenTtl: 600
";

fn cli(account: &str, registry: &str, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env(
            "AWS_ENDPOINT_URL",
            authdomain_tests::moto::server().endpoint(),
        )
        .env("AUTHDOMAIN_MOTO_ACCOUNT", account)
        .env("AUTHDOMAIN_REGISTRY_URL", registry)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap()
}

fn secret_json(
    out: &aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput,
) -> Value {
    serde_json::from_str(out.secret_string().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_builds_pushes_deploys_seeds_and_a_second_run_changes_nothing() {
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let registry =
        authdomain_tests::registry::start(Some(("AWS", &format!("{account}-auth-token"))));
    let pg = authdomain_tests::postgres::server();
    let aws = authdomain_tests::aws::moto(&account, "eu-west-1", registry.url()).await;
    let binary = authdomain_tests::cross::authserver("arm64");
    let lambda =
        authdomain_tests::lambda::FakeLambda::start(authdomain_tests::aws::function_launcher(
            aws.clone(),
            authdomain_tests::aws::FunctionBinary::Arm64UnderQemu(binary.clone()),
            pg.port(),
        ))
        .await;
    moto.set_hooks(
        &account,
        &json!({
            "lambda_invoke": {"boot-authserver": lambda.invoke_url("boot-authserver")},
            "psql": pg.conninfo(),
        })
        .to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("boot.yaml");
    std::fs::write(&file, SPEC).unwrap();
    let file = file.to_str().unwrap();
    let binary_arg = binary.to_str().unwrap();

    // 1. One command, from nothing.
    let out = cli(
        &account,
        registry.url(),
        &[
            "bootstrap",
            "-f",
            file,
            "--binary",
            binary_arg,
            "--auto-approve",
            "--output",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "bootstrap failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let first: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(first["image_pushed"], true, "{first:#}");
    assert_eq!(first["admin_created"], true);
    assert_eq!(first["database_role_created"], true);
    assert_eq!(first["database_created"], true);
    assert_eq!(first["clients_created"], json!(["shipping"]));
    assert_eq!(
        first["resource_servers_written"],
        json!(["https://orders.example.com"])
    );
    let issuer = first["issuer"].as_str().unwrap();
    assert!(
        issuer.starts_with("https://") && issuer.contains(".execute-api.eu-west-1."),
        "{issuer}"
    );
    assert_eq!(first["token_endpoint"], format!("{issuer}/oauth2/token"));

    // The function runs the pushed image by digest; the registry holds it for arm64.
    let image = first["image"].as_str().unwrap();
    let (uri, digest) = image.split_once('@').unwrap();
    assert!(uri.ends_with("/boot-authserver"), "{image}");
    let session = Registry::connect(&aws, uri).await.unwrap();
    let Found::Image(config) = session.inspect("boot-authserver", digest).await.unwrap() else {
        panic!("not an image")
    };
    assert_eq!(config.architecture, "arm64");
    let expected = provisioner::image::assemble(
        &std::fs::read(&binary).unwrap(),
        spec::Architecture::Arm64,
        env!("CARGO_PKG_VERSION"),
    )
    .unwrap();
    assert_eq!(
        digest, expected.digest,
        "the image is the binary's, reproducibly"
    );

    // The database role and database exist, made through the Data API.
    let roles = Command::new("psql")
        .args([&pg.admin_url(), "-tAc", "SELECT rolcanlogin, pg_has_role('authserver', 'rds_iam', 'member') FROM pg_roles WHERE rolname = 'authserver'"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&roles.stdout).trim(), "t|t");

    // 2. The kept credentials work: a token request through the function, as API Gateway
    //    sends it (payload 2.0), with the client's credentials from Secrets Manager.
    let shipping = secret_json(
        &aws.secrets
            .get_secret_value()
            .secret_id("authdomain/boot/clients/shipping")
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(shipping["token_url"], format!("{issuer}/oauth2/token"));
    assert_eq!(shipping["scope"], "orders:read");
    let admin = secret_json(
        &aws.secrets
            .get_secret_value()
            .secret_id("authdomain/boot/admin")
            .send()
            .await
            .unwrap(),
    );
    assert!(admin["client_secret"].as_str().unwrap().len() >= 40);
    let answer = token(&aws, &shipping).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let jwt = body["access_token"].as_str().unwrap();
    use base64::Engine as _;
    let part = |i: usize| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(jwt.split('.').nth(i).unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    assert_eq!(part(0)["alg"], "ES256");
    assert_eq!(part(1)["iss"], issuer);
    assert_eq!(part(1)["aud"], "https://orders.example.com");
    assert_eq!(part(1)["scope"], "orders:read");
    assert_eq!(body["expires_in"], 600);

    // Where the credentials are kept, and the credentials themselves only when asked.
    let out = cli(
        &account,
        registry.url(),
        &["outputs", "-f", file, "--output", "json"],
    );
    let outputs = run_ok(&out);
    assert_eq!(
        outputs["clientCredentialsSecrets"]["shipping"], "authdomain/boot/clients/shipping",
        "{outputs:#}"
    );
    assert_eq!(outputs["adminCredentialsSecret"], "authdomain/boot/admin");
    let secret = shipping["client_secret"].as_str().unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(secret));
    let revealed = run_ok(&cli(
        &account,
        registry.url(),
        &["outputs", "-f", file, "--reveal", "shipping"],
    ));
    assert_eq!(revealed["client_secret"], secret);
    let out = cli(
        &account,
        registry.url(),
        &["outputs", "-f", file, "--reveal", "../admin"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected `admin` or the name"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 3. Again: nothing changes, and no AWS call mutates anything.
    let out = cli(
        &account,
        registry.url(),
        &[
            "bootstrap",
            "-f",
            file,
            "--binary",
            binary_arg,
            "--auto-approve",
            "--output",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(second["changed"], false, "{second:#}");
    assert_eq!(second["aws_mutating_calls"], 0, "{second:#}");
    assert_eq!(second["image"], first["image"]);

    // 4. The manifest governs registrations after bootstrap (plan, apply, drift).
    registrations_follow_the_manifest(&aws, &account, registry.url(), dir.path()).await;
    a_new_image_runs_its_migrations(&aws, &account, registry.url(), dir.path(), &binary, uri).await;
    std::fs::write(file, SPEC).unwrap();
    remote_administration(&aws, &account, registry.url(), file, &lambda).await;

    // 5. In sync, then a destroy leaves nothing of the domain, credentials included.
    let m = spec::load_str(SPEC, "boot.yaml").unwrap();
    let (plan, _) = reconcile::plan(&aws, &m).await.unwrap();
    assert!(
        plan.is_empty(),
        "{:#}",
        authdomain_core::drift::json("boot", &plan)
    );
    let out = cli(
        &account,
        registry.url(),
        &["destroy", "-f", file, "--auto-approve"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (left, _) = reconcile::destroy_plan(&aws, &m).await.unwrap();
    assert!(
        left.is_empty(),
        "left behind: {:#}",
        authdomain_core::drift::json("boot", &left)
    );
    assert!(
        lambda.invocations() >= 8,
        "the function really ran ({} invocations)",
        lambda.invocations()
    );
}

/// A token request through the function as API Gateway sends it (payload 2.0), with kept
/// credentials; the function's whole answer.
async fn token(aws: &provisioner::aws::Aws, credentials: &Value) -> Value {
    use base64::Engine as _;
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/token-request.json")).unwrap(),
    )
    .unwrap();
    event["headers"]["authorization"] = json!(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            credentials["client_id"].as_str().unwrap(),
            credentials["client_secret"].as_str().unwrap()
        ))
    ));
    event["body"] = json!("grant_type=client_credentials");
    let answer = aws
        .lambda
        .invoke()
        .function_name("boot-authserver")
        .payload(aws_smithy_types::Blob::new(event.to_string()))
        .send()
        .await
        .unwrap();
    serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap()
}

/// `authdomain drift` until it reports drift (exit 2; at most 10 s: the read model's
/// bound), its last run.
async fn drift_until_found(account: &str, registry: &str, file: &str) -> std::process::Output {
    let run = || {
        cli(
            account,
            registry,
            &["drift", "-f", file, "--format", "json"],
        )
    };
    let mut out = run();
    for _ in 0..20 {
        if out.status.code() == Some(2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        out = run();
    }
    out
}

/// [`token`] until it answers `status` (at most 10 s: the read model's bound), the last
/// answer.
async fn token_until(aws: &provisioner::aws::Aws, credentials: &Value, status: u16) -> Value {
    let mut answer = token(aws, credentials).await;
    for _ in 0..20 {
        if answer["statusCode"] == status {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        answer = token(aws, credentials).await;
    }
    answer
}

/// A management event on the function, as an operator's tooling sends it (what the admin
/// API does to the same records); its `result`.
async fn manage(aws: &provisioner::aws::Aws, event: Value) -> Value {
    let answer = aws
        .lambda
        .invoke()
        .function_name("boot-authserver")
        .payload(aws_smithy_types::Blob::new(
            json!({ "authdomain": event }).to_string(),
        ))
        .send()
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    v["result"].clone()
}

fn run_ok(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "failed ({:?}):\n{}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// Add a client to the manifest, widen a spec client by hand, drop the added one: plan,
/// apply and drift see each, through the read model; a client made outside the spec is
/// never touched.
async fn registrations_follow_the_manifest(
    aws: &provisioner::aws::Aws,
    account: &str,
    registry: &str,
    dir: &std::path::Path,
) {
    let file = dir.join("boot.yaml");
    let f = file.to_str().unwrap();
    let plan_json = |out: &std::process::Output| -> Value {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "not JSON:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    };
    // Reading registrations costs two calls and never invokes the function (which would
    // wake the database), however many the manifest has: 5 APIs and 20 clients here.
    let mut big = SPEC.replace(
        "  clients:\n    - name: shipping\n      scopes: [orders:read]\n      tokenTtl: 600\n",
        "",
    );
    for a in 0..5 {
        big.push_str(&format!(
            "    - identifier: https://api{a}.example.com\n      scopes:\n        - name: api{a}:read\n"
        ));
    }
    big.push_str("  clients:\n");
    for c in 0..20 {
        big.push_str(&format!(
            "    - name: svc{c}\n      scopes: [api{}:read]\n",
            c % 5
        ));
    }
    let many = spec::load_str(&big, "many.yaml").unwrap();
    // Connections to the auth server's database, counted by PostgreSQL itself: those
    // open now and those ever established (counted when they end).
    let connections = || {
        psql_admin(
            "SELECT numbackends || '/' || sessions FROM pg_stat_database WHERE datname = 'authserver'",
        )
    };
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let before = connections();
    aws.calls.reset();
    let (plan, _) = reconcile::plan(aws, &many).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(connections(), before, "a plan connected to the database");
    let calls = aws.calls.snapshot();
    let count = |op: &str| -> u64 {
        calls
            .iter()
            .filter(|(k, _)| k.to_lowercase().ends_with(&format!(":{op}")))
            .map(|(_, n)| *n)
            .sum()
    };
    assert_eq!(count("invoke"), 0, "a plan invoked the function: {calls:?}");
    assert_eq!(count("getobject"), 1, "{calls:?}");
    assert_eq!(count("getsecretvalue"), 1, "the KEK, once: {calls:?}");
    // The whole domain's 30 (README), and the zones and the S3 prefix list this client
    // had not read yet.
    assert!(
        aws.calls.total() <= 32,
        "{} calls: {calls:?}",
        aws.calls.total()
    );
    let creates = |kind: &str| {
        plan.changes
            .iter()
            .filter(|c| {
                c.resource.kind.as_str() == kind
                    && c.action == authdomain_core::plan::Action::Create
            })
            .count()
    };
    assert_eq!(
        (creates("resource-server"), creates("client")),
        (5, 20),
        "{plan:#?}"
    );

    // A client made in the portal or the admin API: not the spec's business.
    let outsider = manage(
        aws,
        json!({"action": "create-client", "client": {"name": "portal-app", "scopes": ["orders:write"]}}),
    )
    .await;
    let outsider_id = outsider["client_id"].as_str().unwrap().to_owned();

    // Added to the manifest: the plan shows it, apply registers it and keeps its credentials.
    let with_billing = format!("{SPEC}    - name: billing\n      scopes: [orders:write]\n");
    std::fs::write(&file, &with_billing).unwrap();
    let out = cli(account, registry, &["plan", "-f", f, "--output", "json"]);
    let plan = plan_json(&out);
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{plan:#}");
    assert_eq!(
        changes[0]["resource"],
        json!({"kind": "client", "name": "billing"})
    );
    assert_eq!(changes[0]["action"], "create");
    let applied = run_ok(&cli(
        account,
        registry,
        &["apply", "-f", f, "--auto-approve", "--output", "json"],
    ));
    assert_eq!(applied["steps"].as_array().unwrap().len(), 1, "{applied:#}");
    let billing = secret_json(
        &aws.secrets
            .get_secret_value()
            .secret_id("authdomain/boot/clients/billing")
            .send()
            .await
            .unwrap(),
    );
    // Within the read model's bound (an instance revalidates its copy every few seconds).
    let answer = token_until(aws, &billing, 200).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");

    // Widened by hand (the admin API's update, keeping the marker): drift names the client
    // and the field, exit 2; apply sets it back.
    let shipping = secret_json(
        &aws.secrets
            .get_secret_value()
            .secret_id("authdomain/boot/clients/shipping")
            .send()
            .await
            .unwrap(),
    );
    manage(
        aws,
        json!({"action": "update-client", "client_id": shipping["client_id"], "client": {
            "name": "shipping", "scopes": ["orders:read", "orders:write"], "token_ttl_seconds": 600,
            "token_endpoint_auth_method": "client_secret_basic", "managed_by": "spec"}}),
    )
    .await;
    let out = drift_until_found(account, registry, f).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drift = plan_json(&out);
    let text = drift.to_string();
    assert!(
        text.contains("\"client\"") && text.contains("shipping"),
        "{drift:#}"
    );
    assert!(
        text.contains("\"scopes\"") && text.contains("orders:write"),
        "{drift:#}"
    );
    run_ok(&cli(
        account,
        registry,
        &["apply", "-f", f, "--auto-approve", "--output", "json"],
    ));
    let out = cli(account, registry, &["drift", "-f", f, "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Dropped from the manifest: deleted, its credentials stop working at once and their
    // secret is scheduled for deletion.
    std::fs::write(&file, SPEC).unwrap();
    let out = cli(account, registry, &["plan", "-f", f, "--output", "json"]);
    let plan = plan_json(&out);
    let changes = plan["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{plan:#}");
    assert_eq!(changes[0]["action"], "delete");
    assert_eq!(changes[0]["physical_id"], billing["client_id"]);
    run_ok(&cli(
        account,
        registry,
        &["apply", "-f", f, "--auto-approve", "--output", "json"],
    ));
    let answer = token_until(aws, &billing, 401).await;
    assert_eq!(answer["statusCode"], 401, "{answer}");
    let described = aws
        .secrets
        .describe_secret()
        .secret_id("authdomain/boot/clients/billing")
        .send()
        .await
        .unwrap();
    assert!(
        described.deleted_date().is_some(),
        "the kept credentials are scheduled for deletion"
    );

    // The outsider is untouched; an outsider with a spec name is refused until --adopt.
    let kept = manage(
        aws,
        json!({"action": "get-client", "client_id": outsider_id}),
    )
    .await;
    assert_eq!(kept["scopes"], json!(["orders:write"]));
    manage(
        aws,
        json!({"action": "create-client", "client": {"name": "billing", "scopes": ["orders:write"]}}),
    )
    .await;
    std::fs::write(&file, &with_billing).unwrap();
    let out = cli(account, registry, &["apply", "-f", f, "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("client/billing") && err.contains("--adopt"),
        "{err}"
    );
    run_ok(&cli(
        account,
        registry,
        &[
            "apply",
            "-f",
            f,
            "--auto-approve",
            "--adopt",
            "--output",
            "json",
        ],
    ));
    let out = cli(account, registry, &["drift", "-f", f, "--format", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Leave the domain as the main test expects: the adopted client is the spec's now, and
    // goes with the manifest's next apply.
    std::fs::write(&file, SPEC).unwrap();
    run_ok(&cli(
        account,
        registry,
        &["apply", "-f", f, "--auto-approve", "--output", "json"],
    ));
}

/// `psql -tAc SQL` on the maintenance database, as the test's master user (RDS's rights); its output.
fn psql_admin(sql: &str) -> String {
    let pg = authdomain_tests::postgres::server();
    pg.psql(&pg.admin_url(), sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `psql -tAc SQL` on the auth server's database, as the test server's superuser (the
/// master holds no rights on the auth server's tables, as on Aurora: this is the test's
/// own inspection and set-up); its output.
fn psql_authserver(sql: &str) -> String {
    let pg = authdomain_tests::postgres::server();
    pg.psql(&pg.superuser_url_for_inspection("authserver"), sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// A database an older image left (migration 0004 not applied) and a new image deployed by
/// `apply`: the apply runs the migrations (the `prepare` event), not the next bootstrap.
async fn a_new_image_runs_its_migrations(
    aws: &provisioner::aws::Aws,
    account: &str,
    registry: &str,
    dir: &std::path::Path,
    binary: &std::path::Path,
    repository_uri: &str,
) {
    let column = "SELECT count(*) FROM information_schema.columns \
                  WHERE table_name = 'resource_servers' AND column_name = 'managed_by'";
    psql_authserver(
        "ALTER TABLE resource_servers DROP COLUMN managed_by; DROP TABLE authdomain_schema; \
         DELETE FROM _sqlx_migrations WHERE version = 4",
    );
    assert_eq!(psql_authserver(column), "0");
    let image = provisioner::image::assemble(
        &std::fs::read(binary).unwrap(),
        spec::Architecture::Arm64,
        "next",
    )
    .unwrap();
    let session = Registry::connect(aws, repository_uri).await.unwrap();
    let pushed = session.push("boot-authserver", &image, None).await.unwrap();
    let file = dir.join("boot.yaml");
    std::fs::write(
        &file,
        format!("{SPEC}  image:\n    digest: {}\n", pushed.digest),
    )
    .unwrap();
    let applied = run_ok(&cli(
        account,
        registry,
        &[
            "apply",
            "-f",
            file.to_str().unwrap(),
            "--auto-approve",
            "--output",
            "json",
        ],
    ));
    assert!(
        applied["steps"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["resource"] == json!({"kind": "function", "name": "main"})),
        "{applied:#}"
    );
    assert_eq!(
        psql_authserver(column),
        "1",
        "the new image's migrations ran"
    );
    assert_eq!(
        psql_authserver("SELECT count(*) FROM _sqlx_migrations WHERE version = 4"),
        "1"
    );

    // The upgrade path from before migration 0004: the spec's API carries no marker, so
    // the next apply names the take-over, and --adopt takes it.
    let f = file.to_str().unwrap();
    let out = drift_until_found(account, registry, f).await;
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("managed-by"));
    let out = cli(account, registry, &["apply", "-f", f, "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--adopt"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run_ok(&cli(
        account,
        registry,
        &[
            "apply",
            "-f",
            f,
            "--auto-approve",
            "--adopt",
            "--output",
            "json",
        ],
    ));
}

/// `authdomain clients|apis|keys` against the deployed domain: lists come from the read
/// model (no invocation), changes through management events; managed clients are refused.
async fn remote_administration(
    aws: &provisioner::aws::Aws,
    account: &str,
    registry: &str,
    file: &str,
    lambda: &authdomain_tests::lambda::FakeLambda,
) {
    let invocations = lambda.invocations();
    let listed = run_ok(&cli(
        account,
        registry,
        &["clients", "list", "-f", file, "--output", "json"],
    ));
    let apis = run_ok(&cli(
        account,
        registry,
        &["apis", "list", "-f", file, "--output", "json"],
    ));
    let keys = run_ok(&cli(
        account,
        registry,
        &["keys", "list", "-f", file, "--output", "json"],
    ));
    assert_eq!(
        lambda.invocations(),
        invocations,
        "listing invoked the function"
    );
    let shipping = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "shipping")
        .unwrap_or_else(|| panic!("{listed:#}"));
    assert_eq!(shipping["managed_by"], "spec");
    assert!(!listed.to_string().contains("hash"), "{listed:#}");
    assert!(
        apis.as_array()
            .unwrap()
            .iter()
            .any(|a| a["identifier"] == "https://orders.example.com"),
        "{apis:#}"
    );
    assert!(
        keys.as_array()
            .unwrap()
            .iter()
            .any(|k| k["state"] == "active"),
        "{keys:#}"
    );
    assert!(!keys.to_string().contains("private"), "{keys:#}");

    // A managed client is changed where it is managed.
    let out = cli(
        account,
        registry,
        &[
            "clients",
            "delete",
            "-f",
            file,
            shipping["client_id"].as_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("managed by spec"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Create, use, delete.
    let created = run_ok(&cli(
        account,
        registry,
        &[
            "clients",
            "create",
            "-f",
            file,
            "--name",
            "remote",
            "--scope",
            "orders:read",
            "--output",
            "json",
        ],
    ));
    let answer = token_until(aws, &created, 200).await;
    assert_eq!(answer["statusCode"], 200, "{answer}");
    run_ok(&cli(
        account,
        registry,
        &[
            "clients",
            "delete",
            "-f",
            file,
            created["client_id"].as_str().unwrap(),
            "--output",
            "json",
        ],
    ));
    let answer = token_until(aws, &created, 401).await;
    assert_eq!(answer["statusCode"], 401, "{answer}");
}
