//! Revoking an access token as an admin (a leaked token, say): any client's, where RFC
//! 7009 revocation lets a client revoke only its own.

use authdomain_api::{Revocation, RevocationInput};
use serde_json::json;

use super::{Actor, AdminError, invalid};
use crate::authority::Authority;
use crate::ids::now;

impl Authority {
    /// Revoke one of our tokens. Introspection reports it inactive from then on (within the
    /// read model's cache bound on other instances); a resource server that verifies
    /// tokens locally keeps accepting it until it expires.
    pub async fn revoke_token_as_admin(
        &self,
        actor: &Actor,
        input: RevocationInput,
    ) -> Result<Revocation, AdminError> {
        actor.require_admin("revoking an access token")?;
        let token = match self.own_tokens.verify(&input.token).await {
            Ok(t) => t,
            Err(authdomain_verifier::VerifyError::KeysUnavailable(m)) => {
                return Err(AdminError::Unavailable(m));
            }
            Err(e) => {
                return Err(invalid(
                    "token",
                    format!("not a valid, unexpired access token of this server: {e}"),
                ));
            }
        };
        let revocation = Revocation {
            jti: token.jwt_id.clone(),
            client_id: token.client_id.clone(),
            expires_at: token.expires_at,
        };
        let t = now();
        self.with_retry(|| {
            self.store.revoke_token(
                &revocation.jti,
                &revocation.client_id,
                revocation.expires_at,
                t,
            )
        })
        .await?;
        self.after_change().await;
        self.audit(
            actor,
            "token.revoke",
            &revocation.jti,
            None,
            json!({ "client_id": revocation.client_id, "expires_at": revocation.expires_at }),
        )
        .await;
        Ok(revocation)
    }
}
