//! The schema version check: an image older than the database runs on it only when the
//! newer image's migrations said it may (`authdomain_schema.oldest_compatible`); otherwise
//! it refuses before changing anything, with a message naming both versions.

use authserver::store::{Store, StoreError, StoreOptions};

use crate::support::{Backend, database_url, on_both_backends};

/// Run `sql` on the database at `url` directly, as another image's migration would.
async fn exec(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

async fn an_older_image_runs_on_a_newer_schema_only_when_it_is_compatible(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(backend, dir.path());
    let store = Store::open(&url, &StoreOptions::default()).await.unwrap();
    store.migrate().await.unwrap();
    // A newer image's migration 99, recorded as sqlx records it, which older images may
    // not run against.
    let checksum = match backend {
        Backend::Sqlite => "X'00'",
        Backend::Postgres => "decode('00', 'hex')",
    };
    exec(
        &url,
        &format!(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (99, 'from a newer image', TRUE, {checksum}, 0)"
        ),
    )
    .await;
    exec(&url, "UPDATE authdomain_schema SET oldest_compatible = 99").await;
    let err = store.migrate().await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                database: 99,
                oldest_compatible: 99,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("migration 99") && text.contains("rolling back"),
        "{text}"
    );
    // The newer image said older ones may run (its migrations were additive).
    exec(&url, "UPDATE authdomain_schema SET oldest_compatible = 1").await;
    store.migrate().await.unwrap();
    store.close().await;
}

on_both_backends!(an_older_image_runs_on_a_newer_schema_only_when_it_is_compatible);
