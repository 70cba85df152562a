//! Our own keys and tokens: the signing key ring, cached per instance and reloaded from
//! the store every `key_refresh` (or, with a read model, rebuilt when the published
//! version changes), and the verifier of tokens we issued (the admin API's
//! bearer check, introspection, revocation). The verifier is the workspace's one
//! implementation of token validation (`authdomain-verifier`), with our key ring as its
//! key source instead of a JWKS fetched over HTTP.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use authdomain_verifier::{
    AccessToken, AudiencePolicy, Config, KeySource, PublicKey, Verifier, VerifyError,
};

use super::{Authority, read_model_failure, store_failure};
use crate::cached::Cached;
use crate::ids::now;
use crate::keys::{Algorithm, Kek, KeyRing};
use crate::oauth::OAuthError;
use crate::read_model::Published;
use crate::settings::Settings;
use crate::store::Store;
use crate::store::retry::retry_while_unavailable;

/// The key ring of this instance.
pub struct KeyRingCache {
    store: Store,
    /// With a read model, the keys come from it and the ring follows its version.
    published: Option<Arc<Published>>,
    /// The read model version the ring was built from.
    built_from: RwLock<Option<i64>>,
    kek: Arc<Kek>,
    alg: Algorithm,
    refresh_every: Duration,
    retry_deadline: Duration,
    ring: RwLock<Option<Cached<KeyRing>>>,
    reloading: tokio::sync::Mutex<()>,
}

impl KeyRingCache {
    pub(crate) fn new(
        store: Store,
        published: Option<Arc<Published>>,
        kek: Arc<Kek>,
        settings: &Settings,
    ) -> KeyRingCache {
        KeyRingCache {
            store,
            published,
            built_from: RwLock::new(None),
            kek,
            alg: settings.signing_alg,
            refresh_every: settings.key_refresh,
            retry_deadline: settings.db_retry_deadline,
            ring: RwLock::new(None),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The signing keys, reloaded every `key_refresh` (one request reloads, others go on
    /// with the previous ring; a failed reload keeps the previous ring). With a read
    /// model: the ring of the version in hand, rebuilt when that version changes.
    pub async fn get(&self) -> Result<Arc<KeyRing>, OAuthError> {
        if let Some(published) = &self.published {
            return self.ring_of_read_model(published).await;
        }
        let current = self
            .ring
            .read()
            .expect("cache lock")
            .as_ref()
            .map(|c| (c.at.elapsed(), c.value.clone()));
        match current {
            Some((age, ring)) if age < self.refresh_every => Ok(ring),
            Some((_, ring)) => match self.reloading.try_lock() {
                Ok(_guard) => Ok(self.reload().await.unwrap_or(ring)),
                Err(_) => Ok(ring),
            },
            None => {
                let _guard = self.reloading.lock().await;
                if let Some(c) = self.ring.read().expect("cache lock").as_ref() {
                    return Ok(c.value.clone());
                }
                self.reload().await
            }
        }
    }

    pub(crate) fn invalidate(&self) {
        *self.ring.write().expect("cache lock") = None;
        *self.built_from.write().expect("cache lock") = None;
    }

    async fn ring_of_read_model(&self, published: &Published) -> Result<Arc<KeyRing>, OAuthError> {
        let view = published.view().await.map_err(read_model_failure)?;
        if *self.built_from.read().expect("cache lock") == Some(view.version)
            && let Some(c) = self.ring.read().expect("cache lock").as_ref()
        {
            return Ok(c.value.clone());
        }
        let ring = Arc::new(self.load(&view.keys)?);
        *self.ring.write().expect("cache lock") = Some(Cached::new(ring.clone()));
        *self.built_from.write().expect("cache lock") = Some(view.version);
        Ok(ring)
    }

    fn load(&self, stored: &[crate::keys::StoredKey]) -> Result<KeyRing, OAuthError> {
        KeyRing::load(stored, self.alg, &self.kek, now()).map_err(|e| {
            // A wrong KEK or missing keys is a configuration fault, not an outage.
            tracing::error!(error = %e, "signing keys are unusable");
            OAuthError::server_error("signing keys are unavailable on this server")
        })
    }

    async fn reload(&self) -> Result<Arc<KeyRing>, OAuthError> {
        let stored = retry_while_unavailable(self.retry_deadline, || self.store.list_keys())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "could not load signing keys");
                store_failure(e)
            })?;
        let ring = Arc::new(self.load(&stored)?);
        *self.ring.write().expect("cache lock") = Some(Cached::new(ring.clone()));
        Ok(ring)
    }
}

impl KeySource for KeyRingCache {
    async fn key(&self, kid: Option<&str>) -> Result<Option<Arc<PublicKey>>, VerifyError> {
        let ring = self
            .get()
            .await
            .map_err(|e| VerifyError::KeysUnavailable(e.description))?;
        Ok(kid.and_then(|k| ring.verifying_keys().get(k)))
    }
}

/// The verifier of our own tokens: our issuer, any audience (the caller decides what a
/// token may do), the algorithms we sign with, no leeway (our clock is the issuer's).
pub(crate) fn verifier(
    settings: &Settings,
    ring: Arc<KeyRingCache>,
) -> Verifier<Arc<KeyRingCache>> {
    let mut config = Config::new(settings.issuer.clone(), "")
        .leeway(Duration::ZERO)
        .algorithms([
            authdomain_verifier::Algorithm::RS256,
            authdomain_verifier::Algorithm::ES256,
            authdomain_verifier::Algorithm::EdDSA,
        ]);
    config.audience = AudiencePolicy::Any;
    Verifier::with_keys(config, ring)
}

impl Authority {
    /// Verify a token we issued (signature by one of our published keys, `typ`, issuer,
    /// expiry) and that it is not revoked. The audience and scopes are the caller's to
    /// judge.
    pub async fn verify_own_token(&self, token: &str) -> Result<Arc<AccessToken>, OwnTokenError> {
        let verified = self.own_tokens.verify(token).await?;
        if self.is_revoked(&verified.jwt_id).await? {
            return Err(OwnTokenError::Invalid(VerifyError::Revoked));
        }
        Ok(verified)
    }
}

/// Why one of our tokens is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum OwnTokenError {
    #[error(transparent)]
    Invalid(#[from] VerifyError),
    /// The store could not say whether it is revoked.
    #[error("{}", .0.description)]
    Store(#[from] OAuthError),
}
