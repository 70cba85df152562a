//! Signing keys: generation, JWK export, JWT signing and verification (aws-lc-rs), and the
//! key-encryption envelope that protects private keys at rest.

mod kek;
mod ring;

pub use kek::{Kek, KekError};
pub use ring::{KeyRing, KeyState, StoredKey};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::json;

/// A JWS algorithm we sign access tokens with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    RS256,
    ES256,
    EdDSA,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "RS256" => Ok(Algorithm::RS256),
            "ES256" => Ok(Algorithm::ES256),
            "EdDSA" => Ok(Algorithm::EdDSA),
            other => Err(format!(
                "unsupported signing algorithm `{other}`: expected RS256, ES256 or EdDSA"
            )),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key generation failed for {0}")]
    Generate(Algorithm),
    #[error("stored private key {kid} could not be parsed: {why}")]
    Parse { kid: String, why: String },
    #[error("signing failed")]
    Sign,
}

enum Pair {
    Rsa(aws_lc_rs::rsa::KeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with its precomputed JWS header and public JWK.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    pair: Pair,
    /// `base64url({"alg":…,"typ":"at+jwt","kid":…})`, computed once.
    header_b64: String,
    public_jwk: serde_json::Value,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generate a new key; returns it and its PKCS#8 encoding (to be encrypted and stored).
    pub fn generate(alg: Algorithm) -> Result<(SigningKey, Vec<u8>), KeyError> {
        let der = match alg {
            Algorithm::RS256 => {
                let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| KeyError::Generate(alg))?;
                let der: aws_lc_rs::encoding::Pkcs8V1Der =
                    kp.as_der().map_err(|_| KeyError::Generate(alg))?;
                der.as_ref().to_vec()
            }
            Algorithm::ES256 => EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|_| KeyError::Generate(alg))?
                .as_ref()
                .to_vec(),
            Algorithm::EdDSA => Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|_| KeyError::Generate(alg))?
                .as_ref()
                .to_vec(),
        };
        let key = SigningKey::from_pkcs8(None, alg, &der)?;
        Ok((key, der))
    }

    /// Load a key from PKCS#8. `kid` defaults to the RFC 7638 thumbprint of the public JWK.
    pub fn from_pkcs8(
        kid: Option<&str>,
        alg: Algorithm,
        der: &[u8],
    ) -> Result<SigningKey, KeyError> {
        let err = |why: String| KeyError::Parse {
            kid: kid.unwrap_or("<new>").to_owned(),
            why,
        };
        let (pair, mut jwk) = match alg {
            Algorithm::RS256 => {
                let kp =
                    aws_lc_rs::rsa::KeyPair::from_pkcs8(der).map_err(|e| err(e.to_string()))?;
                let public = kp.public_key();
                let jwk = json!({
                    "e": B64.encode(public.exponent().big_endian_without_leading_zero()),
                    "kty": "RSA",
                    "n": B64.encode(public.modulus().big_endian_without_leading_zero()),
                });
                (Pair::Rsa(kp), jwk)
            }
            Algorithm::ES256 => {
                let kp = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|e| err(e.to_string()))?;
                let point = kp.public_key().as_ref().to_vec(); // 0x04 || x || y
                if point.len() != 65 {
                    return Err(err("unexpected P-256 public key length".into()));
                }
                let jwk = json!({
                    "crv": "P-256",
                    "kty": "EC",
                    "x": B64.encode(&point[1..33]),
                    "y": B64.encode(&point[33..65]),
                });
                (Pair::Ec(kp), jwk)
            }
            Algorithm::EdDSA => {
                let kp = Ed25519KeyPair::from_pkcs8(der).map_err(|e| err(e.to_string()))?;
                let jwk = json!({ "crv": "Ed25519", "kty": "OKP", "x": B64.encode(kp.public_key().as_ref()) });
                (Pair::Ed(kp), jwk)
            }
        };
        let kid = match kid {
            Some(k) => k.to_owned(),
            None => thumbprint(&jwk),
        };
        let obj = jwk.as_object_mut().expect("jwk is an object");
        obj.insert("kid".into(), json!(kid));
        obj.insert("use".into(), json!("sig"));
        obj.insert("alg".into(), json!(alg.as_str()));
        let header = json!({ "alg": alg.as_str(), "typ": "at+jwt", "kid": kid });
        let header_b64 = B64.encode(serde_json::to_vec(&header).expect("serialisable"));
        Ok(SigningKey {
            kid,
            alg,
            pair,
            header_b64,
            public_jwk: jwk,
            rng: SystemRandom::new(),
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.public_jwk
    }

    /// Sign `claims` (serialised JSON) as a compact JWS with this key's `at+jwt` header.
    pub fn sign_jwt(&self, claims_json: &[u8]) -> Result<String, KeyError> {
        let mut token =
            String::with_capacity(self.header_b64.len() + claims_json.len() * 4 / 3 + 400);
        token.push_str(&self.header_b64);
        token.push('.');
        B64.encode_string(claims_json, &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        B64.encode_string(&signature, &mut token);
        Ok(token)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&signature::RSA_PKCS1_SHA256, &self.rng, message, &mut sig)
                    .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            Pair::Ec(kp) => Ok(kp
                .sign(&self.rng, message)
                .map_err(|_| KeyError::Sign)?
                .as_ref()
                .to_vec()),
            Pair::Ed(kp) => Ok(kp.sign(message).as_ref().to_vec()),
        }
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url) over the required members, which `jwk`
/// holds in lexicographic order already.
fn thumbprint(jwk: &serde_json::Value) -> String {
    let canonical = serde_json::to_vec(jwk).expect("serialisable");
    B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &canonical,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `token`'s signature verifies with `key`'s public JWK, as a resource server
    /// (the workspace's verifier) reads it.
    fn verifies(key: &SigningKey, token: &str) -> bool {
        let jwks = json!({ "keys": [key.public_jwk()] }).to_string();
        let (set, skipped) = authdomain_verifier::KeySet::from_jwks(
            jwks.as_bytes(),
            &authdomain_verifier::Algorithm::ALL,
        )
        .unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        let c = authdomain_verifier::jwt::split(token).unwrap();
        let alg = authdomain_verifier::Algorithm::from_name(&c.header.alg).unwrap();
        set.get(key.kid())
            .unwrap()
            .verify(alg, c.signing_input.as_bytes(), &c.signature)
            .is_ok()
    }

    #[test]
    fn sign_and_verify_every_algorithm() {
        for alg in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            let (key, der) = SigningKey::generate(alg).unwrap();
            let token = key.sign_jwt(br#"{"sub":"x"}"#).unwrap();
            assert!(verifies(&key, &token));
            let c = authdomain_verifier::jwt::split(&token).unwrap();
            assert_eq!(
                authdomain_verifier::jwt::payload(&c).unwrap(),
                br#"{"sub":"x"}"#
            );
            assert_eq!(c.header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(c.header.alg, alg.as_str());
            assert_eq!(c.header.kid.as_deref(), Some(key.kid()));
            // Reloading from PKCS#8 gives the same kid (thumbprint) and verifies old tokens.
            let again = SigningKey::from_pkcs8(None, alg, &der).unwrap();
            assert_eq!(again.kid(), key.kid());
            assert!(verifies(&again, &token));
            // A tampered payload fails.
            let mut parts: Vec<&str> = token.split('.').collect();
            let forged = B64.encode(br#"{"sub":"y"}"#);
            parts[1] = &forged;
            assert!(!verifies(&key, &parts.join(".")));
        }
    }

    #[test]
    fn rfc7638_thumbprint_example() {
        // The example key of RFC 7638 §3.1.
        let jwk = json!({
            "e": "AQAB", "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
        });
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
