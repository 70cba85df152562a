//! The set of keys one server instance signs and verifies with, built from stored records.
//!
//! Lifecycle (per algorithm): `next` is published in JWKS but not used; `rotate` promotes it
//! to `active`, retires the previous active key (still published until every token it
//! signed has expired) and creates a new `next`. Every instance loads the same records, so
//! every instance signs with the same active key.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Algorithm, Kek, KeyError, SigningKey};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Active,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
        }
    }
    pub fn parse(s: &str) -> Option<KeyState> {
        match s {
            "next" => Some(KeyState::Next),
            "active" => Some(KeyState::Active),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

/// A key as stored: the private part sealed under the KEK.
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: Algorithm,
    pub state: KeyState,
    pub public_jwk: serde_json::Value,
    pub private_sealed: Vec<u8>,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// For retired keys: when the last token it signed expires; it is dropped after that.
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

impl StoredKey {
    /// Generate a new key in `state`, sealed under `kek`.
    pub fn generate(
        alg: Algorithm,
        state: KeyState,
        kek: &Kek,
        now: i64,
    ) -> Result<StoredKey, KeyError> {
        let (key, der) = SigningKey::generate(alg)?;
        Ok(StoredKey {
            kid: key.kid().to_owned(),
            alg,
            state,
            public_jwk: key.public_jwk().clone(),
            private_sealed: kek.seal(key.kid(), &der),
            created_at: now,
            activated_at: (state == KeyState::Active).then_some(now),
            retired_at: None,
            expires_at: None,
        })
    }

    pub fn is_published(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(
        "no active {0} signing key is stored (run `authserver migrate` or `authserver keys rotate`)"
    )]
    NoActiveKey(Algorithm),
    #[error(transparent)]
    Kek(#[from] super::KekError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The loaded keys.
#[derive(Debug)]
pub struct KeyRing {
    active: Arc<SigningKey>,
    by_kid: HashMap<String, Arc<SigningKey>>,
    jwks: bytes::Bytes,
    /// The published keys as the verifier reads them (parsed once per load).
    verifying: Arc<authdomain_verifier::KeySet>,
}

impl KeyRing {
    /// Build from stored records: decrypt every published key, pick the active one for `alg`.
    pub fn load(
        stored: &[StoredKey],
        alg: Algorithm,
        kek: &Kek,
        now: i64,
    ) -> Result<KeyRing, KeyRingError> {
        let mut by_kid = HashMap::new();
        let mut active = None;
        let mut published: Vec<&StoredKey> =
            stored.iter().filter(|k| k.is_published(now)).collect();
        // JWKS order: active first (clients that take the first key get the right one), then next, then retired.
        published.sort_by_key(|k| {
            (
                k.state != KeyState::Active,
                k.state != KeyState::Next,
                -k.created_at,
            )
        });
        let mut jwks = Vec::with_capacity(published.len());
        for record in published {
            let der = kek.open(&record.kid, &record.private_sealed)?;
            let key = Arc::new(SigningKey::from_pkcs8(Some(&record.kid), record.alg, &der)?);
            if record.state == KeyState::Active && record.alg == alg {
                active = Some(key.clone());
            }
            jwks.push(key.public_jwk().clone());
            by_kid.insert(record.kid.clone(), key);
        }
        let active = active.ok_or(KeyRingError::NoActiveKey(alg))?;
        let jwks: bytes::Bytes = serde_json::to_vec(&serde_json::json!({ "keys": jwks }))
            .expect("serialisable")
            .into();
        let (verifying, _) =
            authdomain_verifier::KeySet::from_jwks(&jwks, &authdomain_verifier::Algorithm::ALL)
                .map_err(|why| {
                    KeyRingError::Key(KeyError::Parse {
                        kid: "<jwks>".into(),
                        why: why.into(),
                    })
                })?;
        Ok(KeyRing {
            active,
            by_kid,
            jwks,
            verifying: Arc::new(verifying),
        })
    }

    pub fn active(&self) -> &Arc<SigningKey> {
        &self.active
    }

    pub fn get(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.by_kid.get(kid)
    }

    /// The published keys, for verifying our own tokens.
    pub fn verifying_keys(&self) -> &authdomain_verifier::KeySet {
        &self.verifying
    }

    /// The serialised JWKS document.
    pub fn jwks(&self) -> bytes::Bytes {
        self.jwks.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_picks_active_and_publishes_next_and_unexpired_retired() {
        let kek = Kek::from_bytes(&[9u8; 32]).unwrap();
        let now = 1_000;
        let active = StoredKey::generate(Algorithm::ES256, KeyState::Active, &kek, now).unwrap();
        let next = StoredKey::generate(Algorithm::ES256, KeyState::Next, &kek, now).unwrap();
        let mut retired =
            StoredKey::generate(Algorithm::ES256, KeyState::Retired, &kek, now - 10).unwrap();
        retired.expires_at = Some(now + 60);
        let mut expired =
            StoredKey::generate(Algorithm::ES256, KeyState::Retired, &kek, now - 20).unwrap();
        expired.expires_at = Some(now - 1);
        let ring = KeyRing::load(
            &[
                retired.clone(),
                next.clone(),
                expired.clone(),
                active.clone(),
            ],
            Algorithm::ES256,
            &kek,
            now,
        )
        .unwrap();
        assert_eq!(ring.active().kid(), active.kid);
        let jwks: serde_json::Value = serde_json::from_slice(&ring.jwks()).unwrap();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(
            kids,
            [active.kid.as_str(), next.kid.as_str(), retired.kid.as_str()]
        );
        assert!(ring.get(&expired.kid).is_none());
        assert!(
            jwks["keys"][0].get("d").is_none(),
            "no private member is published"
        );
    }

    #[test]
    fn load_fails_clearly_without_active_key_or_with_wrong_kek() {
        let kek = Kek::from_bytes(&[9u8; 32]).unwrap();
        let next = StoredKey::generate(Algorithm::EdDSA, KeyState::Next, &kek, 0).unwrap();
        let err =
            KeyRing::load(std::slice::from_ref(&next), Algorithm::EdDSA, &kek, 0).unwrap_err();
        assert!(
            err.to_string().contains("no active EdDSA signing key"),
            "{err}"
        );
        let active = StoredKey::generate(Algorithm::EdDSA, KeyState::Active, &kek, 0).unwrap();
        let other = Kek::from_bytes(&[8u8; 32]).unwrap();
        let err = KeyRing::load(&[active], Algorithm::EdDSA, &other, 0).unwrap_err();
        assert!(err.to_string().contains("could not be decrypted"), "{err}");
    }
}
