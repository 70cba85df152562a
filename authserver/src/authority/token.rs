//! Tokens: issuing (the `client_credentials` grant, RFC 9068 JWTs), verifying our own
//! tokens, RFC 7662 introspection and RFC 7009 revocation.

use serde::Serialize;

use super::Authority;
use super::own_tokens::OwnTokenError;
use crate::ids::{now, random_token};
use crate::oauth::grant::{self, ClientPolicy};
use crate::oauth::request::{TokenReference, TokenRequest};
use crate::oauth::{AccessTokenClaims, Audience, OAuthError};
use authdomain_verifier::VerifyError;

/// Where a request came from (for throttling) and which endpoint URL it reached (the
/// accepted `aud` of a client assertion besides the issuer).
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    pub source_address: Option<String>,
    pub endpoint_url: String,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub scope: String,
}

impl Authority {
    pub async fn issue_token(
        &self,
        request: &TokenRequest,
        ctx: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let header = request.credentials.used_authorization_header();
        let client = self.authenticate(&request.credentials, ctx).await?;
        if !client
            .grant_types
            .iter()
            .any(|g| g == crate::oauth::request::GRANT_CLIENT_CREDENTIALS)
        {
            return Err(OAuthError::unauthorized_client(
                "the client is not allowed the client_credentials grant",
            )
            .with_header(header));
        }
        let catalog = self.catalog().await?;
        let grant = grant::resolve(
            &catalog,
            ClientPolicy {
                allowed_scopes: &client.allowed_scopes,
                default_scopes: &client.default_scopes,
            },
            request.scopes.as_deref(),
            &request.resources,
        )
        .map_err(|e| e.with_header(header))?;
        let ring = self.keyring().await?;
        let iat = now();
        let ttl = client
            .token_ttl_seconds
            .unwrap_or(self.settings.default_token_ttl)
            .min(self.settings.max_token_ttl);
        let scope = grant.scope_string();
        let claims = AccessTokenClaims {
            iss: self.settings.issuer.clone(),
            sub: client.client_id.clone(),
            aud: Audience::from_list(grant.audiences),
            exp: iat + ttl,
            iat,
            jti: random_token(16),
            client_id: client.client_id.clone(),
            scope: scope.clone(),
        };
        let payload = serde_json::to_vec(&claims).expect("serialisable");
        let access_token = ring
            .active()
            .sign_jwt(&payload)
            .map_err(|_| OAuthError::server_error("signing failed"))?;
        metrics::counter!("authserver_tokens_issued_total", "alg" => ring.active().alg().as_str())
            .increment(1);
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope,
        })
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool, OAuthError> {
        if let Some(view) = self.view().await? {
            return Ok(view.is_revoked(jti));
        }
        self.with_retry(|| self.store.is_revoked(jti))
            .await
            .map_err(|e| self.store_failure(e))
    }

    /// RFC 7662 introspection. Any authenticated client may introspect.
    pub async fn introspect(
        &self,
        request: &TokenReference,
        ctx: &RequestContext,
    ) -> Result<serde_json::Value, OAuthError> {
        self.authenticate(&request.credentials, ctx).await?;
        let token = match self.verify_own_token(&request.token).await {
            Ok(t) => t,
            Err(OwnTokenError::Store(e)) => return Err(e),
            Err(OwnTokenError::Invalid(VerifyError::KeysUnavailable(_))) => {
                return Err(OAuthError::unavailable(5));
            }
            Err(_) => return Ok(serde_json::json!({ "active": false })),
        };
        let mut body = serde_json::Value::Object(token.claims.clone());
        let obj = body.as_object_mut().expect("object");
        obj.insert("active".into(), true.into());
        obj.insert("token_type".into(), "Bearer".into());
        Ok(body)
    }

    /// RFC 7009 revocation: a client may revoke only its own tokens; unknown or invalid
    /// tokens are answered with success (§2.2).
    pub async fn revoke(
        &self,
        request: &TokenReference,
        ctx: &RequestContext,
    ) -> Result<(), OAuthError> {
        let client = self.authenticate(&request.credentials, ctx).await?;
        if let Some(hint) = request.token_type_hint.as_deref()
            && hint != "access_token"
            && hint != "refresh_token"
        {
            return Err(OAuthError::new(
                crate::oauth::ErrorCode::UnsupportedTokenType,
                format!(
                    "token_type_hint `{hint}` is not supported (this server issues access tokens only)"
                ),
            ));
        }
        let claims = match self.own_tokens.verify(&request.token).await {
            Ok(t) => t,
            Err(VerifyError::KeysUnavailable(_)) => return Err(OAuthError::unavailable(5)),
            Err(_) => return Ok(()),
        };
        if claims.client_id != client.client_id {
            return Err(
                OAuthError::unauthorized_client("the token was not issued to this client")
                    .with_header(request.credentials.used_authorization_header()),
            );
        }
        let t = now();
        self.with_retry(|| {
            self.store
                .revoke_token(&claims.jwt_id, &claims.client_id, claims.expires_at, t)
        })
        .await
        .map_err(|e| self.store_failure(e))?;
        metrics::counter!("authserver_tokens_revoked_total").increment(1);
        // Introspection served from the read model sees it within the cache bound.
        self.after_change().await;
        Ok(())
    }
}
