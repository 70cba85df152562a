//! IAM database authentication for Aurora PostgreSQL: the password is a SigV4-presigned
//! `connect` URL for the `rds-db` service, signed locally from the process's credentials
//! (on Lambda, the function role's), valid 15 minutes. No network call, no stored password.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};
use aws_sigv4::sign::v4;

/// How long a token may be used to open a connection (the maximum RDS accepts).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

/// Credentials from the standard environment variables (what Lambda provides).
#[derive(Clone)]
pub struct EnvCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for EnvCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl EnvCredentials {
    /// Fixed credentials (an emulator's, in tests).
    pub fn new(access_key_id: &str, secret_access_key: &str) -> EnvCredentials {
        EnvCredentials {
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
            session_token: None,
        }
    }

    pub fn from_env() -> Result<EnvCredentials, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Ok(EnvCredentials {
            access_key_id: var("AWS_ACCESS_KEY_ID")
                .ok_or("AWS credentials are missing: AWS_ACCESS_KEY_ID is not set")?,
            secret_access_key: var("AWS_SECRET_ACCESS_KEY")
                .ok_or("AWS credentials are missing: AWS_SECRET_ACCESS_KEY is not set")?,
            session_token: var("AWS_SESSION_TOKEN"),
        })
    }
}

/// The token RDS accepts as the password of `user` at `host:port` (what `aws rds
/// generate-db-auth-token` prints).
pub fn auth_token(
    host: &str,
    port: u16,
    user: &str,
    region: &str,
    creds: &EnvCredentials,
    now: SystemTime,
) -> Result<String, String> {
    let identity = Credentials::new(
        &creds.access_key_id,
        &creds.secret_access_key,
        creds.session_token.clone(),
        None,
        "environment",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("rds-db")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| format!("signing parameters: {e}"))?
        .into();
    let user =
        percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC).to_string();
    let url = format!("https://{host}:{port}/?Action=connect&DBUser={user}");
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| format!("signable request: {e}"))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| format!("signing: {e}"))?
        .into_parts();
    let mut http_request = http::Request::builder()
        .uri(&url)
        .body(())
        .map_err(|e| e.to_string())?;
    instructions.apply_to_request_http1x(&mut http_request);
    let signed = http_request.uri().to_string();
    Ok(signed
        .strip_prefix("https://")
        .unwrap_or(&signed)
        .to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_has_the_shape_rds_expects() {
        let creds = EnvCredentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("session/token+1".into()),
        };
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200); // 2024-01-01T00:00:00Z
        let token = auth_token(
            "db.cluster-x.eu-west-1.rds.amazonaws.com",
            5432,
            "authserver",
            "eu-west-1",
            &creds,
            t,
        )
        .unwrap();
        assert!(
            token.starts_with("db.cluster-x.eu-west-1.rds.amazonaws.com:5432/?"),
            "{token}"
        );
        for part in [
            "Action=connect",
            "DBUser=authserver",
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Credential=AKIDEXAMPLE%2F20240101%2Feu-west-1%2Frds-db%2Faws4_request",
            "X-Amz-Date=20240101T000000Z",
            "X-Amz-Expires=900",
            "X-Amz-SignedHeaders=host",
            "X-Amz-Security-Token=session%2Ftoken%2B1",
        ] {
            assert!(token.contains(part), "{part} missing in {token}");
        }
        let sig = token
            .split("X-Amz-Signature=")
            .nth(1)
            .unwrap()
            .split('&')
            .next()
            .unwrap();
        assert_eq!(sig.len(), 64);
        // Deterministic for the same inputs, different for another user.
        assert_eq!(
            token,
            auth_token(
                "db.cluster-x.eu-west-1.rds.amazonaws.com",
                5432,
                "authserver",
                "eu-west-1",
                &creds,
                t
            )
            .unwrap()
        );
        assert_ne!(
            token,
            auth_token(
                "db.cluster-x.eu-west-1.rds.amazonaws.com",
                5432,
                "other",
                "eu-west-1",
                &creds,
                t
            )
            .unwrap()
        );
    }
}
