//! The compact JWS form (RFC 7515 §7.1), read strictly (pure): three base64url parts
//! without padding, a JSON header whose `crit` this verifier would have to understand
//! (it understands none), and a size bound.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;

use crate::error::VerifyError;

/// Larger tokens are refused before any work (access tokens are well under 2 KB).
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

#[derive(Debug, Deserialize)]
pub struct Header {
    pub alg: String,
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub crit: Option<Vec<String>>,
}

/// A token split into its parts (the signature not yet checked).
#[derive(Debug)]
pub struct Compact<'a> {
    pub header: Header,
    /// `header.payload`, what the signature covers.
    pub signing_input: &'a str,
    pub payload_b64: &'a str,
    pub signature: Vec<u8>,
}

pub fn split(token: &str) -> Result<Compact<'_>, VerifyError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(VerifyError::Malformed("longer than 8 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed("not three dot-separated parts"));
    };
    let header_bytes = B64
        .decode(h)
        .map_err(|_| VerifyError::Malformed("the header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header_bytes)
        .map_err(|_| VerifyError::Malformed("the header is not a JSON object with `alg`"))?;
    if header.crit.as_ref().is_some_and(|c| !c.is_empty()) {
        return Err(VerifyError::Malformed(
            "the header has `crit` extensions this verifier does not understand",
        ));
    }
    if p.is_empty()
        || !p
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(VerifyError::Malformed("the payload is not base64url"));
    }
    let signature = B64
        .decode(s)
        .map_err(|_| VerifyError::Malformed("the signature is not base64url"))?;
    Ok(Compact {
        header,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload_b64: p,
        signature,
    })
}

/// Whether a `typ` value names an RFC 9068 access token (`at+jwt`, or the full media type
/// `application/at+jwt`; compared without case, RFC 7515 §4.1.9).
pub fn is_access_token_type(typ: &str) -> bool {
    let t = typ.to_ascii_lowercase();
    t == "at+jwt" || t == "application/at+jwt"
}

pub fn payload(c: &Compact<'_>) -> Result<Vec<u8>, VerifyError> {
    B64.decode(c.payload_b64)
        .map_err(|_| VerifyError::Malformed("the payload is not base64url"))
}
