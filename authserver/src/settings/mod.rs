//! Runtime settings of an authority (the CLI and the Lambda adapter fill them from flags
//! and environment variables; see `main.rs` for the names).

pub mod portal;

use std::time::Duration;

use crate::keys::Algorithm;
use crate::throttle::ThrottleSettings;

#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer identifier, exactly as configured (RFC 8414 §2: `iss` and discovery use it).
    pub issuer: String,
    pub signing_alg: Algorithm,
    /// Access token lifetime when the client sets none.
    pub default_token_ttl: i64,
    /// Upper bound for any client's TTL; retired keys stay published this long.
    pub max_token_ttl: i64,
    /// How long an instance may serve a cached client or resource-server catalogue.
    pub cache_ttl: Duration,
    /// How often an instance reloads signing keys (to follow rotations by others).
    pub key_refresh: Duration,
    /// `Cache-Control: max-age` of the JWKS and discovery documents.
    pub jwks_max_age: u64,
    /// Total time a request may spend retrying an unavailable database before a 503.
    pub db_retry_deadline: Duration,
    pub throttle: ThrottleSettings,
    /// Server mode: the reverse proxies whose `X-Forwarded-For` is believed (see
    /// [`crate::throttle::source_of`]).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Longest accepted lifetime of a `private_key_jwt` assertion (exp − now).
    pub assertion_max_lifetime: i64,
    /// The self-serve portal (None: `/portal` explains how to configure it).
    pub portal: Option<portal::PortalSettings>,
    /// The published read model (None: the token path reads the database).
    pub read_model: Option<ReadModelSettings>,
}

/// Where the read model lives (see `crate::read_model`).
#[derive(Debug, Clone)]
pub struct ReadModelSettings {
    /// `s3://BUCKET/PREFIX`.
    pub location: String,
    /// The bucket's region.
    pub region: String,
    /// Another S3 endpoint (an emulator); default: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`,
    /// else the region's.
    pub endpoint: Option<String>,
    /// Fixed credentials; default: the environment's (on Lambda, the function's role).
    pub credentials: Option<crate::store::iam_auth::EnvCredentials>,
}

/// The bucket and the key prefix of an `s3://BUCKET/PREFIX` location: a bucket name as S3
/// allows it, a prefix of safe characters without `.` or `..` segments (they would be
/// normalised out of the URL and sign another key).
pub fn parse_read_model_location(location: &str) -> Result<(String, String), String> {
    let bad = || {
        format!(
            "read model location `{location}`: expected s3://BUCKET/PREFIX (bucket: 3 to 63 of \
             a-z 0-9 - .; prefix: A-Z a-z 0-9 - _ . /)"
        )
    };
    let rest = location.strip_prefix("s3://").ok_or_else(bad)?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let valid_prefix = prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && !prefix.split('/').any(|s| s == "." || s == "..");
    if !valid_bucket || !valid_prefix {
        return Err(bad());
    }
    Ok((bucket.to_owned(), prefix.trim_matches('/').to_owned()))
}

impl Settings {
    pub fn new(issuer: impl Into<String>) -> Settings {
        Settings {
            issuer: issuer.into(),
            signing_alg: Algorithm::RS256,
            default_token_ttl: 3600,
            max_token_ttl: 86_400,
            cache_ttl: Duration::from_secs(5),
            key_refresh: Duration::from_secs(30),
            jwks_max_age: 300,
            db_retry_deadline: Duration::from_secs(20),
            throttle: ThrottleSettings::default(),
            trusted_proxies: Vec::new(),
            assertion_max_lifetime: 3600,
            portal: None,
            read_model: None,
        }
    }

    /// The teams that own resource servers and clients (each gets an
    /// `authdomain:team:NAME` scope on the admin API): the portal's teams.
    pub fn teams(&self) -> Vec<String> {
        self.portal
            .as_ref()
            .map(|p| p.teams.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// `issuer` + `path`, without doubling a trailing slash.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer.trim_end_matches('/'), path)
    }

    /// Check the issuer per RFC 8414 §2: an `https` URL (or `http` on loopback, for local
    /// use) with no query or fragment.
    pub fn validate(&self) -> Result<(), String> {
        let url = url::Url::parse(&self.issuer)
            .map_err(|e| format!("issuer `{}` is not an absolute URL: {e}", self.issuer))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!(
                "issuer `{}` must not have a query or fragment (RFC 8414 §2)",
                self.issuer
            ));
        }
        let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(format!(
                "issuer `{}` must use https (http is accepted only for localhost / 127.0.0.1)",
                self.issuer
            ));
        }
        if let Some(p) = &self.portal {
            p.validate()?;
        }
        if let Some(r) = &self.read_model {
            parse_read_model_location(&r.location)?;
            if r.region.is_empty() {
                return Err("the read model needs the bucket's region (AWS_REGION)".into());
            }
        }
        if self.default_token_ttl <= 0 || self.default_token_ttl > self.max_token_ttl {
            return Err(format!(
                "default token TTL {} s must be positive and at most the maximum TTL {} s",
                self.default_token_ttl, self.max_token_ttl
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_rules() {
        assert!(Settings::new("https://auth.example.com").validate().is_ok());
        assert!(Settings::new("http://127.0.0.1:8080").validate().is_ok());
        assert!(
            Settings::new("http://auth.example.com")
                .validate()
                .unwrap_err()
                .contains("https")
        );
        assert!(
            Settings::new("https://a.example.com/?x=1")
                .validate()
                .unwrap_err()
                .contains("query")
        );
        assert!(
            Settings::new("not a url")
                .validate()
                .unwrap_err()
                .contains("not an absolute URL")
        );
        assert_eq!(
            Settings::new("https://a.example.com/").endpoint("/oauth2/token"),
            "https://a.example.com/oauth2/token"
        );
    }
}
