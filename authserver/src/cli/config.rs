//! Settings, the key-encryption key and the database, from the command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use authserver::keys::Kek;
use authserver::store::{Store, StoreOptions, redact_url};
use authserver::{Authority, Settings};

use super::Global;

pub fn resolve_kek(g: &Global) -> anyhow::Result<Kek> {
    if let Some(text) = &g.kek {
        return Kek::from_base64(text).context("AUTHSERVER_KEK");
    }
    if let Some(path) = &g.kek_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the KEK file {}", path.display()))?;
        return Kek::from_base64(&text).with_context(|| format!("the KEK file {}", path.display()));
    }
    if let Some(db_path) = sqlite_file(&g.database_url) {
        let path = PathBuf::from(format!("{}.kek", db_path.display()));
        if !path.exists() {
            write_private(&path, &Kek::generate_base64())?;
            tracing::warn!(path = %path.display(), "created a key-encryption key beside the SQLite database; keep it with the database");
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Kek::from_base64(&text).with_context(|| format!("the KEK file {}", path.display()));
    }
    if g.database_url.starts_with("sqlite:") {
        // In-memory database: its keys die with the process, so can the KEK.
        return Ok(Kek::from_base64(&Kek::generate_base64())?);
    }
    bail!(
        "a key-encryption key is required with {}: set AUTHSERVER_KEK or AUTHSERVER_KEK_FILE",
        redact_url(&g.database_url)
    )
}

fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

pub async fn authority(g: &Global, default_issuer: String) -> anyhow::Result<Arc<Authority>> {
    let mut settings = Settings::new(g.issuer.clone().unwrap_or(default_issuer));
    settings.signing_alg = g.signing_alg;
    settings.default_token_ttl = g.token_ttl;
    settings.max_token_ttl = g.max_token_ttl;
    settings.cache_ttl = Duration::from_secs(g.cache_ttl);
    settings.db_retry_deadline = Duration::from_secs(g.db_retry_seconds);
    settings
        .validate()
        .map_err(anyhow::Error::msg)
        .context("AUTHSERVER_ISSUER / --issuer")?;
    let kek = resolve_kek(g)?;
    let iam_auth_region = if g.database_iam_auth {
        Some(std::env::var("AWS_REGION").context("AUTHSERVER_DATABASE_IAM_AUTH needs AWS_REGION")?)
    } else {
        None
    };
    let options = StoreOptions {
        max_connections: g.db_max_connections,
        iam_auth_region,
        ..StoreOptions::default()
    };
    let store = Store::open(&g.database_url, &options).await?;
    Ok(Arc::new(Authority::new(store, kek, settings)))
}
