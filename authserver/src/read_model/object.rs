//! EDGE. The read model's objects in S3: a conditional GET (`If-None-Match`, so an
//! unchanged copy costs a 304 and no body), conditional PUTs (`If-None-Match: *` to create
//! only, `If-Match: <etag>` to replace only what was read: S3's compare-and-swap), and a
//! HEAD. Signed with SigV4 from the environment's credentials (the function's role), as the
//! other AWS calls of the auth server are: the SDK would add megabytes to the Lambda image
//! and a second HTTP stack for four requests.
//!
//! S3 answers documented for conditional requests
//! (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html):
//! 304 for a GET whose ETag matches `If-None-Match`; 412 `PreconditionFailed` for a PUT
//! whose condition does not hold; 409 `ConditionalRequestConflict` when a concurrent
//! conditional write to the same key won (retry); 404 `NoSuchKey` for `If-Match` on a key
//! that does not exist.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use bytes::Bytes;

use crate::settings::ReadModelSettings;
use crate::store::iam_auth::EnvCredentials;

/// The header that carries a snapshot's version (S3 user metadata).
pub const VERSION_HEADER: &str = "x-amz-meta-authdomain-version";

/// Why an object request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ObjectError {
    /// S3 could not be reached or answered 5xx / SlowDown: try again later.
    #[error("S3 is unavailable: {0}")]
    Unavailable(String),
    /// S3 refused the request (credentials, permissions, a wrong bucket).
    #[error("S3 refused {action} {key}: {code} (HTTP {status})")]
    Refused {
        action: &'static str,
        key: String,
        code: String,
        status: u16,
    },
    #[error("the read model's location `{0}` is not s3://BUCKET/PREFIX")]
    Location(String),
    #[error("credentials: {0}")]
    Credentials(String),
}

impl ObjectError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ObjectError::Unavailable(_))
    }
}

/// What a GET found.
#[derive(Debug)]
pub enum Fetched {
    /// The object is the one `If-None-Match` named.
    NotModified,
    Absent,
    Found {
        etag: String,
        body: Bytes,
    },
}

/// How a PUT may write.
#[derive(Debug, Clone, Copy)]
pub enum Condition<'a> {
    /// Only if nothing is there (`If-None-Match: *`).
    Create,
    /// Only if the object is still the one with this ETag (`If-Match`).
    Replace(&'a str),
}

/// What a conditional PUT did.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    Done {
        etag: String,
    },
    /// The condition did not hold: someone else wrote first (412), or a concurrent
    /// conditional write is in progress (409), or the object to replace is gone (404).
    Lost,
}

/// The read model's place in S3: a bucket and a key prefix.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    bucket: String,
    prefix: String,
    region: String,
    /// `https://s3.<region>.amazonaws.com` (virtual-hosted: the bucket in the host) or an
    /// emulator's address (path-style).
    endpoint: Option<String>,
    credentials: Option<EnvCredentials>,
    http: reqwest::Client,
}

impl ObjectStore {
    /// The read model's place as `settings` say. The endpoint is theirs, else
    /// `AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` when set (an emulator), else the
    /// region's S3 endpoint (which the VPC's S3 gateway endpoint serves); the credentials
    /// theirs, else the environment's at each request (Lambda's role, refreshed by Lambda).
    pub fn new(settings: &ReadModelSettings) -> Result<ObjectStore, ObjectError> {
        let location = settings.location.as_str();
        let (bucket, prefix) = crate::settings::parse_read_model_location(location)
            .map_err(|_| ObjectError::Location(location.to_owned()))?;
        let endpoint = settings.endpoint.clone().or_else(|| {
            std::env::var("AWS_ENDPOINT_URL_S3")
                .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                .ok()
                .filter(|v| !v.is_empty())
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(2))
            .tls_certs_merge(crate::jwks_client::built_in_roots())
            .build()
            .map_err(|e| ObjectError::Unavailable(e.to_string()))?;
        Ok(ObjectStore {
            bucket,
            prefix,
            region: settings.region.clone(),
            endpoint,
            credentials: settings.credentials.clone(),
            http,
        })
    }

    /// `s3://bucket/prefix`, for logs.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn url(&self, key: &str) -> String {
        let key = if self.prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{}/{key}", self.prefix)
        };
        match &self.endpoint {
            Some(e) => format!("{}/{}/{key}", e.trim_end_matches('/'), self.bucket),
            None => format!(
                "https://{}.s3.{}.amazonaws.com/{key}",
                self.bucket, self.region
            ),
        }
    }

    /// GET `key`, unless it is still `if_none_match`.
    pub async fn get(
        &self,
        key: &str,
        if_none_match: Option<&str>,
    ) -> Result<Fetched, ObjectError> {
        let mut headers = Vec::new();
        if let Some(etag) = if_none_match {
            headers.push(("if-none-match", etag.to_owned()));
        }
        let resp = self.send("GET", key, &headers, Bytes::new()).await?;
        match resp.status().as_u16() {
            304 => Ok(Fetched::NotModified),
            404 => Ok(Fetched::Absent),
            200 => {
                let etag = etag_of(&resp);
                let body = resp
                    .bytes()
                    .await
                    .map_err(|e| ObjectError::Unavailable(format!("reading {key}: {e}")))?;
                Ok(Fetched::Found { etag, body })
            }
            _ => Err(refusal("GET", key, resp).await),
        }
    }

    /// HEAD `key`: its ETag and version metadata, or None when it does not exist.
    pub async fn head(&self, key: &str) -> Result<Option<(String, Option<i64>)>, ObjectError> {
        let resp = self.send("HEAD", key, &[], Bytes::new()).await?;
        match resp.status().as_u16() {
            404 => Ok(None),
            200 => {
                let version = resp
                    .headers()
                    .get(VERSION_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok());
                Ok(Some((etag_of(&resp), version)))
            }
            _ => Err(refusal("HEAD", key, resp).await),
        }
    }

    /// PUT `body` at `key` under `condition`, with `metadata` headers.
    pub async fn put(
        &self,
        key: &str,
        body: Bytes,
        condition: Condition<'_>,
        metadata: &[(&'static str, String)],
    ) -> Result<Written, ObjectError> {
        let mut headers: Vec<(&str, String)> = metadata.to_vec();
        match condition {
            Condition::Create => headers.push(("if-none-match", "*".to_owned())),
            Condition::Replace(etag) => headers.push(("if-match", etag.to_owned())),
        }
        headers.push(("content-type", "application/octet-stream".to_owned()));
        let resp = self.send("PUT", key, &headers, body).await?;
        match resp.status().as_u16() {
            200 => Ok(Written::Done {
                etag: etag_of(&resp),
            }),
            412 | 409 => Ok(Written::Lost),
            404 if matches!(condition, Condition::Replace(_)) => Ok(Written::Lost),
            _ => Err(refusal("PUT", key, resp).await),
        }
    }

    async fn send(
        &self,
        method: &'static str,
        key: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<reqwest::Response, ObjectError> {
        let url = self.url(key);
        let creds = match &self.credentials {
            Some(c) => c.clone(),
            None => EnvCredentials::from_env().map_err(ObjectError::Credentials)?,
        };
        let identity = Credentials::new(
            &creds.access_key_id,
            &creds.secret_access_key,
            creds.session_token.clone(),
            None,
            "environment",
        )
        .into();
        // S3's SigV4: the payload's SHA-256 in `x-amz-content-sha256`, the path neither
        // normalised nor encoded twice.
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| ObjectError::Credentials(format!("signing parameters: {e}")))?
            .into();
        let signable = SignableRequest::new(
            method,
            &url,
            headers.iter().map(|(k, v)| (*k, v.as_str())),
            SignableBody::Bytes(&body),
        )
        .map_err(|e| ObjectError::Credentials(format!("signable request: {e}")))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| ObjectError::Credentials(format!("signing: {e}")))?
            .into_parts();
        let mut request = http::Request::builder().method(method).uri(&url);
        for (k, v) in headers {
            request = request.header(*k, v);
        }
        let mut request = request
            .body(())
            .map_err(|e| ObjectError::Location(e.to_string()))?;
        instructions.apply_to_request_http1x(&mut request);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a known method");
        let mut call = self.http.request(method, &url).body(body);
        for (k, v) in request.headers() {
            call = call.header(k, v);
        }
        let resp = call
            .send()
            .await
            .map_err(|e| ObjectError::Unavailable(format!("{}: {e}", self.location())))?;
        let status = resp.status().as_u16();
        if status >= 500 || status == 429 {
            return Err(ObjectError::Unavailable(format!(
                "{} answered HTTP {status}",
                self.location()
            )));
        }
        Ok(resp)
    }
}

fn etag_of(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(reqwest::header::ETAG)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// S3's error code from an XML error document (`<Code>AccessDenied</Code>`).
async fn refusal(action: &'static str, key: &str, resp: reqwest::Response) -> ObjectError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(code, _)| code.to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    ObjectError::Refused {
        action,
        key: key.to_owned(),
        code,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(location: &str) -> ReadModelSettings {
        ReadModelSettings {
            location: location.into(),
            region: "eu-west-1".into(),
            endpoint: None,
            credentials: None,
        }
    }

    #[test]
    fn locations_are_checked_and_addressed_as_s3_wants() {
        let s = ObjectStore::new(&settings("s3://authdomain-prod-123/read-model")).unwrap();
        assert_eq!(s.location(), "s3://authdomain-prod-123/read-model");
        if s.endpoint.is_none() {
            assert_eq!(
                s.url("snapshot"),
                "https://authdomain-prod-123.s3.eu-west-1.amazonaws.com/read-model/snapshot"
            );
        }
        for bad in [
            "https://bucket/x",
            "s3://Bucket/x",
            "s3://b/x",
            "s3://bucket/x?y",
            "s3://bucket/../x",
            "s3://bucket/x y",
        ] {
            assert!(ObjectStore::new(&settings(bad)).is_err(), "{bad}");
        }
    }
}
