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
    pg.ensure_rds_iam_role();
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
            "psql": format!("host=127.0.0.1 port={} user=postgres", pg.port()),
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
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/token-request.json")).unwrap(),
    )
    .unwrap();
    use base64::Engine as _;
    event["headers"]["authorization"] = json!(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            shipping["client_id"].as_str().unwrap(),
            shipping["client_secret"].as_str().unwrap()
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
    let answer: Value = serde_json::from_slice(answer.payload().unwrap().as_ref()).unwrap();
    assert_eq!(answer["statusCode"], 200, "{answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
    let jwt = body["access_token"].as_str().unwrap();
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

    // 4. In sync, then a destroy leaves nothing of the domain, credentials included.
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
