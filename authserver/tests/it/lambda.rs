//! Lambda mode, end to end: the unchanged `authserver` binary polls a real Lambda Runtime
//! API emulator (`cargo lambda watch --only-lambda-apis`, from the PyPI package
//! `cargo-lambda`), and API Gateway HTTP API (payload 2.0) events plus a management event
//! are sent with `cargo lambda invoke`.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use authdomain_tests::lambda_emulator::Emulator;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_authserver");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/lambda");

/// Kills the child when dropped, so a failing assertion leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn invoke(emulator: &Emulator, event: &Path) -> Value {
    emulator.invoke_cli("authserver", event)
}

#[test]
fn lambda_mode_serves_api_gateway_events_and_management_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("auth.db").display());
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .env("AUTHSERVER_DATABASE_URL", &db)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap_or(Value::Null)
    };
    run(&[
        "resource-servers",
        "create",
        "--identifier",
        "https://api.example.com",
        "--scope",
        "read",
        "--json",
    ]);
    let client = run(&[
        "clients", "create", "--name", "svc", "--scope", "read", "--json",
    ]);
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );

    let emulator = Emulator::start("authserver");

    let issuer = "https://abc123.execute-api.eu-west-1.amazonaws.com";
    let function = emulator
        .function_command(Path::new(BIN), "authserver")
        .env("AUTHSERVER_DATABASE_URL", &db)
        .env("AUTHSERVER_ISSUER", issuer)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut function = Running(function);

    // Token request: the fixture event plus the client's Basic credentials.
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("token-request.json")).unwrap(),
    )
    .unwrap();
    use base64::Engine as _;
    event["headers"]["authorization"] = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
    .into();
    let event_file = dir.path().join("token.json");
    std::fs::write(&event_file, event.to_string()).unwrap();
    let resp = invoke(&emulator, &event_file);
    assert_eq!(resp["statusCode"], 200, "{resp}");
    assert_eq!(resp["headers"]["cache-control"], "no-store");
    let body: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    let (_, claims) = crate::support::jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], issuer);
    assert_eq!(claims["scope"], "read");

    // A wrong secret: the RFC 6749 error travels through the adapter intact.
    event["headers"]["authorization"] = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:wrong"))
    )
    .into();
    std::fs::write(&event_file, event.to_string()).unwrap();
    let resp = invoke(&emulator, &event_file);
    assert_eq!(resp["statusCode"], 401);
    assert!(
        resp["headers"]["www-authenticate"]
            .as_str()
            .unwrap()
            .starts_with("Basic")
    );

    // Discovery with the configured issuer.
    let resp = invoke(
        &emulator,
        &Path::new(FIXTURES).join("discovery-request.json"),
    );
    assert_eq!(resp["statusCode"], 200);
    let doc: Value = serde_json::from_str(resp["body"].as_str().unwrap()).unwrap();
    assert_eq!(doc["token_endpoint"], format!("{issuer}/oauth2/token"));

    // A management event (direct invoke only): list keys, and a malformed one.
    let mgmt = dir.path().join("mgmt.json");
    std::fs::write(&mgmt, r#"{"authdomain": {"action": "list-keys"}}"#).unwrap();
    let resp = invoke(&emulator, &mgmt);
    assert_eq!(resp["ok"], true, "{resp}");
    assert!(
        resp["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["state"] == "active")
    );
    std::fs::write(&mgmt, r#"{"authdomain": {"action": "drop-tables"}}"#).unwrap();
    let resp = invoke(&emulator, &mgmt);
    assert_eq!(resp["ok"], false);
    assert!(
        resp["error"]
            .as_str()
            .unwrap()
            .contains("unknown variant `drop-tables`"),
        "{resp}"
    );

    // Logs on Lambda are JSON lines and carry no secret or token.
    let _ = function.0.kill();
    let out = std::mem::replace(&mut function.0, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(!logs.trim().is_empty());
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
    assert!(!logs.contains(secret));
    assert!(!logs.contains(body["access_token"].as_str().unwrap()));
}

/// An API Gateway v2 event for `GET path` (from the discovery fixture).
fn get_event(path: &str) -> Value {
    let mut e: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("discovery-request.json")).unwrap(),
    )
    .unwrap();
    e["rawPath"] = path.into();
    e["requestContext"]["http"]["path"] = path.into();
    e
}

/// Open connections to `database` other than the caller's, as PostgreSQL counts them.
async fn connections(direct: &str, database: &str) -> i64 {
    let pool = sqlx::PgPool::connect(direct).await.unwrap();
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lambda_with_a_read_model_serves_tokens_with_the_database_stopped_and_keeps_no_connection()
{
    let (proxy, via_proxy, direct) = crate::support::FaultProxy::postgres("lambda_rm").await;
    let database = direct.rsplit('/').next().unwrap().to_owned();
    let location = crate::support::read_model_bucket().await;
    let kek = authserver::keys::Kek::generate_base64();
    let issuer = "https://rm123.execute-api.us-east-1.amazonaws.com";
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start("authserver");
    let start_function = || {
        emulator
            .function_command(Path::new(BIN), "authserver")
            .env("AUTHSERVER_DATABASE_URL", &via_proxy)
            .env("AUTHSERVER_ISSUER", issuer)
            .env("AUTHSERVER_KEK", &kek)
            .env("AUTHSERVER_READ_MODEL", &location)
            .env("AUTHSERVER_DB_RETRY_SECONDS", "1")
            .env("AWS_REGION", "us-east-1")
            .env(
                "AWS_ENDPOINT_URL",
                authdomain_tests::moto::server().endpoint(),
            )
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map(Running)
            .unwrap()
    };
    let mut function = start_function();
    let invoke_json = |name: &str, payload: &Value| {
        let file = dir.path().join(name);
        std::fs::write(&file, payload.to_string()).unwrap();
        invoke(&emulator, &file)
    };

    // Administration through management events: each one opens database connections and
    // closes them before it returns.
    for (name, event) in [
        (
            "prepare",
            serde_json::json!({"authdomain": {"action": "prepare"}}),
        ),
        (
            "api",
            serde_json::json!({"authdomain": {"action": "put-resource-server", "resource_server": {
                "identifier": "https://api.example.com", "scopes": [{"name": "read"}]}}}),
        ),
    ] {
        let resp = invoke_json(name, &event);
        assert_eq!(resp["ok"], true, "{name}: {resp}");
        assert_eq!(connections(&direct, &database).await, 0, "after {name}");
    }
    let created = invoke_json(
        "client",
        &serde_json::json!({"authdomain": {"action": "create-client", "client": {"name": "svc", "scopes": ["read"]}}}),
    );
    assert_eq!(created["ok"], true, "{created}");
    assert_eq!(
        connections(&direct, &database).await,
        0,
        "after create-client"
    );
    let (id, secret) = (
        created["result"]["client_id"].as_str().unwrap().to_owned(),
        created["result"]["client_secret"]
            .as_str()
            .unwrap()
            .to_owned(),
    );

    // PostgreSQL stops. Tokens, discovery, JWKS and readiness go on, from this instance
    // and from a new one started while it is stopped.
    proxy.set_up(false);
    use base64::Engine as _;
    let mut token: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(FIXTURES).join("token-request.json")).unwrap(),
    )
    .unwrap();
    token["headers"]["authorization"] = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
    )
    .into();
    for round in ["warm", "new instance"] {
        if round == "new instance" {
            drop(function);
            function = start_function();
        }
        let resp = invoke_json("token", &token);
        assert_eq!(resp["statusCode"], 200, "{round}: {resp}");
        for path in ["/.well-known/jwks.json", "/health/ready"] {
            let resp = invoke_json("get", &get_event(path));
            assert_eq!(resp["statusCode"], 200, "{round} {path}: {resp}");
        }
        let ready: Value = serde_json::from_str(
            invoke_json("ready", &get_event("/health/ready"))["body"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert!(ready["read_model_version"].as_i64().unwrap() > 1, "{ready}");
    }
    drop(function);
    proxy.set_up(true);
}
