//! The key-encryption key (KEK): AES-256-GCM envelope for private keys at rest, and the
//! source of the pepper for client-secret hashes.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;

const VERSION: u8 = 1;

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error(
        "the key-encryption key must be 32 bytes encoded as base64 (standard or URL-safe), e.g. the output of `openssl rand -base64 32`; got {0}"
    )]
    Format(String),
    #[error(
        "a stored private key could not be decrypted: the key-encryption key is not the one it was encrypted with, or the record is corrupt"
    )]
    Decrypt,
}

/// A 256-bit key-encryption key. Its bytes are never printed.
pub struct Kek {
    aead: LessSafeKey,
    pepper: hmac::Key,
    /// The read model's seal: a key of its own, so the KEK never seals two kinds of data.
    read_model: authdomain_read_model::SealKey,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    pub fn from_bytes(bytes: &[u8]) -> Result<Kek, KekError> {
        if bytes.len() != 32 {
            return Err(KekError::Format(format!("{} bytes", bytes.len())));
        }
        let aead = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte key"));
        // A separate key for secret hashing, derived so that the KEK itself is never an HMAC key.
        let derive = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let pepper_bytes = hmac::sign(&derive, b"authdomain/client-secret-pepper/v1");
        let pepper = hmac::Key::new(hmac::HMAC_SHA256, pepper_bytes.as_ref());
        let read_model = authdomain_read_model::SealKey::derive(bytes).expect("32 bytes");
        Ok(Kek {
            aead,
            pepper,
            read_model,
        })
    }

    /// Parse base64 (standard or URL-safe, padded or not).
    pub fn from_base64(text: &str) -> Result<Kek, KekError> {
        let t = text.trim();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(t)
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t.trim_end_matches('='))
            })
            .map_err(|_| KekError::Format("text that is not base64".into()))?;
        Kek::from_bytes(&bytes)
    }

    /// A fresh random KEK, base64-encoded (for `authserver` to write on first local start).
    pub fn generate_base64() -> String {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("system randomness");
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// Encrypt `plaintext`, binding it to `context` (the key id) as associated data.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.aead, context.as_bytes(), plaintext)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, KekError> {
        open_with(&self.aead, context.as_bytes(), sealed)
    }

    /// The key that seals read model snapshots, derived from this KEK.
    pub fn read_model_key(&self) -> &authdomain_read_model::SealKey {
        &self.read_model
    }

    /// The keyed hash (HMAC-SHA-256) under which client secrets are stored.
    pub fn hash_secret(&self, secret: &str) -> Vec<u8> {
        hmac::sign(&self.pepper, secret.as_bytes())
            .as_ref()
            .to_vec()
    }
}

/// AES-256-GCM with a random nonce: `VERSION || nonce || ciphertext || tag`.
fn seal_with(key: &LessSafeKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .expect("system randomness");
    let mut buf = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut buf,
    )
    .expect("AES-GCM seal");
    let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&buf);
    out
}

fn open_with(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KekError> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
        return Err(KekError::Decrypt);
    }
    let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN])
        .map_err(|_| KekError::Decrypt)?;
    let mut buf = sealed[1 + NONCE_LEN..].to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut buf)
        .map_err(|_| KekError::Decrypt)?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let kek = Kek::from_base64(&Kek::generate_base64()).unwrap();
        let sealed = kek.seal("kid-1", b"private");
        assert_eq!(kek.open("kid-1", &sealed).unwrap(), b"private");
        assert!(kek.open("kid-2", &sealed).is_err(), "bound to its context");
        let other = Kek::from_base64(&Kek::generate_base64()).unwrap();
        assert!(other.open("kid-1", &sealed).is_err());
    }

    #[test]
    fn rejects_wrong_length_and_never_prints_bytes() {
        let err = Kek::from_base64("c2hvcnQ=").unwrap_err();
        assert!(err.to_string().contains("32 bytes"), "{err}");
        let kek = Kek::from_bytes(&[7u8; 32]).unwrap();
        assert_eq!(format!("{kek:?}"), "Kek(<redacted>)");
    }

    #[test]
    fn the_read_model_seal_is_a_key_of_its_own() {
        let kek = Kek::from_bytes(&[3u8; 32]).unwrap();
        let sealed = kek.read_model_key().seal(b"v1", b"snapshot");
        assert_eq!(
            kek.read_model_key().open(b"v1", &sealed).unwrap(),
            b"snapshot"
        );
        assert!(
            kek.read_model_key().open(b"v2", &sealed).is_err(),
            "bound to its aad"
        );
        assert!(
            kek.open("v1", &sealed).is_err(),
            "not the private keys' seal"
        );
        let key_seal = kek.seal("v1", b"snapshot");
        assert!(kek.read_model_key().open(b"v1", &key_seal).is_err());
    }

    #[test]
    fn secret_hash_is_keyed() {
        let a = Kek::from_bytes(&[1u8; 32]).unwrap();
        let b = Kek::from_bytes(&[2u8; 32]).unwrap();
        assert_eq!(a.hash_secret("s"), a.hash_secret("s"));
        assert_ne!(a.hash_secret("s"), b.hash_secret("s"));
    }
}
