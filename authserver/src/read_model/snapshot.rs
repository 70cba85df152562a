//! PURE. The read model's records as the auth server holds them: the snapshot of what a
//! store holds ([`build`]) and the snapshot indexed for lookups ([`index`] → [`View`]). The
//! format and its seal are `authdomain_read_model`'s, shared with the provisioner.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

pub use authdomain_read_model::{
    ClientEntry, KeyEntry, ResourceServerEntry, SecretEntry, Snapshot, SnapshotError,
};

use crate::keys::{Algorithm, KeyState, StoredKey};
use crate::oauth::grant::Catalog;
use crate::store::{ClientRecord, ResourceServerRecord, ScopeDef, SecretRecord};

/// The snapshot of what a store holds (`revoked` already without expired entries).
pub fn build(
    version: i64,
    built_at: i64,
    clients: &[ClientRecord],
    resource_servers: &[ResourceServerRecord],
    keys: &[StoredKey],
    revoked: Vec<(String, i64)>,
) -> Snapshot {
    Snapshot {
        version,
        built_at,
        clients: clients.iter().map(client_entry).collect(),
        resource_servers: resource_servers.iter().map(resource_server_entry).collect(),
        keys: keys.iter().map(key_entry).collect(),
        revoked,
    }
}

/// The snapshot indexed for lookups.
pub fn index(snapshot: Snapshot) -> Result<View, SnapshotError> {
    let mut clients = HashMap::with_capacity(snapshot.clients.len());
    for c in snapshot.clients {
        let record = client_record(c)?;
        clients.insert(record.client_id.clone(), Arc::new(record));
    }
    let resource_servers: Vec<ResourceServerRecord> = snapshot
        .resource_servers
        .into_iter()
        .map(resource_server_record)
        .collect();
    let catalog = Arc::new(Catalog::new(resource_servers.iter().map(|r| {
        (
            r.identifier.as_str(),
            r.scopes.iter().map(|s| s.name.as_str()).collect(),
        )
    })));
    let keys = snapshot
        .keys
        .into_iter()
        .map(stored_key)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(View {
        version: snapshot.version,
        built_at: snapshot.built_at,
        clients,
        resource_servers,
        catalog,
        keys,
        revoked: snapshot.revoked.into_iter().collect(),
    })
}

/// A snapshot ready for lookups: what the token path and the admin API's reads use.
#[derive(Debug)]
pub struct View {
    pub version: i64,
    pub built_at: i64,
    pub clients: HashMap<String, Arc<ClientRecord>>,
    pub resource_servers: Vec<ResourceServerRecord>,
    pub catalog: Arc<Catalog>,
    pub keys: Vec<StoredKey>,
    pub revoked: HashMap<String, i64>,
}

impl View {
    /// Whether `jti` is revoked (and not yet expired, after which it no longer matters).
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked.contains_key(jti)
    }

    /// Clients in the order the admin API lists them (creation, then id).
    pub fn clients_sorted(&self) -> Vec<Arc<ClientRecord>> {
        let mut v: Vec<Arc<ClientRecord>> = self.clients.values().cloned().collect();
        v.sort_by(|a, b| (a.created_at, &a.client_id).cmp(&(b.created_at, &b.client_id)));
        v
    }
}

fn client_entry(c: &ClientRecord) -> ClientEntry {
    ClientEntry {
        id: c.client_id.clone(),
        name: c.name.clone(),
        method: c.auth_method.clone(),
        grants: c.grant_types.clone(),
        scopes: c.allowed_scopes.clone(),
        defaults: c.default_scopes.clone(),
        ttl: c.token_ttl_seconds,
        jwks: c.jwks.clone(),
        jwks_uri: c.jwks_uri.clone(),
        team: c.team.clone(),
        managed_by: c.managed_by.clone(),
        created: c.created_at,
        updated: c.updated_at,
        secrets: c
            .secrets
            .iter()
            .map(|s| SecretEntry {
                id: s.secret_id.clone(),
                hash: B64.encode(&s.hash),
                created: s.created_at,
            })
            .collect(),
    }
}

fn client_record(c: ClientEntry) -> Result<ClientRecord, SnapshotError> {
    let secrets = c
        .secrets
        .into_iter()
        .map(|s| {
            Ok(SecretRecord {
                hash: B64.decode(&s.hash).map_err(|_| {
                    SnapshotError::Content(format!("a secret hash of client `{}`", c.id))
                })?,
                secret_id: s.id,
                created_at: s.created,
            })
        })
        .collect::<Result<Vec<_>, SnapshotError>>()?;
    Ok(ClientRecord {
        client_id: c.id,
        name: c.name,
        auth_method: c.method,
        grant_types: c.grants,
        allowed_scopes: c.scopes,
        default_scopes: c.defaults,
        token_ttl_seconds: c.ttl,
        jwks: c.jwks,
        jwks_uri: c.jwks_uri,
        team: c.team,
        managed_by: c.managed_by,
        created_at: c.created,
        updated_at: c.updated,
        secrets,
    })
}

fn resource_server_entry(r: &ResourceServerRecord) -> ResourceServerEntry {
    ResourceServerEntry {
        identifier: r.identifier.clone(),
        name: r.name.clone(),
        scopes: r
            .scopes
            .iter()
            .map(|s| (s.name.clone(), s.description.clone()))
            .collect(),
        team: r.team.clone(),
        managed_by: r.managed_by.clone(),
        created: r.created_at,
        updated: r.updated_at,
    }
}

fn resource_server_record(r: ResourceServerEntry) -> ResourceServerRecord {
    ResourceServerRecord {
        identifier: r.identifier,
        name: r.name,
        scopes: r
            .scopes
            .into_iter()
            .map(|(name, description)| ScopeDef { name, description })
            .collect(),
        team: r.team,
        managed_by: r.managed_by,
        created_at: r.created,
        updated_at: r.updated,
    }
}

fn key_entry(k: &StoredKey) -> KeyEntry {
    KeyEntry {
        kid: k.kid.clone(),
        alg: k.alg.as_str().to_owned(),
        state: k.state.as_str().to_owned(),
        public_jwk: k.public_jwk.clone(),
        private_sealed: B64.encode(&k.private_sealed),
        created: k.created_at,
        activated: k.activated_at,
        retired: k.retired_at,
        expires: k.expires_at,
    }
}

fn stored_key(k: KeyEntry) -> Result<StoredKey, SnapshotError> {
    let bad = |what: &str| SnapshotError::Content(format!("key `{}`: {what}", k.kid));
    Ok(StoredKey {
        alg: k.alg.parse::<Algorithm>().map_err(|_| bad("algorithm"))?,
        state: KeyState::parse(&k.state).ok_or_else(|| bad("state"))?,
        private_sealed: B64
            .decode(&k.private_sealed)
            .map_err(|_| bad("private part"))?,
        public_jwk: k.public_jwk,
        created_at: k.created,
        activated_at: k.activated,
        retired_at: k.retired,
        expires_at: k.expires,
        kid: k.kid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Kek;

    fn kek() -> Kek {
        Kek::from_bytes(&[9u8; 32]).unwrap()
    }

    fn sample(version: i64) -> Snapshot {
        let kek = kek();
        let client = ClientRecord {
            client_id: "svc".into(),
            name: "Service".into(),
            auth_method: "client_secret_basic".into(),
            grant_types: vec!["client_credentials".into()],
            allowed_scopes: vec!["read".into()],
            default_scopes: vec![],
            token_ttl_seconds: Some(600),
            jwks: None,
            jwks_uri: None,
            team: Some("payments".into()),
            managed_by: None,
            created_at: 1,
            updated_at: 2,
            secrets: vec![SecretRecord {
                secret_id: "s1".into(),
                hash: kek.hash_secret("secret"),
                created_at: 1,
            }],
        };
        let rs = ResourceServerRecord {
            identifier: "https://api".into(),
            name: "API".into(),
            scopes: vec![ScopeDef {
                name: "read".into(),
                description: "Read".into(),
            }],
            team: None,
            managed_by: Some("spec".into()),
            created_at: 1,
            updated_at: 1,
        };
        let key = StoredKey::generate(Algorithm::ES256, KeyState::Active, &kek, 1).unwrap();
        build(
            version,
            5,
            &[client],
            &[rs],
            &[key],
            vec![("jti-1".into(), 100)],
        )
    }

    #[test]
    fn a_snapshot_of_records_seals_and_indexes_back_to_the_same_records() {
        let s = sample(7);
        let sealed = s.seal(kek().read_model_key(), "https://auth.example.com");
        let opened =
            Snapshot::open(&sealed, kek().read_model_key(), "https://auth.example.com").unwrap();
        assert_eq!(opened, s);
        let view = index(opened).unwrap();
        let c = &view.clients["svc"];
        assert_eq!(c.secrets[0].hash, kek().hash_secret("secret"));
        assert_eq!(c.team.as_deref(), Some("payments"));
        assert!(view.catalog.owner_of("read").is_some());
        assert!(view.is_revoked("jti-1") && !view.is_revoked("jti-2"));
        // The signing key is usable from the snapshot (its private part opens).
        crate::keys::KeyRing::load(&view.keys, Algorithm::ES256, &kek(), 2).unwrap();
        // Secrets never appear in clear: only their keyed hash, and sealed at that.
        assert!(!String::from_utf8_lossy(&sealed).contains("secret"));
    }
}
