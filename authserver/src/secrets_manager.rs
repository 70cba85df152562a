//! One Secrets Manager call, `GetSecretValue`, signed with SigV4 from the environment's
//! credentials (a Lambda role's): the portal's client secret at the identity provider is
//! read at start-up, so it is never in the function's environment. Written with
//! `aws-sigv4` rather than the SDK, which would add megabytes to the Lambda image for one
//! call, as the database's IAM token is.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::{Value, json};

use crate::store::iam_auth::EnvCredentials;

/// The endpoint: `AWS_ENDPOINT_URL_SECRETS_MANAGER`, `AWS_ENDPOINT_URL`, else the
/// region's.
fn endpoint(region: &str) -> String {
    std::env::var("AWS_ENDPOINT_URL_SECRETS_MANAGER")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("https://secretsmanager.{region}.amazonaws.com"))
}

/// The `SecretString` of `secret_id` (an ARN or a name). The error names the secret and
/// AWS's error code, never a value.
pub async fn secret_string(secret_id: &str, region: &str) -> Result<String, String> {
    let creds = EnvCredentials::from_env()?;
    let url = format!("{}/", endpoint(region).trim_end_matches('/'));
    let body = json!({ "SecretId": secret_id }).to_string();
    let headers = [
        ("content-type", "application/x-amz-json-1.1"),
        ("x-amz-target", "secretsmanager.GetSecretValue"),
    ];
    let identity = Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "environment",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("secretsmanager")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let signable = SignableRequest::new(
        "POST",
        &url,
        headers.iter().copied(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .map_err(|e| format!("signable request: {e}"))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    let mut request = http::Request::builder().method("POST").uri(&url);
    for (k, v) in headers {
        request = request.header(k, v);
    }
    let mut request = request.body(()).map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut request);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .tls_certs_merge(crate::jwks_client::built_in_roots())
        .build()
        .map_err(|e| e.to_string())?;
    let mut call = client.post(&url).body(body);
    for (k, v) in request.headers() {
        call = call.header(k, v);
    }
    let resp = call
        .send()
        .await
        .map_err(|e| format!("Secrets Manager at {url}: {e}"))?;
    let status = resp.status();
    let doc: Value = resp.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let code = doc["__type"]
            .as_str()
            .unwrap_or("unknown error")
            .rsplit('#')
            .next()
            .unwrap_or("");
        return Err(format!(
            "Secrets Manager refused GetSecretValue on `{secret_id}`: {code} (HTTP {})",
            status.as_u16()
        ));
    }
    doc["SecretString"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            format!("secret `{secret_id}` has no SecretString (binary secrets are not supported)")
        })
}
