//! `authdomain token get | verify` against a real auth server on a loopback socket.

use std::io::Write as _;
use std::process::{Command, Stdio};

use authdomain_tests::issuer::LocalIssuer;
use authserver::keys::Algorithm;

const BIN: &str = env!("CARGO_BIN_EXE_authdomain");
const ORDERS: &str = "https://orders.example.com";

fn authdomain(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run authdomain");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_get_and_verify_exit_0_accepted_1_refused_2_usage() {
    let issuer = LocalIssuer::start(Algorithm::ES256, |_| {}).await;
    issuer
        .resource_server(ORDERS, &["orders/read", "orders/write"])
        .await;
    let (id, secret) = issuer.client("reader", &["orders/read"]).await;
    let token_url = format!("{}/oauth2/token", issuer.issuer);

    let got = tokio::task::spawn_blocking({
        let (id, secret, url) = (id.clone(), secret.clone(), token_url.clone());
        move || {
            authdomain(
                &[
                    "token",
                    "get",
                    "--token-url",
                    &url,
                    "--client-id",
                    &id,
                    "--client-secret",
                    &secret,
                    "--scope",
                    "orders/read",
                ],
                None,
            )
        }
    })
    .await
    .unwrap();
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let token = String::from_utf8(got.stdout).unwrap().trim().to_owned();
    assert_eq!(token.split('.').count(), 3);

    let iss = issuer.issuer.clone();
    let run = move |args: Vec<String>, stdin: Option<String>| {
        tokio::task::spawn_blocking(move || {
            let a: Vec<&str> = args.iter().map(String::as_str).collect();
            authdomain(&a, stdin.as_deref())
        })
    };
    let args = |extra: &[&str], token: &str| -> Vec<String> {
        let mut v: Vec<String> = ["token", "verify", "--issuer", &iss, "--audience"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v.push(token.to_owned());
        v
    };

    let ok = run(args(&[ORDERS, "--scope", "orders/read"], &token), None)
        .await
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains(&format!("client_id  {id}")), "{text}");
    assert!(text.contains("scope      orders/read"), "{text}");

    // From standard input, as JSON.
    let ok = run(
        args(&[ORDERS, "--output", "json"], "-"),
        Some(format!("{token}\n")),
    )
    .await
    .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["alg"], "ES256");
    assert_eq!(v["claims"]["client_id"], id.as_str());

    // Refused: another audience, a missing scope; the reason printed, exit 1.
    let refused = run(args(&["https://billing.example.com"], &token), None)
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let text = String::from_utf8_lossy(&refused.stdout);
    assert!(
        text.contains("invalid_token") && text.contains("audience"),
        "{text}"
    );
    let refused = run(
        args(
            &[ORDERS, "--scope", "orders/write", "--output", "json"],
            &token,
        ),
        None,
    )
    .await
    .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&refused.stdout).unwrap();
    assert_eq!(v["error"], "insufficient_scope");
    assert_eq!(v["status"], 403);

    // Usage errors: exit 2.
    let usage = run(vec!["token".into(), "verify".into(), token.clone()], None)
        .await
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let usage = run(
        args(&[ORDERS], &token)
            .into_iter()
            .map(|a| a.replace("http://", "ftp://"))
            .collect(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        usage.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&usage.stderr)
    );

    // A wrong secret at `get`: the endpoint's error, exit 1.
    let bad = tokio::task::spawn_blocking(move || {
        authdomain(
            &[
                "token",
                "get",
                "--token-url",
                &token_url,
                "--client-id",
                &id,
                "--client-secret",
                "nope",
            ],
            None,
        )
    })
    .await
    .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid_client"));
}
