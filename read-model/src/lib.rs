//! PURE. The auth server's read model as a format: everything the token path needs
//! (clients with their secret hashes, the scope catalogue, the signing keys with their
//! private parts still sealed under the KEK, revoked token ids until they expire) plus what
//! the admin API's reads and the provisioner's plans show, at one version.
//!
//! Sealed for publication: JSON, gzip, then AES-256-GCM under a key derived from the
//! domain's key-encryption key (KEK), with the format, the issuer and the version as
//! associated data, so a copy can be neither read nor forged nor passed off as another
//! version or another domain's without the KEK.
//!
//! Two programs read it: the auth server (`authserver::read_model`), which also builds and
//! publishes it, and the provisioner, which diffs the spec's registrations against it so
//! that a plan or a drift check never invokes the function or wakes the database. The
//! format lives here, apart from both, so the provisioner does not link the auth server.

use std::io::{Read as _, Write as _};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

/// The first bytes of a sealed snapshot: what it is and its format.
const MAGIC: &[u8; 8] = b"ADRM\x00\x00\x00\x01";

/// The version byte of the seal (`VERSION || nonce || ciphertext || tag`).
const SEAL_VERSION: u8 = 1;

/// The object that holds the current snapshot, under the read model's prefix.
pub const SNAPSHOT_OBJECT: &str = "snapshot";

/// The key of the snapshot object under `prefix` (`read-model` → `read-model/snapshot`).
pub fn snapshot_key(prefix: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        SNAPSHOT_OBJECT.to_owned()
    } else {
        format!("{prefix}/{SNAPSHOT_OBJECT}")
    }
}

/// Why a sealed snapshot cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("not a read model snapshot of this format")]
    Format,
    #[error(
        "the snapshot does not decrypt: another domain's, a key-encryption key that differs from \
         the one it was sealed with, or tampered with"
    )]
    Seal,
    #[error("the snapshot's content is not valid: {0}")]
    Content(String),
}

/// The key that seals snapshots: derived from the domain's KEK, so the KEK itself never
/// seals two kinds of data. Its bytes are never printed.
pub struct SealKey(LessSafeKey);

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealKey(<redacted>)")
    }
}

/// A KEK that is not 32 bytes.
#[derive(Debug, thiserror::Error)]
#[error("the key-encryption key must be 32 bytes; got {0}")]
pub struct KekLength(pub usize);

impl SealKey {
    /// The read model's key of the domain whose KEK is `kek` (32 bytes).
    pub fn derive(kek: &[u8]) -> Result<SealKey, KekLength> {
        if kek.len() != 32 {
            return Err(KekLength(kek.len()));
        }
        let derive = hmac::Key::new(hmac::HMAC_SHA256, kek);
        let bytes = hmac::sign(&derive, b"authdomain/read-model/v1");
        Ok(SealKey(LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, bytes.as_ref()).expect("32-byte key"),
        )))
    }

    /// AES-256-GCM with a random nonce: `VERSION || nonce || ciphertext || tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("system randomness");
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .expect("AES-GCM seal");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        out
    }

    /// Open what [`SealKey::seal`] sealed with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SnapshotError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != SEAL_VERSION {
            return Err(SnapshotError::Seal);
        }
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1..1 + NONCE_LEN])
            .map_err(|_| SnapshotError::Seal)?;
        let mut buf = sealed[1 + NONCE_LEN..].to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| SnapshotError::Seal)?;
        Ok(plain.to_vec())
    }
}

/// Everything the read model holds, at one version.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Goes up with every committed change; a reader never goes back to a lower one.
    pub version: i64,
    /// When it was built (Unix seconds).
    pub built_at: i64,
    pub clients: Vec<ClientEntry>,
    pub resource_servers: Vec<ResourceServerEntry>,
    pub keys: Vec<KeyEntry>,
    /// `jti` → expiry of revoked tokens that have not expired yet.
    pub revoked: Vec<(String, i64)>,
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientEntry {
    pub id: String,
    pub name: String,
    pub method: String,
    pub grants: Vec<String>,
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub defaults: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Who manages it: `spec`, `kubernetes:<namespace>/<name>`, or nobody (the portal and
    /// the admin API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    pub created: i64,
    pub updated: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretEntry>,
}

/// A secret as stored: its id, the keyed hash (base64), when it was added.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretEntry {
    pub id: String,
    pub hash: String,
    pub created: i64,
}

impl std::fmt::Debug for SecretEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretEntry")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A registered resource server (an API) and its scopes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResourceServerEntry {
    pub identifier: String,
    pub name: String,
    /// Scope name and description.
    pub scopes: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// Who manages it: `spec`, or nobody (the portal and the admin API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<String>,
    pub created: i64,
    pub updated: i64,
}

/// A signing key as stored: the private part stays sealed under the KEK.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub public_jwk: serde_json::Value,
    pub private_sealed: String,
    pub created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activated: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<i64>,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Snapshot {
    /// Seal for publication (see the crate's documentation).
    pub fn seal(&self, key: &SealKey, issuer: &str) -> Vec<u8> {
        let json = serde_json::to_vec(self).expect("serialisable");
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(json.len() / 3),
            flate2::Compression::fast(),
        );
        gz.write_all(&json).expect("writing to memory");
        let compressed = gz.finish().expect("writing to memory");
        let mut out = Vec::with_capacity(16 + compressed.len() + 32);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&key.seal(&associated_data(issuer, self.version), &compressed));
        out
    }

    /// The version a sealed snapshot claims (authenticated by [`Snapshot::open`]).
    pub fn claimed_version(sealed: &[u8]) -> Result<i64, SnapshotError> {
        if sealed.len() < 16 || &sealed[..8] != MAGIC {
            return Err(SnapshotError::Format);
        }
        Ok(i64::from_be_bytes(
            sealed[8..16].try_into().expect("8 bytes"),
        ))
    }

    /// Open a sealed snapshot of `issuer`'s domain: authenticated, then parsed.
    pub fn open(sealed: &[u8], key: &SealKey, issuer: &str) -> Result<Snapshot, SnapshotError> {
        let version = Snapshot::claimed_version(sealed)?;
        let compressed = key.open(&associated_data(issuer, version), &sealed[16..])?;
        let mut json = Vec::with_capacity(compressed.len() * 3);
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut json)
            .map_err(|e| SnapshotError::Content(format!("gzip: {e}")))?;
        let snapshot: Snapshot =
            serde_json::from_slice(&json).map_err(|e| SnapshotError::Content(e.to_string()))?;
        if snapshot.version != version {
            return Err(SnapshotError::Content(format!(
                "it says version {} inside and {version} outside",
                snapshot.version
            )));
        }
        Ok(snapshot)
    }
}

/// What the seal binds: the format, the domain (its issuer) and the version.
fn associated_data(issuer: &str, version: i64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(MAGIC.len() + 8 + issuer.len());
    aad.extend_from_slice(MAGIC);
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(issuer.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealKey {
        SealKey::derive(&[9u8; 32]).unwrap()
    }

    fn sample(version: i64) -> Snapshot {
        Snapshot {
            version,
            built_at: 5,
            clients: vec![ClientEntry {
                id: "svc".into(),
                name: "Service".into(),
                method: "client_secret_basic".into(),
                grants: vec!["client_credentials".into()],
                scopes: vec!["read".into()],
                defaults: vec![],
                ttl: Some(600),
                jwks: None,
                jwks_uri: None,
                team: Some("payments".into()),
                managed_by: Some("spec".into()),
                created: 1,
                updated: 2,
                secrets: vec![SecretEntry {
                    id: "s1".into(),
                    hash: "c2VjcmV0LWhhc2g=".into(),
                    created: 1,
                }],
            }],
            resource_servers: vec![ResourceServerEntry {
                identifier: "https://api".into(),
                name: "API".into(),
                scopes: vec![("read".into(), "Read".into())],
                team: None,
                managed_by: Some("spec".into()),
                created: 1,
                updated: 1,
            }],
            keys: vec![],
            revoked: vec![("jti-1".into(), 100)],
        }
    }

    #[test]
    fn a_sealed_snapshot_opens_to_the_same_records() {
        let s = sample(7);
        let sealed = s.seal(&key(), "https://auth.example.com");
        assert_eq!(Snapshot::claimed_version(&sealed).unwrap(), 7);
        assert_eq!(
            Snapshot::open(&sealed, &key(), "https://auth.example.com").unwrap(),
            s
        );
        // Nothing is in clear: not even the secret's hash or a client's name.
        let text = String::from_utf8_lossy(&sealed);
        assert!(!text.contains("c2VjcmV0") && !text.contains("Service"));
    }

    #[test]
    fn a_snapshot_cannot_be_read_forged_or_passed_off_as_another() {
        let sealed = sample(7).seal(&key(), "https://auth.example.com");
        // Another domain's issuer, another KEK: refused.
        assert!(matches!(
            Snapshot::open(&sealed, &key(), "https://other.example.com"),
            Err(SnapshotError::Seal)
        ));
        let other = SealKey::derive(&[8u8; 32]).unwrap();
        assert!(matches!(
            Snapshot::open(&sealed, &other, "https://auth.example.com"),
            Err(SnapshotError::Seal)
        ));
        // The version outside changed (to pass an old copy off as newer): refused.
        let mut relabelled = sealed.clone();
        relabelled[8..16].copy_from_slice(&9i64.to_be_bytes());
        assert_eq!(Snapshot::claimed_version(&relabelled).unwrap(), 9);
        assert!(matches!(
            Snapshot::open(&relabelled, &key(), "https://auth.example.com"),
            Err(SnapshotError::Seal)
        ));
        // One byte of the content changed: refused.
        let mut tampered = sealed.clone();
        let last = tampered.len() - 20;
        tampered[last] ^= 1;
        assert!(Snapshot::open(&tampered, &key(), "https://auth.example.com").is_err());
        // Not a snapshot at all.
        assert!(matches!(
            Snapshot::claimed_version(b"{\"clients\":[]}"),
            Err(SnapshotError::Format)
        ));
    }

    #[test]
    fn the_seal_key_is_derived_and_a_kek_of_another_length_is_refused() {
        assert!(SealKey::derive(&[1u8; 31]).is_err());
        // Derived, not the KEK itself: a seal under a key built from the raw KEK bytes
        // does not open.
        let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[9u8; 32]).unwrap());
        let mut buf = b"snapshot".to_vec();
        let nonce = [0u8; NONCE_LEN];
        raw.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(b"aad"),
            &mut buf,
        )
        .unwrap();
        let mut sealed = vec![SEAL_VERSION];
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&buf);
        assert!(key().open(b"aad", &sealed).is_err());
        assert_eq!(key().open(b"aad", &key().seal(b"aad", b"x")).unwrap(), b"x");
    }

    #[test]
    fn the_snapshot_key_sits_under_the_prefix() {
        assert_eq!(snapshot_key("read-model"), "read-model/snapshot");
        assert_eq!(snapshot_key("/read-model/"), "read-model/snapshot");
        assert_eq!(snapshot_key(""), "snapshot");
    }
}
