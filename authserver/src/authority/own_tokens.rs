//! Our own keys and tokens: the signing key ring, cached per instance and reloaded from
//! the store every `key_refresh`, and the verifier of tokens we issued (the admin API's
//! bearer check, introspection, revocation). The verifier is the workspace's one
//! implementation of token validation (`authdomain-verifier`), with our key ring as its
//! key source instead of a JWKS fetched over HTTP.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use authdomain_verifier::{
    AccessToken, AudiencePolicy, Config, KeySource, PublicKey, Verifier, VerifyError,
};

use super::{Authority, store_failure};
use crate::cached::Cached;
use crate::ids::now;
use crate::keys::{Algorithm, Kek, KeyRing};
use crate::oauth::OAuthError;
use crate::settings::Settings;
use crate::store::Store;
use crate::store::retry::retry_while_unavailable;

/// The key ring of this instance.
pub struct KeyRingCache {
    store: Store,
    kek: Arc<Kek>,
    alg: Algorithm,
    refresh_every: Duration,
    retry_deadline: Duration,
    ring: RwLock<Option<Cached<KeyRing>>>,
    reloading: tokio::sync::Mutex<()>,
}

impl KeyRingCache {
    pub(crate) fn new(store: Store, kek: Arc<Kek>, settings: &Settings) -> KeyRingCache {
        KeyRingCache {
            store,
            kek,
            alg: settings.signing_alg,
            refresh_every: settings.key_refresh,
            retry_deadline: settings.db_retry_deadline,
            ring: RwLock::new(None),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// The signing keys, reloaded every `key_refresh` (one request reloads, others go on
    /// with the previous ring; a failed reload keeps the previous ring).
    pub async fn get(&self) -> Result<Arc<KeyRing>, OAuthError> {
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
    }

    async fn reload(&self) -> Result<Arc<KeyRing>, OAuthError> {
        let stored = retry_while_unavailable(self.retry_deadline, || self.store.list_keys())
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "could not load signing keys");
                store_failure(e)
            })?;
        match KeyRing::load(&stored, self.alg, &self.kek, now()) {
            Ok(ring) => {
                let ring = Arc::new(ring);
                *self.ring.write().expect("cache lock") = Some(Cached::new(ring.clone()));
                Ok(ring)
            }
            Err(e) => {
                // A wrong KEK or missing keys is a configuration fault, not an outage.
                tracing::error!(error = %e, "signing keys are unusable");
                Err(OAuthError::server_error(
                    "signing keys are unavailable on this server",
                ))
            }
        }
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
