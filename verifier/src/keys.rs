//! Public keys from a JWKS (pure): each JWK becomes a key parsed once for the algorithms
//! it may verify, so that a verification is one signature check with no key parsing.
//! Only asymmetric keys are read: `oct` (HMAC) keys are ignored, so no key can ever be
//! taken for a shared secret, and an RSA key never verifies an ES256 signature.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;

use crate::error::VerifyError;

/// A JWS algorithm this verifier can check. HMAC and `none` are not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// The key type an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyType {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Rsa => "RSA",
            KeyType::P256 => "EC P-256",
            KeyType::P384 => "EC P-384",
            KeyType::Ed25519 => "Ed25519",
        }
    }
}

impl Algorithm {
    pub const ALL: [Algorithm; 9] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == name)
    }

    pub fn key_type(self) -> KeyType {
        match self {
            Algorithm::ES256 => KeyType::P256,
            Algorithm::ES384 => KeyType::P384,
            Algorithm::EdDSA => KeyType::Ed25519,
            _ => KeyType::Rsa,
        }
    }

    fn rsa_parameters(self) -> Option<&'static signature::RsaParameters> {
        Some(match self {
            Algorithm::RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Algorithm::from_name(s).ok_or_else(|| {
            format!(
                "unsupported algorithm `{s}`: expected one of {}",
                Algorithm::ALL.map(Algorithm::as_str).join(", ")
            )
        })
    }
}

/// One public key, parsed for each algorithm it may verify.
pub struct PublicKey {
    kid: String,
    key_type: KeyType,
    /// The JWK's own `alg`, when it names one: then only that algorithm.
    alg: Option<Algorithm>,
    parsed: Vec<(Algorithm, ParsedPublicKey)>,
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// Verify `signature` over `message` for `alg`; refuses an algorithm the key is not for.
    pub fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> Result<(), VerifyError> {
        let mismatch = || VerifyError::KeyMismatch {
            kid: self.kid.clone(),
            alg: alg.as_str().to_owned(),
            key_type: self.key_type.as_str(),
        };
        if alg.key_type() != self.key_type || self.alg.is_some_and(|a| a != alg) {
            return Err(mismatch());
        }
        let key = self
            .parsed
            .iter()
            .find(|(a, _)| *a == alg)
            .map(|(_, k)| k)
            .ok_or_else(mismatch)?;
        key.verify_sig(message, sig)
            .map_err(|_| VerifyError::BadSignature)
    }
}

/// The JWK members we read (RFC 7517, 7518 §6, 8037).
#[derive(Debug, Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
    #[serde(default)]
    d: Option<serde_json::Value>,
}

/// Why a JWK was not taken (for logs; the rest of the set is still used).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub kid: Option<String>,
    pub why: &'static str,
}

fn b64(v: &Option<String>) -> Option<Vec<u8>> {
    B64.decode(v.as_deref()?).ok()
}

impl PublicKey {
    fn from_jwk(jwk: &Jwk, allowed: &[Algorithm]) -> Result<PublicKey, &'static str> {
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err("`use` is not `sig`");
        }
        if jwk.d.is_some() {
            return Err("it holds a private key (`d`): a JWKS publishes public keys only");
        }
        let kid = jwk.kid.clone().unwrap_or_default();
        let alg = match jwk.alg.as_deref() {
            Some(name) => Some(Algorithm::from_name(name).ok_or("its `alg` is not accepted")?),
            None => None,
        };
        let key_type = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("RSA", _) => KeyType::Rsa,
            ("EC", Some("P-256")) => KeyType::P256,
            ("EC", Some("P-384")) => KeyType::P384,
            ("OKP", Some("Ed25519")) => KeyType::Ed25519,
            ("oct", _) => return Err("symmetric (`oct`) keys are never accepted"),
            _ => return Err("unsupported key type or curve"),
        };
        let algs: Vec<Algorithm> = allowed
            .iter()
            .copied()
            .filter(|a| a.key_type() == key_type && alg.is_none_or(|x| x == *a))
            .collect();
        if algs.is_empty() {
            return Err("no accepted algorithm uses this key");
        }
        let mut parsed = Vec::with_capacity(algs.len());
        for a in algs {
            let key = match key_type {
                KeyType::Rsa => {
                    let (n, e) = (b64(&jwk.n).ok_or("bad `n`")?, b64(&jwk.e).ok_or("bad `e`")?);
                    let params = a.rsa_parameters().ok_or("not an RSA algorithm")?;
                    RsaPublicKeyComponents {
                        n: &n[..],
                        e: &e[..],
                    }
                    .to_parsed_public_key(params)
                    .map_err(|_| "not a valid RSA public key")?
                }
                KeyType::P256 | KeyType::P384 => {
                    let (x, y) = (b64(&jwk.x).ok_or("bad `x`")?, b64(&jwk.y).ok_or("bad `y`")?);
                    let size = if key_type == KeyType::P256 { 32 } else { 48 };
                    if x.len() != size || y.len() != size {
                        return Err("`x` or `y` has the wrong length for the curve");
                    }
                    let mut point = Vec::with_capacity(1 + 2 * size);
                    point.push(0x04);
                    point.extend_from_slice(&x);
                    point.extend_from_slice(&y);
                    let alg: &'static dyn signature::VerificationAlgorithm =
                        if key_type == KeyType::P256 {
                            &signature::ECDSA_P256_SHA256_FIXED
                        } else {
                            &signature::ECDSA_P384_SHA384_FIXED
                        };
                    ParsedPublicKey::new(alg, point).map_err(|_| "not a point on the curve")?
                }
                KeyType::Ed25519 => {
                    let x = b64(&jwk.x).ok_or("bad `x`")?;
                    ParsedPublicKey::new(&signature::ED25519, x)
                        .map_err(|_| "not a valid Ed25519 key")?
                }
            };
            parsed.push((a, key));
        }
        Ok(PublicKey {
            kid,
            key_type,
            alg,
            parsed,
        })
    }
}

/// The usable keys of a JWKS, by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    by_kid: HashMap<String, Arc<PublicKey>>,
}

impl KeySet {
    /// Parse a JWKS document; keys that cannot be used are skipped and reported.
    pub fn from_jwks(
        json: &[u8],
        allowed: &[Algorithm],
    ) -> Result<(KeySet, Vec<Skipped>), &'static str> {
        #[derive(Deserialize)]
        struct Doc {
            keys: Vec<serde_json::Value>,
        }
        let doc: Doc = serde_json::from_slice(json).map_err(|_| "not a JWKS (no `keys` array)")?;
        let mut set = KeySet::default();
        let mut skipped = Vec::new();
        for value in doc.keys {
            let jwk: Jwk = match serde_json::from_value(value) {
                Ok(j) => j,
                Err(_) => {
                    skipped.push(Skipped {
                        kid: None,
                        why: "not a JWK",
                    });
                    continue;
                }
            };
            match PublicKey::from_jwk(&jwk, allowed) {
                Ok(k) => {
                    set.by_kid.insert(k.kid.clone(), Arc::new(k));
                }
                Err(why) => skipped.push(Skipped {
                    kid: jwk.kid.clone(),
                    why,
                }),
            }
        }
        Ok((set, skipped))
    }

    pub fn get(&self, kid: &str) -> Option<Arc<PublicKey>> {
        self.by_kid.get(kid).cloned()
    }

    /// The one key, for a token without `kid` (only when the set holds exactly one).
    pub fn only(&self) -> Option<Arc<PublicKey>> {
        (self.by_kid.len() == 1)
            .then(|| self.by_kid.values().next().cloned())
            .flatten()
    }

    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.by_kid.keys().map(String::as_str)
    }
}
