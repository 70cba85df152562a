//! Interoperability with third-party libraries: Python `authlib` obtains tokens (client
//! secret and private_key_jwt) and `PyJWT` verifies them against our JWKS.

use std::process::Command;

use authdomain_api::ClientInput;
use authserver::keys::{Algorithm, SigningKey};
use serde_json::{Value, json};

use crate::support::{Backend, TestServer};

const SCRIPT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/interop/client_credentials.py"
);

fn python(args: &[&str]) -> Value {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("python3 is required for the interop tests: {e}"));
    assert!(
        out.status.success(),
        "interop script failed (needs `pip install authlib pyjwt[crypto] requests`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_and_pyjwt_accept_our_tokens() {
    for alg in [Algorithm::RS256, Algorithm::ES256] {
        let s = TestServer::start_with(Backend::Sqlite, alg, |_| {}).await;
        let (id, secret) = s.standard().await;
        let base = s.base.clone();
        let out = tokio::task::spawn_blocking(move || {
            // `--flag=value`: generated ids and secrets may start with `-`.
            python(&[
                &format!("--issuer={base}"),
                &format!("--client-id={id}"),
                &format!("--client-secret={secret}"),
                "--audience=https://api.example.com",
                &format!("--alg={}", alg.as_str()),
            ])
        })
        .await
        .unwrap();
        assert_eq!(out["header"]["alg"], alg.as_str());
        assert_eq!(out["claims"]["scope"], "read");
        assert_eq!(out["token_type"], "Bearer");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authlib_private_key_jwt_client_authentication() {
    let s = TestServer::start(Backend::Sqlite).await;
    s.resource_server("https://api.example.com", &["read"])
        .await;
    let (key, der) = SigningKey::generate(Algorithm::RS256).unwrap();
    let c = s
        .authority
        .create_client(
            &authdomain_tests::issuer::test_actor(),
            ClientInput {
                name: "authlib-jwt".into(),
                scopes: vec!["read".into()],
                token_endpoint_auth_method: Some("private_key_jwt".into()),
                jwks: Some(json!({ "keys": [key.public_jwk()] })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        b64.as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let dir = tempfile::tempdir().unwrap();
    let pem_path = dir.path().join("client.pem");
    std::fs::write(&pem_path, pem).unwrap();
    let (base, id) = (s.base.clone(), c.client.client_id.clone());
    let out = tokio::task::spawn_blocking(move || {
        python(&[
            &format!("--issuer={base}"),
            &format!("--client-id={id}"),
            &format!("--private-key-pem={}", pem_path.display()),
            "--audience=https://api.example.com",
            "--alg=RS256",
        ])
    })
    .await
    .unwrap();
    assert_eq!(out["claims"]["client_id"], c.client.client_id);
}

/// Our IAM database authentication token equals botocore's (the reference signer behind
/// `aws rds generate-db-auth-token`) for the same inputs and time.
#[test]
fn rds_iam_auth_token_matches_botocore() {
    use authserver::store::iam_auth::{EnvCredentials, auth_token};
    use std::collections::BTreeMap;
    let creds = EnvCredentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: Some("IQoJb3JpZ2luX2VjEXAMPLE/+=".into()),
    };
    let when = 1_704_067_200u64;
    let host = "payments.cluster-abc.eu-central-1.rds.amazonaws.com";
    let ours = auth_token(
        host,
        5432,
        "authserver",
        "eu-central-1",
        &creds,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(when),
    )
    .unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/rds_token.py");
    let out = Command::new("python3")
        .args([
            script,
            host,
            "5432",
            "authserver",
            "eu-central-1",
            &creds.access_key_id,
            &creds.secret_access_key,
        ])
        .arg(creds.session_token.as_deref().unwrap())
        .arg(when.to_string())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "botocore is required (pip install botocore): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    // Same host, same parameters (order aside), same signature.
    let params = |t: &str| -> (String, BTreeMap<String, String>) {
        let (head, query) = t.split_once("/?").unwrap();
        (
            head.to_owned(),
            query
                .split('&')
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_owned(), v.to_owned())
                })
                .collect(),
        )
    };
    let (our_host, our_params) = params(&ours);
    let (ref_host, ref_params) = params(&reference);
    assert_eq!(our_host, ref_host);
    assert_eq!(
        our_params, ref_params,
        "\nours:      {ours}\nreference: {reference}"
    );
}
