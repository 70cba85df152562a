//! The `authserver` binary: CLI commands, the HTTP server's lifecycle, configuration
//! errors, and logs that never contain a secret or a token.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_authserver");

fn cli(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env(
            "AUTHSERVER_DATABASE_URL",
            format!("sqlite://{}", dir.join("auth.db").display()),
        )
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("run authserver")
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_registers_and_server_issues_without_logging_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let rs = json_of(&cli(
        dir.path(),
        &[
            "resource-servers",
            "create",
            "--identifier",
            "https://api.example.com",
            "--scope",
            "read=Read things",
            "--scope",
            "write",
            "--json",
        ],
    ));
    assert_eq!(rs["scopes"][0]["description"], "Read things");
    let client = json_of(&cli(
        dir.path(),
        &[
            "clients", "create", "--name", "svc", "--scope", "read", "--scope", "write", "--json",
        ],
    ));
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let admin = json_of(&cli(dir.path(), &["admin-client", "create", "--json"]));
    let (admin_id, admin_secret) = (
        admin["client_id"].as_str().unwrap().to_owned(),
        admin["client_secret"].as_str().unwrap().to_owned(),
    );
    let kek_text = std::fs::read_to_string(dir.path().join("auth.db.kek")).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("auth.db.kek"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "the generated KEK file is private");

    let port = authdomain_tests::net::free_port();
    let child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env(
            "AUTHSERVER_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("auth.db").display()),
        )
        .env("RUST_LOG", "trace")
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        authdomain_tests::net::wait_for_port(
            format!("127.0.0.1:{port}").parse().unwrap(),
            Duration::from_secs(20)
        ),
        "server did not start"
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let tok = |id: String, secret: String, form: Vec<(&'static str, &'static str)>| {
        let req = http
            .post(format!("{base}/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(&form);
        async move { req.send().await.unwrap() }
    };
    let r = tok(
        id.clone(),
        secret.clone(),
        vec![("grant_type", "client_credentials"), ("scope", "read")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let access: Value = r.json().await.unwrap();
    let access_token = access["access_token"].as_str().unwrap().to_owned();
    let wrong = format!("{secret}-but-wrong");
    assert_eq!(
        tok(
            id.clone(),
            wrong.clone(),
            vec![("grant_type", "client_credentials")]
        )
        .await
        .status(),
        401
    );
    let admin_token: Value = tok(
        admin_id,
        admin_secret.clone(),
        vec![("grant_type", "client_credentials")],
    )
    .await
    .json()
    .await
    .unwrap();
    let admin_token = admin_token["access_token"].as_str().unwrap().to_owned();
    let created: Value = http
        .post(format!("{base}/admin/v1/clients"))
        .bearer_auth(&admin_token)
        .json(&serde_json::json!({ "name": "via-api", "scopes": ["write"] }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let api_secret = created["client_secret"].as_str().unwrap().to_owned();
    let introspected: Value = http
        .post(format!("{base}/oauth2/introspect"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", access_token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    let health: Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("authserver_tokens_issued_total"),
        "{metrics}"
    );

    // Graceful stop on SIGTERM.
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("authserver stopped"), "{logs}");
    assert!(
        logs.contains("client authentication failed"),
        "failures are logged: {logs}"
    );
    for (what, secret) in [
        ("client secret", secret.as_str()),
        ("wrong secret", wrong.as_str()),
        ("admin secret", admin_secret.as_str()),
        ("secret created via the API", api_secret.as_str()),
        ("access token", access_token.as_str()),
        ("admin token", admin_token.as_str()),
        ("key-encryption key", kek_text.trim()),
    ] {
        assert!(!logs.contains(secret), "the {what} appears in the logs");
    }
}

#[test]
fn configuration_errors_are_clear_and_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let out = cli(
        dir.path(),
        &["serve", "--issuer", "http://auth.example.com"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("must use https"), "{err}");

    let out = Command::new(BIN)
        .args(["migrate"])
        .env(
            "AUTHSERVER_DATABASE_URL",
            "postgres://app:hunter2@127.0.0.1:1/db",
        )
        .env_remove("AUTHSERVER_KEK")
        .env_remove("AUTHSERVER_KEK_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AUTHSERVER_KEK"), "{err}");
    assert!(!err.contains("hunter2"), "password leaked: {err}");

    let out = Command::new(BIN)
        .args(["migrate"])
        .env("AUTHSERVER_DATABASE_URL", "mysql://x")
        .env("AUTHSERVER_KEK", "AAAA")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("32 bytes"), "{err}");

    let out = cli(
        dir.path(),
        &[
            "clients",
            "create",
            "--name",
            "x",
            "--scope",
            "undefined",
            "--json",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scopes[0]") && err.contains("undefined"),
        "{err}"
    );
}
