//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic` / `client_secret_post` (keyed hashes compared in constant time)
//! and `private_key_jwt` (RFC 7523 assertions with a one-time `jti`), throttled per client
//! id and source address.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::Authority;
use super::token::RequestContext;
use crate::ids::now;
use crate::oauth::OAuthError;
use crate::oauth::request::PresentedCredentials;
use crate::store::ClientRecord;

impl Authority {
    /// Authenticate the client of a token, introspection or revocation request.
    pub async fn authenticate(
        &self,
        credentials: &PresentedCredentials,
        ctx: &RequestContext,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        let header = credentials.used_authorization_header();
        let claimed = credentials.claimed_client_id();
        // The credentials are checked first: a correct credential always succeeds, so
        // guesses sent with a victim's client id cannot lock the victim out. The throttle
        // decides only how a failure is answered (and spares the log).
        let outcome = match credentials {
            PresentedCredentials::Basic { client_id, secret }
            | PresentedCredentials::Post { client_id, secret } => {
                self.authenticate_secret(client_id, secret, credentials.method())
                    .await
            }
            PresentedCredentials::Assertion {
                client_id,
                assertion,
            } => {
                self.authenticate_assertion(client_id.as_deref(), assertion, ctx)
                    .await
            }
        };
        let e = match outcome {
            Ok(client) => return Ok(client),
            Err(e) if e.code != crate::oauth::ErrorCode::InvalidClient => {
                return Err(e.with_header(header));
            }
            Err(e) => e,
        };
        let now = Instant::now();
        let source = ctx
            .source_address
            .as_deref()
            .and_then(|a| a.parse().ok())
            .map(crate::throttle::source_key);
        if let Err(t) = self.throttle.check(claimed, source.as_deref(), now) {
            metrics::counter!("authserver_client_auth_throttled_total").increment(1);
            let secs = t.retry_after.as_secs().max(1);
            let mut e = OAuthError::new(
                crate::oauth::ErrorCode::TooManyAttempts,
                format!(
                    "too many failed client authentications from this {}; retry after {secs} s",
                    t.subject
                ),
            )
            .with_header(header);
            e.retry_after = Some(secs);
            return Err(e);
        }
        metrics::counter!("authserver_client_auth_failures_total").increment(1);
        self.throttle
            .record_failure(claimed, source.as_deref(), now);
        tracing::info!(client_id = claimed.unwrap_or("-"), reason = %e.description, "client authentication failed");
        Err(e.with_header(header))
    }

    async fn authenticate_secret(
        &self,
        client_id: &str,
        secret: &str,
        method: &str,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        let presented = self.kek.hash_secret(secret);
        let client = self.client(client_id).await?;
        let Some(client) = client else {
            return Err(OAuthError::invalid_client(
                "client authentication failed (unknown client or wrong secret)",
            ));
        };
        // Compare against every stored secret in constant time, without an early exit.
        let mut matched = false;
        for s in &client.secrets {
            matched |=
                aws_lc_rs::constant_time::verify_slices_are_equal(&s.hash, &presented).is_ok();
        }
        if client.auth_method != method {
            return Err(OAuthError::invalid_client(format!(
                "the client is registered for `{}`, not `{method}`",
                client.auth_method
            )));
        }
        if !matched {
            return Err(OAuthError::invalid_client(
                "client authentication failed (unknown client or wrong secret)",
            ));
        }
        Ok(client)
    }

    async fn authenticate_assertion(
        &self,
        body_client_id: Option<&str>,
        assertion: &str,
        ctx: &RequestContext,
    ) -> Result<Arc<ClientRecord>, OAuthError> {
        use jsonwebtoken::{Algorithm as A, Validation};
        let bad =
            |why: &str| OAuthError::invalid_client(format!("client assertion rejected: {why}"));
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| bad("not a compact JWS with a valid header"))?;
        if !matches!(
            header.alg,
            A::RS256
                | A::RS384
                | A::RS512
                | A::PS256
                | A::PS384
                | A::PS512
                | A::ES256
                | A::ES384
                | A::EdDSA
        ) {
            return Err(bad(
                "`alg` must be an asymmetric algorithm (RS*, PS*, ES256, ES384, EdDSA)",
            ));
        }
        // Read `iss` before verification only to find the client whose keys verify it.
        let unverified: serde_json::Value = assertion
            .split('.')
            .nth(1)
            .and_then(|p| B64.decode(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("the payload is not base64url JSON"))?;
        let client_id = unverified["iss"]
            .as_str()
            .ok_or_else(|| bad("`iss` is missing"))?
            .to_owned();
        if let Some(id) = body_client_id
            && id != client_id
        {
            return Err(bad("`client_id` differs from the assertion's `iss`"));
        }
        let client = self
            .client(&client_id)
            .await?
            .ok_or_else(|| bad("unknown client"))?;
        if client.auth_method != "private_key_jwt" {
            return Err(OAuthError::invalid_client(format!(
                "the client is registered for `{}`, not `private_key_jwt`",
                client.auth_method
            )));
        }
        let jwks = self.client_jwks(&client, header.kid.as_deref()).await?;
        let jwk = match &header.kid {
            Some(kid) => jwks
                .find(kid)
                .ok_or_else(|| bad("no key with the assertion's `kid` in the client's JWKS"))?,
            None if jwks.keys.len() == 1 => &jwks.keys[0],
            None => {
                return Err(bad(
                    "the assertion has no `kid` and the client's JWKS has several keys",
                ));
            }
        };
        let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
            .map_err(|_| bad("the client's JWK is not usable"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        validation.set_issuer(&[&client_id]);
        validation.sub = Some(client_id.clone());
        let token_url = self.settings.endpoint("/oauth2/token");
        validation.set_audience(&[
            self.settings.issuer.as_str(),
            token_url.as_str(),
            ctx.endpoint_url.as_str(),
        ]);
        validation.leeway = 30;
        let data = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::ExpiredSignature => bad("it has expired"),
                    K::InvalidAudience => bad("`aud` must be the issuer or the endpoint URL"),
                    K::InvalidIssuer | K::InvalidSubject => {
                        bad("`iss` and `sub` must both be the client id")
                    }
                    K::InvalidSignature => {
                        bad("the signature does not verify with the client's key")
                    }
                    K::MissingRequiredClaim(c) => bad(&format!("claim `{c}` is required")),
                    K::ImmatureSignature => bad("it is not valid yet (`nbf`)"),
                    _ => bad("it is not a valid JWT"),
                }
            })?;
        let t = now();
        let exp = data.claims["exp"]
            .as_i64()
            .ok_or_else(|| bad("`exp` must be a number"))?;
        if exp - t > self.settings.assertion_max_lifetime {
            return Err(bad(&format!(
                "`exp` is more than {} s in the future",
                self.settings.assertion_max_lifetime
            )));
        }
        let jti = data.claims["jti"]
            .as_str()
            .ok_or_else(|| bad("claim `jti` is required (RFC 7523 §3)"))?;
        let first_use = match &self.assertions {
            // The read model's path: a create-only object, no database write.
            Some(used) => used
                .first_use(&client_id, jti, exp + 30)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, "recording a client assertion failed");
                    if e.is_unavailable() {
                        OAuthError::unavailable(5)
                    } else {
                        OAuthError::server_error("internal error while checking the assertion")
                    }
                })?,
            None => self
                .with_retry(|| self.store.use_assertion(&client_id, jti, exp + 30, t))
                .await
                .map_err(|e| self.store_failure(e))?,
        };
        if !first_use {
            return Err(bad("its `jti` has been used before (replay)"));
        }
        Ok(client)
    }

    /// The keys that verify a client's assertions: its registered JWKS, or the one at its
    /// `jwks_uri` (cached, see [`crate::jwks_client`]).
    async fn client_jwks(
        &self,
        client: &ClientRecord,
        kid: Option<&str>,
    ) -> Result<Arc<jsonwebtoken::jwk::JwkSet>, OAuthError> {
        let bad =
            |why: String| OAuthError::invalid_client(format!("client assertion rejected: {why}"));
        if let Some(inline) = &client.jwks {
            let set: jsonwebtoken::jwk::JwkSet = serde_json::from_str(inline)
                .map_err(|_| bad("the client's registered JWKS is not valid".into()))?;
            return Ok(Arc::new(set));
        }
        let uri = client
            .jwks_uri
            .as_deref()
            .ok_or_else(|| bad("the client has neither `jwks` nor `jwks_uri`".into()))?;
        self.client_keys.get(uri, kid).await.map_err(bad)
    }
}
