//! Why a token was refused, as something a caller can act on, and its RFC 6750 answer:
//! `401` with `WWW-Authenticate: Bearer error="invalid_token"` for a token that is not
//! acceptable, `403` with `error="insufficient_scope", scope="…"` for one that lacks a
//! scope, a bare `Bearer` challenge (no error code, RFC 6750 §3.1) when there is no token
//! at all, and `503` when the issuer's keys cannot be had: never an allow.

use std::fmt;

use http::{HeaderValue, StatusCode};

/// A refused token (or no token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The request carries no bearer token.
    #[error("no bearer token")]
    Missing,
    /// Not a compact JWS this verifier reads (the reason says which part).
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `alg` is not on the allow-list (`none`, HMAC and anything not configured).
    #[error("algorithm `{0}` is not accepted")]
    Algorithm(String),
    /// The header's `typ` is not `at+jwt` (an ID token or another JWT).
    #[error("token type {} is not at+jwt (RFC 9068)", .0.as_deref().map(|t| format!("`{t}`")).unwrap_or_else(|| "(none)".into()))]
    TokenType(Option<String>),
    /// No key of the issuer has this `kid` (after a refetch, where one was allowed).
    #[error("no key of the issuer has kid `{0}`")]
    UnknownKey(String),
    /// The key the `kid` names is of another type than `alg` needs (an RSA key for ES256…).
    #[error("key `{kid}` is a {key_type} key and cannot verify {alg}")]
    KeyMismatch {
        kid: String,
        alg: String,
        key_type: &'static str,
    },
    #[error("the signature does not verify")]
    BadSignature,
    /// A claim RFC 9068 requires is absent or of the wrong type.
    #[error("claim `{0}` is missing or not of the right type")]
    MissingClaim(&'static str),
    #[error("issued by `{0}`, not by the expected issuer")]
    Issuer(String),
    #[error("audience {0:?} does not include this resource server")]
    Audience(Vec<String>),
    #[error("expired at {exp} (now {now})")]
    Expired { exp: i64, now: i64 },
    #[error("not valid before {nbf} (now {now})")]
    NotYetValid { nbf: i64, now: i64 },
    #[error("issued in the future ({iat}, now {now})")]
    IssuedInFuture { iat: i64, now: i64 },
    /// Revoked by the issuer (for callers that consult a revocation list or introspection).
    #[error("revoked")]
    Revoked,
    /// The token is valid but lacks these scopes.
    #[error("missing scope(s): {}", .missing.join(" "))]
    InsufficientScope { missing: Vec<String> },
    /// The issuer's keys could not be fetched (and none are cached): answer 503.
    #[error("the issuer's keys are unavailable: {0}")]
    KeysUnavailable(String),
}

/// What kind of answer a refusal is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials: a bare challenge.
    Unauthenticated,
    /// `invalid_token` (401).
    InvalidToken,
    /// `insufficient_scope` (403).
    InsufficientScope,
    /// The verifier cannot decide (503): the caller must deny, and may retry later.
    Unavailable,
}

impl VerifyError {
    pub fn refusal(&self) -> Refusal {
        match self {
            VerifyError::Missing => Refusal::Unauthenticated,
            VerifyError::InsufficientScope { .. } => Refusal::InsufficientScope,
            VerifyError::KeysUnavailable(_) => Refusal::Unavailable,
            _ => Refusal::InvalidToken,
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self.refusal() {
            Refusal::Unauthenticated | Refusal::InvalidToken => StatusCode::UNAUTHORIZED,
            Refusal::InsufficientScope => StatusCode::FORBIDDEN,
            Refusal::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The RFC 6750 `error` code, if the answer carries one.
    pub fn error_code(&self) -> Option<&'static str> {
        match self.refusal() {
            Refusal::Unauthenticated | Refusal::Unavailable => None,
            Refusal::InvalidToken => Some("invalid_token"),
            Refusal::InsufficientScope => Some("insufficient_scope"),
        }
    }

    /// A description for the client: what is wrong, never a value taken from the token
    /// (it goes into a header and may be attacker-chosen).
    pub fn description(&self) -> &'static str {
        match self {
            VerifyError::Missing => "a bearer token is required",
            VerifyError::Malformed(_) => "the token is not a well-formed JWT",
            VerifyError::Algorithm(_) => "the token's signing algorithm is not accepted",
            VerifyError::TokenType(_) => "the token is not an access token (typ at+jwt)",
            VerifyError::UnknownKey(_) => "the token is signed with an unknown key",
            VerifyError::KeyMismatch { .. } => "the token's algorithm does not match its key",
            VerifyError::BadSignature => "the token's signature is invalid",
            VerifyError::MissingClaim(_) => "the token lacks a required claim",
            VerifyError::Issuer(_) => "the token is from another issuer",
            VerifyError::Audience(_) => "the token is not meant for this resource server",
            VerifyError::Expired { .. } => "the token has expired",
            VerifyError::NotYetValid { .. } => "the token is not valid yet",
            VerifyError::IssuedInFuture { .. } => "the token is issued in the future",
            VerifyError::Revoked => "the token has been revoked",
            VerifyError::InsufficientScope { .. } => "the token lacks a required scope",
            VerifyError::KeysUnavailable(_) => "the token cannot be verified now",
        }
    }

    /// The `WWW-Authenticate` challenge (none for 503).
    pub fn challenge(&self, realm: Option<&str>) -> Option<HeaderValue> {
        let mut c = Challenge::new(realm);
        match self {
            VerifyError::KeysUnavailable(_) => return None,
            VerifyError::Missing => {}
            VerifyError::InsufficientScope { missing } => {
                c.param("error", "insufficient_scope");
                c.param("error_description", self.description());
                c.param("scope", &missing.join(" "));
            }
            _ => {
                c.param("error", "invalid_token");
                c.param("error_description", self.description());
            }
        }
        HeaderValue::from_str(&c.0).ok()
    }
}

/// `Bearer realm="…", error="…"` with quoted-string values restricted to what RFC 6750
/// §3 allows (printable ASCII without `"` and `\`).
struct Challenge(String);

impl Challenge {
    fn new(realm: Option<&str>) -> Challenge {
        let mut c = Challenge("Bearer".to_owned());
        if let Some(r) = realm {
            c.param("realm", r);
        }
        c
    }
    fn param(&mut self, name: &str, value: &str) {
        let sep = if self.0 == "Bearer" { " " } else { ", " };
        let clean: String = value
            .chars()
            .filter(|c| matches!(*c as u32, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E))
            .collect();
        self.0.push_str(&format!("{sep}{name}=\"{clean}\""));
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::InvalidToken => "invalid_token",
            Refusal::InsufficientScope => "insufficient_scope",
            Refusal::Unavailable => "unavailable",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6750_answers() {
        let none = VerifyError::Missing;
        assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(none.challenge(Some("api")).unwrap(), "Bearer realm=\"api\"");
        assert_eq!(none.challenge(None).unwrap(), "Bearer");

        let expired = VerifyError::Expired { exp: 1, now: 2 };
        assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            expired.challenge(None).unwrap(),
            "Bearer error=\"invalid_token\", error_description=\"the token has expired\""
        );

        let scope = VerifyError::InsufficientScope {
            missing: vec!["orders/read".into(), "orders/write".into()],
        };
        assert_eq!(scope.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            scope.challenge(Some("orders")).unwrap(),
            "Bearer realm=\"orders\", error=\"insufficient_scope\", error_description=\"the token lacks a required scope\", scope=\"orders/read orders/write\""
        );

        let down = VerifyError::KeysUnavailable("timeout".into());
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(down.challenge(None).is_none());
    }

    #[test]
    fn challenge_values_cannot_break_out_of_their_quotes() {
        let e = VerifyError::InsufficientScope {
            missing: vec!["a\"b\\c\r\nX-Evil: 1".into()],
        };
        let v = e.challenge(None).unwrap();
        assert_eq!(v.to_str().unwrap().matches('"').count(), 6, "{v:?}");
        assert!(!v.to_str().unwrap().contains('\n'));
    }
}
