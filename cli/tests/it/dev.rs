//! `authdomain dev`: the real binary serves the spec's domain on a real socket; tokens are
//! fetched with a real HTTP client.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_authdomain");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");

fn claims(jwt: &str, part: usize) -> Value {
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(jwt.split('.').nth(part).unwrap())
        .unwrap();
    serde_json::from_slice(&b).unwrap()
}

#[test]
fn dev_once_gets_a_token_for_the_minimal_example() {
    let out = Command::new(BIN)
        .args(["dev", "--listen", "127.0.0.1:0", "--once", "-f"])
        .arg(format!("{EXAMPLES}/minimal.yaml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("curl -u '"), "{stdout}");
    let token: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "read");
    let access = claims(token["access_token"].as_str().unwrap(), 1);
    assert_eq!(access["aud"], "https://api.example.com");
}

#[tokio::test]
async fn dev_serves_the_production_example_with_its_algorithm_ttls_and_clients() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds.json");
    let mut child = Command::new(BIN)
        .args(["dev", "--listen", "127.0.0.1:0", "--credentials-file"])
        .arg(&creds)
        .arg("-f")
        .arg(format!("{EXAMPLES}/production.yaml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let doc: Value = loop {
        if let Ok(bytes) = std::fs::read(&creds)
            && let Ok(v) = serde_json::from_slice(&bytes)
        {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "dev did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let checkout = doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "checkout")
        .unwrap();
    let reconciliation = doc["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "reconciliation")
        .unwrap();
    assert!(
        reconciliation.get("client_secret").is_none(),
        "private_key_jwt: no secret"
    );
    let http = reqwest::Client::new();
    let response = http
        .post(doc["token_endpoint"].as_str().unwrap())
        .basic_auth(
            checkout["client_id"].as_str().unwrap(),
            checkout["client_secret"].as_str(),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "payments:write"),
        ])
        .send()
        .await
        .unwrap();
    let status = response.status();
    let token: Value = response.json().await.unwrap();
    child.kill().ok();
    child.wait().ok();
    assert!(status.is_success(), "{token}");
    assert_eq!(token["expires_in"], 300, "the client's tokenTtl");
    let jwt = token["access_token"].as_str().unwrap();
    assert_eq!(claims(jwt, 0)["alg"], "ES256", "spec.tokens.algorithm");
    let access = claims(jwt, 1);
    assert_eq!(access["iss"], doc["issuer"]);
    assert_eq!(access["aud"], "https://payments.example.com");
    assert_eq!(access["scope"], "payments:write");
}

#[tokio::test]
async fn dev_serves_the_portal_with_a_loopback_development_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds.json");
    let mut child = Command::new(BIN)
        .args(["dev", "--listen", "127.0.0.1:0", "--credentials-file"])
        .arg(&creds)
        .arg("-f")
        .arg(format!("{EXAMPLES}/portal.yaml"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let doc: Value = loop {
        if let Ok(bytes) = std::fs::read(&creds)
            && let Ok(v) = serde_json::from_slice(&bytes)
        {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "dev did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let issuer = doc["issuer"].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = http.get(format!("{issuer}/portal")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Development sign-in: loopback only"),
        "{html}"
    );
    assert!(
        html.contains("Member of team payments"),
        "the spec's teams are offered"
    );
    let signed_in = http
        .post(format!("{issuer}/portal/dev-login"))
        .form(&[("name", "dev@example.com"), ("role", "team:payments")])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let apis = http
        .get(format!("{issuer}/portal/apis"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    child.kill().ok();
    child.wait().ok();
    assert!(
        apis.contains("https://payments.example.com"),
        "the team's API: {apis}"
    );
    assert!(
        !apis.contains("https://search.example.com"),
        "not another team's"
    );
}

#[test]
fn dev_with_provider_sign_in_needs_the_specs_portal() {
    let out = Command::new(BIN)
        .args([
            "dev",
            "--listen",
            "127.0.0.1:0",
            "--once",
            "--sign-in",
            "provider",
            "-f",
        ])
        .arg(format!("{EXAMPLES}/minimal.yaml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--sign-in provider needs `spec.portal`"),
        "{err}"
    );
}
