//! The read model's side of the database: its version (bumped by triggers in the same
//! transaction as every change to what it holds, see migration 0003), what was published,
//! and one consistent read of everything a snapshot holds.

use sqlx::Row as _;

use super::records::{self, KeyRow};
use super::{ClientRecord, Db, ResourceServerRecord, ResourceServerRow, Result, Store};
use crate::keys::StoredKey;

/// What the database says about publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadModelState {
    /// The version of what the database holds now.
    pub version: i64,
    /// The highest version published.
    pub published_version: i64,
    pub published_at: Option<i64>,
    /// The last publication's failure, until one succeeds.
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
}

/// Everything a snapshot holds, read at one point in time.
#[derive(Debug, Clone)]
pub struct ReadModelRecords {
    pub version: i64,
    pub clients: Vec<ClientRecord>,
    pub resource_servers: Vec<ResourceServerRecord>,
    pub keys: Vec<StoredKey>,
    /// Revoked token ids that have not expired, with their expiry.
    pub revoked: Vec<(String, i64)>,
}

type StateRow = (i64, i64, Option<i64>, Option<String>, Option<i64>);

impl Store {
    pub async fn read_model_state(&self) -> Result<ReadModelState> {
        let (version, published_version, published_at, last_error, last_error_at): StateRow = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT version, published_version, published_at, last_error, last_error_at FROM read_model_state WHERE id = 1",
            )
            .fetch_one(p)
            .await?
        });
        Ok(ReadModelState {
            version,
            published_version,
            published_at,
            last_error,
            last_error_at,
        })
    }

    /// Everything the read model holds, in one read transaction (PostgreSQL: REPEATABLE
    /// READ, one snapshot for every statement; SQLite: a read transaction in WAL mode), so
    /// the version and the data belong together.
    pub async fn read_model_records(&self, now: i64) -> Result<ReadModelRecords> {
        let client_sql =
            client_select!("ORDER BY c.created_at, c.client_id, s.created_at, s.seq, s.secret_id");
        let rs_sql = super::RESOURCE_SERVERS_SQL;
        let key_sql = "SELECT kid, alg, state, public_jwk, private_sealed, created_at, activated_at, retired_at, expires_at \
             FROM signing_keys ORDER BY created_at, kid";
        let revoked_sql =
            "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at >= $1 ORDER BY jti";
        let version_sql = "SELECT version FROM read_model_state WHERE id = 1";
        // One body for both backends; PostgreSQL's transaction is made a single snapshot
        // (SQLite's read transaction in WAL mode already is).
        let postgres = matches!(self.pool(), Db::Postgres(_));
        let (version, clients, servers, keys, revoked) = with_pool!(self, p => {
            let mut tx = p.begin().await?;
            if postgres {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let (version,): (i64,) = sqlx::query_as(version_sql).fetch_one(&mut *tx).await?;
            let rows = sqlx::query(client_sql).fetch_all(&mut *tx).await?;
            let clients = records::clients_from_rows(rows.iter().map(|r| client_row!(r)))?;
            let servers: Vec<ResourceServerRow> =
                sqlx::query_as(rs_sql).fetch_all(&mut *tx).await?;
            let keys: Vec<KeyRow> = sqlx::query_as(key_sql).fetch_all(&mut *tx).await?;
            let revoked: Vec<(String, i64)> = sqlx::query_as(revoked_sql)
                .bind(now)
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            (version, clients, servers, keys, revoked)
        });
        Ok(ReadModelRecords {
            version,
            clients,
            resource_servers: super::resource_servers_from_rows(servers),
            keys: keys
                .into_iter()
                .map(records::key_from_row)
                .collect::<Result<Vec<_>>>()?,
            revoked,
        })
    }

    /// Record that `version` is published (never lowering what was recorded) and clear
    /// the last failure.
    pub async fn mark_published(&self, version: i64, now: i64) -> Result<()> {
        with_pool!(self, p => {
            sqlx::query(
                "UPDATE read_model_state SET published_version = CASE WHEN published_version < $1 THEN $1 ELSE published_version END, \
                 published_at = $2, last_error = NULL, last_error_at = NULL WHERE id = 1",
            )
            .bind(version)
            .bind(now)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Record why a publication failed (shown by the admin API until one succeeds).
    pub async fn mark_publish_failed(&self, error: &str, now: i64) -> Result<()> {
        with_pool!(self, p => {
            sqlx::query("UPDATE read_model_state SET last_error = $1, last_error_at = $2 WHERE id = 1")
                .bind(error)
                .bind(now)
                .execute(p)
                .await?;
        });
        Ok(())
    }
}
