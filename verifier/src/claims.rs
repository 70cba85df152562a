//! RFC 9068 claims (pure): what a verified access token says, and the checks on it.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::VerifyError;
use crate::keys::Algorithm;

/// A verified access token: who it was issued to, for which resource servers, with which
/// scopes. Every other claim is in `claims`.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessToken {
    pub issuer: String,
    pub subject: String,
    pub client_id: String,
    pub audience: Vec<String>,
    pub scopes: Vec<String>,
    pub expires_at: i64,
    pub issued_at: i64,
    pub not_before: Option<i64>,
    pub jwt_id: String,
    /// The key and algorithm that signed it.
    pub key_id: String,
    pub algorithm: Algorithm,
    /// Every claim, as sent.
    pub claims: Map<String, Value>,
}

impl AccessToken {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// The scopes of `required` this token lacks (empty: it has them all).
    pub fn missing_scopes<'a, I>(&self, required: I) -> Vec<String>
    where
        I: IntoIterator<Item = &'a str>,
    {
        required
            .into_iter()
            .filter(|r| !self.has_scope(r))
            .map(str::to_owned)
            .collect()
    }
}

/// A NumericDate (RFC 7519 §2): seconds, possibly fractional.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or(VerifyError::MissingClaim(name)),
        Some(_) => Err(VerifyError::MissingClaim(name)),
    }
}

fn string(claims: &Map<String, Value>, name: &'static str) -> Result<String, VerifyError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(VerifyError::MissingClaim(name))
}

/// Parse the payload into an [`AccessToken`]; every claim RFC 9068 §2.2 requires must be
/// present (`iss`, `exp`, `aud`, `sub`, `client_id`, `iat`, `jti`).
pub fn parse(
    payload: &[u8],
    key_id: &str,
    algorithm: Algorithm,
) -> Result<AccessToken, VerifyError> {
    let claims: Map<String, Value> = serde_json::from_slice(payload)
        .map_err(|_| VerifyError::Malformed("the payload is not a JSON object"))?;
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    let audience = match claims
        .get("aud")
        .cloned()
        .map(serde_json::from_value::<Aud>)
    {
        Some(Ok(Aud::One(a))) => vec![a],
        Some(Ok(Aud::Many(a))) if !a.is_empty() => a,
        _ => return Err(VerifyError::MissingClaim("aud")),
    };
    let scopes = match claims.get("scope") {
        None => Vec::new(),
        Some(Value::String(s)) => s
            .split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(_) => return Err(VerifyError::MissingClaim("scope")),
    };
    Ok(AccessToken {
        issuer: string(&claims, "iss")?,
        subject: string(&claims, "sub")?,
        client_id: string(&claims, "client_id")?,
        audience,
        scopes,
        expires_at: numeric_date(&claims, "exp")?.ok_or(VerifyError::MissingClaim("exp"))?,
        issued_at: numeric_date(&claims, "iat")?.ok_or(VerifyError::MissingClaim("iat"))?,
        not_before: numeric_date(&claims, "nbf")?,
        jwt_id: string(&claims, "jti")?,
        key_id: key_id.to_owned(),
        algorithm,
        claims,
    })
}

/// Which audience a verifier accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudiencePolicy {
    /// `aud` must contain this identifier (a resource server).
    Is(String),
    /// Any audience: only for the issuer itself (introspecting its own tokens).
    Any,
}

/// The time-independent and time-dependent checks after the signature: issuer, audience,
/// `exp` / `nbf` / `iat` with `leeway` seconds, then scopes.
pub fn check(
    token: &AccessToken,
    issuer: &str,
    audience: &AudiencePolicy,
    now: i64,
    leeway: i64,
    required_scopes: &[&str],
) -> Result<(), VerifyError> {
    if token.issuer != issuer {
        return Err(VerifyError::Issuer(token.issuer.clone()));
    }
    if let AudiencePolicy::Is(want) = audience
        && !token.audience.iter().any(|a| a == want)
    {
        return Err(VerifyError::Audience(token.audience.clone()));
    }
    if now >= token.expires_at.saturating_add(leeway) {
        return Err(VerifyError::Expired {
            exp: token.expires_at,
            now,
        });
    }
    if let Some(nbf) = token.not_before
        && now.saturating_add(leeway) < nbf
    {
        return Err(VerifyError::NotYetValid { nbf, now });
    }
    if token.issued_at > now.saturating_add(leeway) {
        return Err(VerifyError::IssuedInFuture {
            iat: token.issued_at,
            now,
        });
    }
    let missing = token.missing_scopes(required_scopes.iter().copied());
    if !missing.is_empty() {
        return Err(VerifyError::InsufficientScope { missing });
    }
    Ok(())
}
