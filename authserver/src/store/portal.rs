//! The portal's sign-ins under way and its sessions, kept server-side so that any
//! instance (or Lambda execution environment) can finish a sign-in another one began, and
//! a sign-out ends the session everywhere at once.

use super::{Db, Result, Store, StoreError};

/// One authorization request waiting for its callback.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub code_verifier: String,
    /// A path under the portal to return to after sign-in.
    pub return_to: String,
    pub expires_at: i64,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("return_to", &self.return_to)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A signed-in person, stored under the SHA-256 of the cookie's random id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: String,
    pub subject: String,
    pub name: String,
    pub email: Option<String>,
    pub admin: bool,
    pub teams: Vec<String>,
    /// The synchroniser token every state-changing form carries.
    pub csrf: String,
    pub created_at: i64,
    pub expires_at: i64,
}

type SessionRow = (
    String,
    String,
    String,
    Option<String>,
    bool,
    String,
    String,
    i64,
    i64,
);

impl Store {
    pub async fn insert_login(&self, l: &PendingLogin, now: i64) -> Result<()> {
        with_pool!(self, p => {
            sqlx::query("DELETE FROM portal_logins WHERE expires_at < $1").bind(now).execute(p).await?;
            sqlx::query(
                "INSERT INTO portal_logins (state, nonce, code_verifier, return_to, expires_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&l.state).bind(&l.nonce).bind(&l.code_verifier).bind(&l.return_to).bind(l.expires_at)
            .execute(p).await?;
        });
        Ok(())
    }

    /// Remove and return the sign-in with this `state`: a callback can use it once only.
    /// Expired sign-ins are not returned.
    pub async fn take_login(&self, state: &str, now: i64) -> Result<Option<PendingLogin>> {
        let row: Option<(String, String, String, String, i64)> = with_pool!(self, p => {
            sqlx::query_as(
                "DELETE FROM portal_logins WHERE state = $1 \
                 RETURNING state, nonce, code_verifier, return_to, expires_at",
            )
            .bind(state).fetch_optional(p).await?
        });
        Ok(row
            .map(
                |(state, nonce, code_verifier, return_to, expires_at)| PendingLogin {
                    state,
                    nonce,
                    code_verifier,
                    return_to,
                    expires_at,
                },
            )
            .filter(|l| l.expires_at >= now))
    }

    pub async fn insert_session(&self, s: &SessionRecord) -> Result<()> {
        let teams = serde_json::to_string(&s.teams).expect("serialisable");
        with_pool!(self, p => {
            sqlx::query("DELETE FROM portal_sessions WHERE expires_at < $1").bind(s.created_at).execute(p).await?;
            sqlx::query(
                "INSERT INTO portal_sessions (id_hash, subject, name, email, admin, teams, csrf, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&s.id_hash).bind(&s.subject).bind(&s.name).bind(&s.email).bind(s.admin).bind(&teams)
            .bind(&s.csrf).bind(s.created_at).bind(s.expires_at)
            .execute(p).await?;
        });
        Ok(())
    }

    /// The unexpired session with this id hash.
    pub async fn get_session(&self, id_hash: &str, now: i64) -> Result<Option<SessionRecord>> {
        let row: Option<SessionRow> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT id_hash, subject, name, email, admin, teams, csrf, created_at, expires_at \
                 FROM portal_sessions WHERE id_hash = $1 AND expires_at >= $2",
            )
            .bind(id_hash).bind(now).fetch_optional(p).await?
        });
        row.map(
            |(id_hash, subject, name, email, admin, teams, csrf, created_at, expires_at)| {
                Ok(SessionRecord {
                    teams: serde_json::from_str(&teams)
                        .map_err(|e| StoreError::Corrupt(format!("portal_sessions.teams: {e}")))?,
                    id_hash,
                    subject,
                    name,
                    email,
                    admin,
                    csrf,
                    created_at,
                    expires_at,
                })
            },
        )
        .transpose()
    }

    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        with_pool!(self, p => {
            sqlx::query("DELETE FROM portal_sessions WHERE id_hash = $1").bind(id_hash).execute(p).await?;
        });
        Ok(())
    }
}
