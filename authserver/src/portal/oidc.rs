//! The portal as an OpenID Connect relying party: the provider's metadata (discovery), the
//! authorization request with `state`, `nonce` and PKCE (S256), the code exchange as a
//! confidential client (`client_secret_basic`), and the ID token's checks (OpenID Connect
//! Core §3.1.3.7): signature through the provider's JWKS, `iss`, `aud` (and `azp`), `exp`,
//! `iat`, `nonce`. [`check_id_token`] is pure; [`OidcClient`] does the fetching.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::OidcProvider;
use crate::cached::Cached;
use crate::jwks_client::JwksClient;
use crate::outbound::Outbound;

/// Why a sign-in did not finish. Messages are for the person at the browser and the log:
/// they never carry a code, a token or a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignInError {
    #[error("this sign-in was not started in this browser (the state does not match); start again")]
    StateMismatch,
    #[error(
        "this sign-in has expired or was already used; start again (a sign-in must finish within 10 minutes)"
    )]
    UnknownState,
    #[error("the identity provider refused the sign-in: {0}")]
    Refused(String),
    #[error("the identity provider cannot be reached: {0}")]
    Unavailable(String),
    #[error("the identity provider's ID token was not accepted: {0}")]
    InvalidIdToken(String),
    #[error(
        "{who} is signed in at the identity provider but in no AuthDomain team or admin group (groups: {groups}); ask an admin to map one of your groups"
    )]
    NoRole { who: String, groups: String },
    #[error("development sign-in is only accepted from this machine (a loopback address)")]
    NotLoopback,
}

/// The provider's endpoints, from its discovery document.
#[derive(Debug, Clone, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// What an ID token must say.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// Seconds of clock skew allowed on `exp` and `iat`.
    pub leeway: u64,
}

/// Algorithms accepted for ID tokens: asymmetric only (never `none`, never HMAC, whose key
/// would be our client secret).
const ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// The `kid` and `alg` of an ID token's header, checked against the allow-list.
pub fn header(id_token: &str) -> Result<(Option<String>, Algorithm), SignInError> {
    let h = jsonwebtoken::decode_header(id_token)
        .map_err(|e| SignInError::InvalidIdToken(format!("not a signed JWT: {e}")))?;
    if !ALGORITHMS.contains(&h.alg) && h.alg != Algorithm::EdDSA {
        return Err(SignInError::InvalidIdToken(format!(
            "algorithm {:?} is not accepted",
            h.alg
        )));
    }
    Ok((h.kid, h.alg))
}

/// Check an ID token with the provider's key: signature, `iss`, `aud`, `azp`, `exp`,
/// `iat`, `nonce`. Returns its claims.
pub fn check_id_token(id_token: &str, key: &Jwk, want: &Expected) -> Result<Value, SignInError> {
    let (_, alg) = header(id_token)?;
    let decoding = DecodingKey::from_jwk(key)
        .map_err(|e| SignInError::InvalidIdToken(format!("the provider's key is unusable: {e}")))?;
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.set_issuer(&[want.issuer]);
    v.set_audience(&[want.client_id]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    v.leeway = want.leeway;
    let data = jsonwebtoken::decode::<Value>(id_token, &decoding, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind as K;
        SignInError::InvalidIdToken(match e.kind() {
            K::InvalidSignature => "the signature does not verify".into(),
            K::InvalidIssuer => format!("it was not issued by `{}`", want.issuer),
            K::InvalidAudience => format!("it is not for this portal (`{}`)", want.client_id),
            K::ExpiredSignature => "it has expired".into(),
            K::ImmatureSignature => "it is not valid yet".into(),
            K::MissingRequiredClaim(c) => format!("it has no `{c}` claim"),
            _ => e.to_string(),
        })
    })?;
    let claims = data.claims;
    // Core §3.1.3.7 (4, 5): with several audiences, `azp` must be us.
    let audiences = match &claims["aud"] {
        Value::Array(a) => a.len(),
        _ => 1,
    };
    if let Some(azp) = claims.get("azp").and_then(Value::as_str) {
        if azp != want.client_id {
            return Err(SignInError::InvalidIdToken(format!(
                "it was issued to another party (`azp` {azp})"
            )));
        }
    } else if audiences > 1 {
        return Err(SignInError::InvalidIdToken(
            "it has several audiences and no `azp`".into(),
        ));
    }
    let now = crate::ids::now();
    if claims["iat"]
        .as_i64()
        .is_some_and(|iat| iat > now + want.leeway as i64)
    {
        return Err(SignInError::InvalidIdToken(
            "it was issued in the future".into(),
        ));
    }
    let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or("");
    if !crate::ids::constant_time_eq(nonce.as_bytes(), want.nonce.as_bytes()) {
        return Err(SignInError::InvalidIdToken(
            "its nonce is not the one this sign-in sent (a replayed or injected token)".into(),
        ));
    }
    Ok(claims)
}

/// PKCE (RFC 7636): a verifier of 43 characters and its S256 challenge.
pub fn pkce_pair() -> (String, String) {
    let verifier = crate::ids::random_token(32);
    (verifier.clone(), s256(&verifier))
}

pub fn s256(verifier: &str) -> String {
    B64.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

/// The provider, its metadata and keys, fetched on first use and cached.
pub struct OidcClient {
    pub provider: OidcProvider,
    outbound: Outbound,
    http: reqwest::Client,
    metadata: RwLock<Option<Cached<ProviderMetadata>>>,
    keys: JwksClient,
}

const METADATA_MAX_AGE: Duration = Duration::from_secs(3600);
/// The largest discovery document or token response read.
const METADATA_MAX_BYTES: usize = 256 * 1024;

impl OidcClient {
    /// The provider's URLs (its issuer, and the endpoints its discovery document names)
    /// are fetched under `outbound`'s rules, as a client's `jwks_uri` is: the same
    /// protection against a configuration (or a discovery document) that points inside.
    pub fn new(provider: OidcProvider, outbound: Outbound) -> OidcClient {
        OidcClient {
            provider,
            outbound,
            http: outbound.client(Duration::from_secs(10)),
            metadata: RwLock::new(None),
            keys: JwksClient::new(outbound),
        }
    }

    fn checked(&self, what: &str, url: &str) -> Result<url::Url, SignInError> {
        self.outbound
            .check_url(url)
            .map_err(|e| SignInError::Unavailable(format!("{what}: {e}")))
    }

    /// The provider's metadata (discovery), whose `issuer` must be exactly the one
    /// configured (Discovery §4.3).
    pub async fn metadata(&self) -> Result<Arc<ProviderMetadata>, SignInError> {
        if let Some(c) = self.metadata.read().expect("lock").as_ref()
            && c.at.elapsed() < METADATA_MAX_AGE
        {
            return Ok(c.value.clone());
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.provider.issuer.trim_end_matches('/')
        );
        let checked = self.checked("the provider's issuer", &url)?;
        let resp = self
            .http
            .get(checked)
            .send()
            .await
            .map_err(|e| SignInError::Unavailable(format!("{url}: {}", without_url(&e))))?;
        let body = crate::outbound::read_capped(resp, METADATA_MAX_BYTES)
            .await
            .map_err(|e| SignInError::Unavailable(format!("{url}: {e}")))?;
        let m: ProviderMetadata = serde_json::from_slice(&body).map_err(|e| {
            SignInError::Unavailable(format!("{url} is not a discovery document: {e}"))
        })?;
        if m.issuer != self.provider.issuer {
            return Err(SignInError::Unavailable(format!(
                "the discovery document names issuer `{}`, not the configured `{}`",
                m.issuer, self.provider.issuer
            )));
        }
        let m = Arc::new(m);
        *self.metadata.write().expect("lock") = Some(Cached::new(m.clone()));
        Ok(m)
    }

    /// Where to send the browser.
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> Result<String, SignInError> {
        let m = self.metadata().await?;
        let mut url = url::Url::parse(&m.authorization_endpoint).map_err(|_| {
            SignInError::Unavailable("the authorization endpoint is not a URL".into())
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.provider.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &self.provider.scopes.join(" "))
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchange the code for tokens and check the ID token; its claims.
    pub async fn finish(
        &self,
        redirect_uri: &str,
        code: &str,
        verifier: &str,
        nonce: &str,
    ) -> Result<Value, SignInError> {
        let m = self.metadata().await?;
        // RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let token_endpoint = self.checked("the token endpoint", &m.token_endpoint)?;
        let resp = self
            .http
            .post(token_endpoint)
            .basic_auth(
                enc(&self.provider.client_id),
                Some(enc(&self.provider.client_secret.0)),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .map_err(|e| {
                SignInError::Unavailable(format!("token endpoint: {}", without_url(&e)))
            })?;
        let status = resp.status();
        let body: Value = crate::outbound::read_body_capped(resp, METADATA_MAX_BYTES)
            .await
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        if !status.is_success() {
            let error = body["error"].as_str().unwrap_or("no error code");
            let description = body["error_description"].as_str().unwrap_or("");
            return Err(if status.is_server_error() {
                SignInError::Unavailable(format!("token endpoint answered HTTP {status}"))
            } else {
                SignInError::Refused(format!("{error} {description}").trim().to_owned())
            });
        }
        let id_token = body["id_token"].as_str().ok_or_else(|| {
            SignInError::InvalidIdToken("the token response has no id_token".into())
        })?;
        let (kid, _) = header(id_token)?;
        let set = self
            .keys
            .get(&m.jwks_uri, kid.as_deref())
            .await
            .map_err(SignInError::Unavailable)?;
        let key = match &kid {
            Some(k) => set.find(k),
            None if set.keys.len() == 1 => set.keys.first(),
            None => None,
        }
        .ok_or_else(|| {
            SignInError::InvalidIdToken(
                "it is signed with a key the provider does not publish".into(),
            )
        })?;
        check_id_token(
            id_token,
            key,
            &Expected {
                issuer: &self.provider.issuer,
                client_id: &self.provider.client_id,
                nonce,
                leeway: 60,
            },
        )
    }
}

/// A reqwest error's text without its URL's query (which could hold a code).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(u) = e.url()
        && let Some(q) = u.query()
    {
        text = text.replace(q, "…");
    }
    text
}
