//! Persistence: PostgreSQL (production, Aurora) and SQLite (embedded default) behind one
//! type. Each query is written once; `with_pool!` expands it for both drivers, so the two
//! backends cannot drift apart. Times are Unix seconds in `BIGINT` columns and lists are
//! JSON text, which both databases store the same way.

pub mod iam_auth;
mod records;
pub mod retry;

pub use audit::AuditFilter;
pub use portal::{PendingLogin, SessionRecord};

pub use records::{ClientRecord, ResourceServerRecord, ScopeDef, SecretRecord};

use std::str::FromStr;
use std::time::Duration;

use sqlx::Row as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::keys::{Algorithm, KeyState, StoredKey};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now (connection refused, resuming, pool timeout).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was violated (duplicate id, scope already owned by another API).
    #[error("{0}")]
    Conflict(String),
    #[error("invalid database URL `{url}`: {why}")]
    Config { url: String, why: String },
    #[error("stored data is not in the expected form: {0}")]
    Corrupt(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database was migrated by a newer image that older ones cannot run against.
    #[error(
        "the database's schema is at migration {database}, newer than this image's {image}, and \
         images before migration {oldest_compatible} cannot run on it: deploy an image whose \
         migrations reach {oldest_compatible} or later (README: rolling back)"
    )]
    SchemaTooNew {
        database: i64,
        image: i64,
        oldest_compatible: i64,
    },
    #[error("database error: {0}")]
    Database(sqlx::Error),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed
            // A connection cut during the handshake (a server starting or resuming) surfaces
            // as a protocol error, e.g. an empty answer to SSLRequest.
            | sqlx::Error::Protocol(_) => StoreError::Unavailable(e.to_string()),
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                // 57P03 cannot_connect_now (starting up / resuming), 08* connection exceptions,
                // 53300 too_many_connections; SQLite 5/6 BUSY/LOCKED.
                if code == "57P03" || code.starts_with("08") || code == "53300" || code == "5" || code == "6" {
                    StoreError::Unavailable(db.message().to_owned())
                } else if db.is_unique_violation() {
                    StoreError::Conflict(db.message().to_owned())
                } else {
                    StoreError::Database(e)
                }
            }
            _ => StoreError::Database(e),
        }
    }
}

/// identifier, name, team, managed_by, created_at, updated_at, scope name, scope description
type ResourceServerRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    Option<String>,
    Option<String>,
);

/// Every resource server with its scopes, as [`ResourceServerRow`]s (one query for the
/// admin reads and the read model's snapshot).
pub(crate) const RESOURCE_SERVERS_SQL: &str = "SELECT r.identifier, r.name, r.team, r.managed_by, r.created_at, r.updated_at, s.name, s.description \
     FROM resource_servers r LEFT JOIN resource_server_scopes s ON s.identifier = r.identifier \
     ORDER BY r.identifier, s.name";

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// The auth server's store. Clones share one pool.
#[derive(Debug, Clone)]
pub struct Store {
    inner: std::sync::Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: std::sync::RwLock<Db>,
    /// How to open the PostgreSQL pool again after [`Store::release`].
    reopen: Option<PgReopen>,
}

/// A PostgreSQL pool's recipe: its connect options and, with IAM authentication, the
/// region to sign a fresh token in.
#[derive(Debug, Clone)]
struct PgReopen {
    connect: PgConnectOptions,
    iam_region: Option<String>,
    options: StoreOptions,
}

/// Expand `$body` once per driver with `$pool` bound to the concrete pool.
macro_rules! with_pool {
    ($self:expr, $pool:ident => $body:expr) => {
        match &$self.pool() {
            Db::Postgres($pool) => $body,
            Db::Sqlite($pool) => $body,
        }
    };
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub max_connections: u32,
    /// How long one attempt to get a connection may wait (the caller retries unavailability).
    pub acquire_timeout: Duration,
    /// PostgreSQL only: authenticate with IAM database authentication in this AWS region
    /// (a fresh signed token as the password of every new connection; TLS required).
    pub iam_auth_region: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
            iam_auth_region: None,
        }
    }
}

/// `SELECT` of clients joined with their secrets, followed by `$tail` (a literal, so the
/// statement stays a static string).
macro_rules! client_select {
    ($tail:literal) => {
        concat!(
            "SELECT c.client_id, c.name, c.auth_method, c.grant_types, c.allowed_scopes, c.default_scopes, ",
            "c.token_ttl_seconds, c.jwks, c.jwks_uri, c.team, c.managed_by, c.created_at, c.updated_at, ",
            "s.secret_id, s.secret_hash, s.created_at AS secret_created_at ",
            "FROM clients c LEFT JOIN client_secrets s ON s.client_id = c.client_id ",
            $tail
        )
    };
}

/// One joined client row of either driver as a [`records::ClientRow`].
macro_rules! client_row {
    ($r:expr) => {
        records::ClientRow {
            client_id: $r.try_get("client_id"),
            name: $r.try_get("name"),
            auth_method: $r.try_get("auth_method"),
            grant_types: $r.try_get("grant_types"),
            allowed_scopes: $r.try_get("allowed_scopes"),
            default_scopes: $r.try_get("default_scopes"),
            token_ttl_seconds: $r.try_get("token_ttl_seconds"),
            jwks: $r.try_get("jwks"),
            jwks_uri: $r.try_get("jwks_uri"),
            team: $r.try_get("team"),
            managed_by: $r.try_get("managed_by"),
            created_at: $r.try_get("created_at"),
            updated_at: $r.try_get("updated_at"),
            secret_id: $r.try_get("secret_id"),
            secret_hash: $r.try_get("secret_hash"),
            secret_created_at: $r.try_get("secret_created_at"),
        }
    };
}

/// Insert a signing key record through any executor of either driver.
macro_rules! insert_key_sql {
    ($executor:expr, $k:expr) => {{
        let k: &StoredKey = $k;
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, state, public_jwk, private_sealed, created_at, activated_at, retired_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&k.kid)
        .bind(k.alg.as_str())
        .bind(k.state.as_str())
        .bind(k.public_jwk.to_string())
        .bind(&k.private_sealed)
        .bind(k.created_at)
        .bind(k.activated_at)
        .bind(k.retired_at)
        .bind(k.expires_at)
        .execute($executor)
        .await
        .map_err(StoreError::from)
    }};
}

impl Store {
    /// Open a store from a URL: `postgres://…` / `postgresql://…` or `sqlite://PATH` /
    /// `sqlite::memory:`. Never connects eagerly to PostgreSQL, so a server can start while
    /// its database is still resuming.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Store> {
        let config_err = |why: String| StoreError::Config {
            url: redact_url(url),
            why,
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut connect =
                PgConnectOptions::from_str(url).map_err(|e| config_err(e.to_string()))?;
            if options.iam_auth_region.is_some()
                && matches!(
                    connect.get_ssl_mode(),
                    PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer
                )
            {
                connect = connect.ssl_mode(PgSslMode::Require);
            }
            let recipe = PgReopen {
                connect,
                iam_region: options.iam_auth_region.clone(),
                options: options.clone(),
            };
            let pool = recipe.pool().map_err(config_err)?;
            if let Some(region) = recipe.iam_region.clone() {
                // Tokens live 15 minutes; new connections always get one signed within 10.
                // (A pool that `release` replaces gets a fresh token when it is made.)
                let refresh = pool.clone();
                let base = recipe.connect.clone();
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        if refresh.is_closed() {
                            return;
                        }
                        match iam_token(&base, &region) {
                            Ok(token) => refresh.set_connect_options(base.clone().password(&token)),
                            Err(e) => {
                                tracing::error!(error = %e, "could not sign a database token")
                            }
                        }
                    }
                });
            }
            Ok(Store::new(Db::Postgres(pool), Some(recipe)))
        } else if url.starts_with("sqlite:") {
            let connect = SqliteConnectOptions::from_str(url)
                .map_err(|e| config_err(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let pool = SqlitePoolOptions::new()
                // An in-memory database exists per connection: keep exactly one.
                .max_connections(if in_memory {
                    1
                } else {
                    options.max_connections.max(1)
                })
                .min_connections(if in_memory { 1 } else { 0 })
                .idle_timeout(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(300))
                })
                .max_lifetime(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(1800))
                })
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            Ok(Store::new(Db::Sqlite(pool), None))
        } else {
            Err(config_err(
                "expected a URL starting with postgres://, postgresql:// or sqlite:".into(),
            ))
        }
    }

    fn new(db: Db, reopen: Option<PgReopen>) -> Store {
        Store {
            inner: std::sync::Arc::new(Inner {
                db: std::sync::RwLock::new(db),
                reopen,
            }),
        }
    }

    /// The pool in use now (a clone: pools are shared handles).
    fn pool(&self) -> Db {
        self.inner.db.read().expect("store lock").clone()
    }

    /// Close every connection this store holds, keeping it usable: the next query opens a
    /// new pool (with a freshly signed IAM token). Lambda calls this before an invocation
    /// that used the database returns, so a frozen execution environment holds no
    /// connection (Aurora pauses only when no user connection is open) and never meets a
    /// connection or a token that went stale while it was frozen.
    pub async fn release(&self) {
        let Some(recipe) = &self.inner.reopen else {
            return;
        };
        let old = {
            let mut db = self.inner.db.write().expect("store lock");
            match &*db {
                Db::Postgres(p) if p.size() > 0 => match recipe.pool() {
                    Ok(fresh) => Some(std::mem::replace(&mut *db, Db::Postgres(fresh))),
                    Err(e) => {
                        tracing::error!(error = %e, "could not prepare a new database pool; keeping the open one");
                        None
                    }
                },
                _ => None,
            }
        };
        if let Some(Db::Postgres(p)) = old {
            p.close().await;
            metrics::counter!("authserver_db_pool_released_total").increment(1);
        }
    }

    /// Open connections (idle and in use), for tests and metrics.
    pub fn open_connections(&self) -> u32 {
        match self.pool() {
            Db::Postgres(p) => p.size(),
            Db::Sqlite(p) => p.size(),
        }
    }

    pub fn backend(&self) -> &'static str {
        match self.pool() {
            Db::Postgres(_) => "postgres",
            Db::Sqlite(_) => "sqlite",
        }
    }

    /// Apply pending migrations (idempotent). A database a newer image migrated is run on
    /// only when that image said older ones may (`authdomain_schema.oldest_compatible`);
    /// otherwise [`StoreError::SchemaTooNew`], before anything is changed.
    pub async fn migrate(&self) -> Result<()> {
        let mut migrator = match &self.pool() {
            Db::Postgres(_) => sqlx::migrate!("./migrations/postgres"),
            Db::Sqlite(_) => sqlx::migrate!("./migrations/sqlite"),
        };
        let image = migrator.iter().map(|m| m.version).max().unwrap_or(0);
        let applied: Option<i64> = with_pool!(self, p => {
            match sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations")
                .fetch_one(p)
                .await
            {
                Ok(v) => v,
                // No table yet: a new database.
                Err(sqlx::Error::Database(_)) => None,
                Err(e) => return Err(e.into()),
            }
        });
        if let Some(database) = applied.filter(|v| *v > image) {
            let oldest: Option<i64> = with_pool!(self, p => {
                sqlx::query_scalar::<_, i64>(
                    "SELECT oldest_compatible FROM authdomain_schema WHERE id = 1",
                )
                .fetch_optional(p)
                .await
                .ok()
                .flatten()
            });
            match oldest {
                Some(o) if o <= image => {
                    tracing::info!(
                        database,
                        image,
                        "the database is newer than this image and says it may run on it"
                    );
                    migrator.set_ignore_missing(true);
                }
                o => {
                    return Err(StoreError::SchemaTooNew {
                        database,
                        image,
                        oldest_compatible: o.unwrap_or(database),
                    });
                }
            }
        }
        with_pool!(self, p => migrator.run(p).await?);
        Ok(())
    }

    pub async fn ping(&self) -> Result<()> {
        with_pool!(self, p => { sqlx::query("SELECT 1").execute(p).await?; });
        Ok(())
    }

    pub async fn close(&self) {
        with_pool!(self, p => p.close().await)
    }

    // ---- resource servers -------------------------------------------------------------

    pub async fn list_resource_servers(&self) -> Result<Vec<ResourceServerRecord>> {
        let rows: Vec<ResourceServerRow> = with_pool!(self, p => {
            sqlx::query_as(RESOURCE_SERVERS_SQL)
            .fetch_all(p)
            .await?
        });
        Ok(resource_servers_from_rows(rows))
    }

    pub async fn get_resource_server(
        &self,
        identifier: &str,
    ) -> Result<Option<ResourceServerRecord>> {
        // The catalogue is small; one code path for reading it.
        Ok(self
            .list_resource_servers()
            .await?
            .into_iter()
            .find(|r| r.identifier == identifier))
    }

    /// Insert or replace a resource server and its scopes in one transaction. `create_only`
    /// makes an existing identifier a conflict.
    pub async fn put_resource_server(
        &self,
        rs: &ResourceServerRecord,
        create_only: bool,
    ) -> Result<()> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO resource_servers (identifier, name, team, managed_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (identifier) DO NOTHING",
            )
            .bind(&rs.identifier).bind(&rs.name).bind(&rs.team).bind(&rs.managed_by).bind(rs.created_at).bind(rs.updated_at)
            .execute(&mut *tx).await?.rows_affected() == 1;
            if !inserted {
                if create_only {
                    return Err(StoreError::Conflict(format!("resource server `{}` already exists", rs.identifier)));
                }
                sqlx::query("UPDATE resource_servers SET name = $2, team = $3, managed_by = $4, updated_at = $5 WHERE identifier = $1")
                    .bind(&rs.identifier).bind(&rs.name).bind(&rs.team).bind(&rs.managed_by).bind(rs.updated_at)
                    .execute(&mut *tx).await?;
                sqlx::query("DELETE FROM resource_server_scopes WHERE identifier = $1")
                    .bind(&rs.identifier).execute(&mut *tx).await?;
            }
            for scope in &rs.scopes {
                let owner: Option<(String,)> = sqlx::query_as("SELECT identifier FROM resource_server_scopes WHERE name = $1")
                    .bind(&scope.name).fetch_optional(&mut *tx).await?;
                if let Some((owner,)) = owner {
                    return Err(StoreError::Conflict(format!(
                        "scope `{}` is already defined by resource server `{owner}` (scope names are unique in a domain)",
                        scope.name
                    )));
                }
                sqlx::query("INSERT INTO resource_server_scopes (name, identifier, description) VALUES ($1, $2, $3)")
                    .bind(&scope.name).bind(&rs.identifier).bind(&scope.description)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn delete_resource_server(&self, identifier: &str) -> Result<bool> {
        let n = with_pool!(self, p => {
            sqlx::query("DELETE FROM resource_servers WHERE identifier = $1").bind(identifier).execute(p).await?.rows_affected()
        });
        Ok(n > 0)
    }

    // ---- clients ----------------------------------------------------------------------

    pub async fn get_client(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        let sql =
            client_select!("WHERE c.client_id = $1 ORDER BY s.created_at, s.seq, s.secret_id");
        let clients = with_pool!(self, p => {
            let rows = sqlx::query(sql).bind(client_id).fetch_all(p).await?;
            records::clients_from_rows(rows.iter().map(|r| client_row!(r)))?
        });
        Ok(clients.into_iter().next())
    }

    pub async fn list_clients(&self) -> Result<Vec<ClientRecord>> {
        let sql =
            client_select!("ORDER BY c.created_at, c.client_id, s.created_at, s.seq, s.secret_id");
        with_pool!(self, p => {
            let rows = sqlx::query(sql).fetch_all(p).await?;
            records::clients_from_rows(rows.iter().map(|r| client_row!(r)))
        })
    }

    /// Insert a new client with its first secret (if any) in one transaction.
    pub async fn insert_client(&self, c: &ClientRecord) -> Result<()> {
        let (grant_types, allowed, defaults) = records::client_lists(c);
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "INSERT INTO clients (client_id, name, auth_method, grant_types, allowed_scopes, default_scopes, \
                 token_ttl_seconds, jwks, jwks_uri, team, managed_by, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(&c.client_id).bind(&c.name).bind(&c.auth_method).bind(&grant_types).bind(&allowed).bind(&defaults)
            .bind(c.token_ttl_seconds).bind(&c.jwks).bind(&c.jwks_uri).bind(&c.team).bind(&c.managed_by)
            .bind(c.created_at).bind(c.updated_at)
            .execute(&mut *tx).await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("client `{}` already exists", c.client_id)),
                other => other,
            })?;
            for (seq, s) in (1_i64..).zip(&c.secrets) {
                sqlx::query("INSERT INTO client_secrets (secret_id, client_id, secret_hash, created_at, seq) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&s.secret_id).bind(&c.client_id).bind(&s.hash).bind(s.created_at).bind(seq)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Replace a client's mutable fields. Returns false when it does not exist.
    pub async fn update_client(&self, c: &ClientRecord) -> Result<bool> {
        let (grant_types, allowed, defaults) = records::client_lists(c);
        let n = with_pool!(self, p => {
            sqlx::query(
                "UPDATE clients SET name = $2, auth_method = $3, grant_types = $4, allowed_scopes = $5, \
                 default_scopes = $6, token_ttl_seconds = $7, jwks = $8, jwks_uri = $9, team = $10, \
                 managed_by = $11, updated_at = $12 WHERE client_id = $1",
            )
            .bind(&c.client_id).bind(&c.name).bind(&c.auth_method).bind(&grant_types).bind(&allowed).bind(&defaults)
            .bind(c.token_ttl_seconds).bind(&c.jwks).bind(&c.jwks_uri).bind(&c.team).bind(&c.managed_by)
            .bind(c.updated_at)
            .execute(p).await?.rows_affected()
        });
        Ok(n > 0)
    }

    pub async fn delete_client(&self, client_id: &str) -> Result<bool> {
        let n = with_pool!(self, p => {
            sqlx::query("DELETE FROM clients WHERE client_id = $1").bind(client_id).execute(p).await?.rows_affected()
        });
        Ok(n > 0)
    }

    /// Add a secret unless the client already has `max_active` secrets. Returns the number of
    /// secrets the client had before, or None when the client does not exist.
    pub async fn add_secret(
        &self,
        client_id: &str,
        secret: &SecretRecord,
        max_active: i64,
    ) -> Result<Option<i64>> {
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            // Lock the client row (PostgreSQL) so two concurrent rotations cannot both pass the count.
            let lock_sql = if matches!(self.pool(), Db::Postgres(_)) {
                "SELECT client_id FROM clients WHERE client_id = $1 FOR UPDATE"
            } else {
                "SELECT client_id FROM clients WHERE client_id = $1"
            };
            let exists: Option<(String,)> = sqlx::query_as(lock_sql).bind(client_id).fetch_optional(&mut *tx).await?;
            if exists.is_none() {
                return Ok(None);
            }
            let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM client_secrets WHERE client_id = $1")
                .bind(client_id).fetch_one(&mut *tx).await?;
            if count >= max_active {
                return Err(StoreError::Conflict(format!(
                    "client `{client_id}` already has {count} active secrets; revoke one before adding another"
                )));
            }
            // The client row is locked above (PostgreSQL) or the database is (SQLite), so the
            // next `seq` cannot be taken twice.
            sqlx::query(
                "INSERT INTO client_secrets (secret_id, client_id, secret_hash, created_at, seq) \
                 VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(seq), 0) + 1 FROM client_secrets WHERE client_id = $2))",
            )
            .bind(&secret.secret_id).bind(client_id).bind(&secret.hash).bind(secret.created_at)
            .execute(&mut *tx).await?;
            sqlx::query("UPDATE clients SET updated_at = $2 WHERE client_id = $1")
                .bind(client_id).bind(secret.created_at).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Some(count))
        })
    }

    pub async fn delete_secret(&self, client_id: &str, secret_id: &str) -> Result<bool> {
        let n = with_pool!(self, p => {
            sqlx::query("DELETE FROM client_secrets WHERE client_id = $1 AND secret_id = $2")
                .bind(client_id).bind(secret_id).execute(p).await?.rows_affected()
        });
        Ok(n > 0)
    }

    // ---- signing keys -----------------------------------------------------------------

    pub async fn list_keys(&self) -> Result<Vec<StoredKey>> {
        let rows: Vec<records::KeyRow> = with_pool!(self, p => {
            sqlx::query_as(
                "SELECT kid, alg, state, public_jwk, private_sealed, created_at, activated_at, retired_at, expires_at \
                 FROM signing_keys ORDER BY created_at, kid",
            )
            .fetch_all(p)
            .await?
        });
        rows.into_iter().map(records::key_from_row).collect()
    }

    /// Make sure `alg` has an active and a next key, creating them with `generate` (which is
    /// only called when needed). Keys of other algorithms are retired. Safe to run
    /// concurrently from several instances: the partial unique indexes let one win.
    pub async fn ensure_keys(
        &self,
        alg: Algorithm,
        now: i64,
        retire_until: i64,
        mut generate: impl FnMut(KeyState) -> Result<StoredKey, crate::keys::KeyError>,
    ) -> Result<bool> {
        let keys = self.list_keys().await?;
        let has = |state: KeyState| keys.iter().any(|k| k.alg == alg && k.state == state);
        let others = keys
            .iter()
            .any(|k| k.alg != alg && k.state != KeyState::Retired);
        if has(KeyState::Active) && has(KeyState::Next) && !others {
            return Ok(false);
        }
        let mut fresh = Vec::new();
        if !has(KeyState::Active) {
            fresh.push(generate(KeyState::Active).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        }
        if !has(KeyState::Next) {
            fresh.push(generate(KeyState::Next).map_err(|e| StoreError::Corrupt(e.to_string()))?);
        }
        let alg_name = alg.as_str();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE signing_keys SET state = 'retired', retired_at = $2, expires_at = $3 \
                 WHERE alg <> $1 AND state <> 'retired'",
            )
            .bind(alg_name).bind(now).bind(retire_until)
            .execute(&mut *tx).await?;
            for k in &fresh {
                insert_key_sql!(&mut *tx, k)?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Rotate `alg`: next → active, active → retired (published until `retire_until`),
    /// `new_next` becomes next; expired retired keys are deleted. One transaction.
    pub async fn rotate_keys(
        &self,
        alg: Algorithm,
        new_next: &StoredKey,
        now: i64,
        retire_until: i64,
    ) -> Result<()> {
        let alg_name = alg.as_str();
        with_pool!(self, p => {
            let mut tx = p.begin().await?;
            sqlx::query(
                "UPDATE signing_keys SET state = 'retired', retired_at = $2, expires_at = $3 WHERE alg = $1 AND state = 'active'",
            )
            .bind(alg_name).bind(now).bind(retire_until).execute(&mut *tx).await?;
            let promoted = sqlx::query("UPDATE signing_keys SET state = 'active', activated_at = $2 WHERE alg = $1 AND state = 'next'")
                .bind(alg_name).bind(now).execute(&mut *tx).await?.rows_affected();
            if promoted == 0 {
                return Err(StoreError::Conflict(format!("there is no next {alg_name} key to promote; run `authserver migrate` first")));
            }
            insert_key_sql!(&mut *tx, new_next)?;
            sqlx::query("DELETE FROM signing_keys WHERE state = 'retired' AND expires_at <= $1")
                .bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    // ---- revocation and replay --------------------------------------------------------

    pub async fn revoke_token(
        &self,
        jti: &str,
        client_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        with_pool!(self, p => {
            sqlx::query("INSERT INTO revoked_tokens (jti, client_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING")
                .bind(jti).bind(client_id).bind(expires_at).execute(p).await?;
            sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1").bind(now).execute(p).await?;
        });
        Ok(())
    }

    pub async fn is_revoked(&self, jti: &str) -> Result<bool> {
        let found: Option<(String,)> = with_pool!(self, p => {
            sqlx::query_as("SELECT jti FROM revoked_tokens WHERE jti = $1").bind(jti).fetch_optional(p).await?
        });
        Ok(found.is_some())
    }

    /// Record a client assertion's `jti`; false when it was already used (a replay).
    pub async fn use_assertion(
        &self,
        client_id: &str,
        jti: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool> {
        let n = with_pool!(self, p => {
            sqlx::query("DELETE FROM used_assertions WHERE expires_at < $1").bind(now).execute(p).await?;
            sqlx::query(
                "INSERT INTO used_assertions (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT (client_id, jti) DO NOTHING",
            )
            .bind(client_id).bind(jti).bind(expires_at).execute(p).await?.rows_affected()
        });
        Ok(n == 1)
    }
}

/// Group joined resource-server rows (ordered by identifier) into resource servers.
fn resource_servers_from_rows(rows: Vec<ResourceServerRow>) -> Vec<ResourceServerRecord> {
    let mut out: Vec<ResourceServerRecord> = Vec::new();
    for (identifier, name, team, managed_by, created_at, updated_at, scope, description) in rows {
        if out.last().is_none_or(|r| r.identifier != identifier) {
            out.push(ResourceServerRecord {
                identifier,
                name,
                team,
                managed_by,
                scopes: Vec::new(),
                created_at,
                updated_at,
            });
        }
        if let Some(scope) = scope {
            let last = out.last_mut().expect("pushed above");
            last.scopes.push(ScopeDef {
                name: scope,
                description: description.unwrap_or_default(),
            });
        }
    }
    out
}

impl PgReopen {
    /// A lazy pool (nothing connects before the first query), with a token signed now.
    fn pool(&self) -> std::result::Result<PgPool, String> {
        let connect = match &self.iam_region {
            Some(region) => {
                let token = iam_token(&self.connect, region)?;
                self.connect.clone().password(&token)
            }
            None => self.connect.clone(),
        };
        Ok(PgPoolOptions::new()
            .max_connections(self.options.max_connections)
            .min_connections(0)
            .acquire_timeout(self.options.acquire_timeout)
            .idle_timeout(Some(Duration::from_secs(300)))
            .connect_lazy_with(connect))
    }
}

fn iam_token(connect: &PgConnectOptions, region: &str) -> std::result::Result<String, String> {
    let creds = iam_auth::EnvCredentials::from_env()?;
    iam_auth::auth_token(
        connect.get_host(),
        connect.get_port(),
        connect.get_username(),
        region,
        &creds,
        std::time::SystemTime::now(),
    )
}

/// A database URL with any password replaced, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

// Declared after the macros above, which they use.
mod audit;
mod portal;
pub mod read_model;
