//! Settings, the key-encryption key and the database, from the command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use authserver::keys::Kek;
use authserver::store::{Store, StoreOptions, redact_url};
use authserver::{Authority, Settings};

use std::collections::BTreeMap;

use authserver::portal::{ClientSecret, OidcProvider, PortalSettings, SignIn};

use super::{Global, PortalArgs};

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

/// `payments=payments-devs,payments-ops;search=search-devs` → team → groups.
fn parse_teams(text: &str) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut teams = BTreeMap::new();
    for (i, part) in text
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        let Some((team, groups)) = part.split_once('=') else {
            bail!(
                "AUTHSERVER_PORTAL_TEAMS entry {}: expected `team=group,group`, found `{part}`",
                i + 1
            );
        };
        let groups: Vec<String> = groups
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect();
        if groups.is_empty() {
            bail!(
                "AUTHSERVER_PORTAL_TEAMS team `{}`: name at least one group",
                team.trim()
            );
        }
        teams.insert(team.trim().to_owned(), groups);
    }
    Ok(teams)
}

/// The portal's settings from the flags (None when neither a provider nor development
/// sign-in is configured). The client secret is read from its file or Secrets Manager.
pub async fn portal(p: &PortalArgs) -> anyhow::Result<Option<PortalSettings>> {
    let sign_in = match (&p.portal_issuer, p.portal_dev_sign_in) {
        (Some(_), true) => {
            bail!("AUTHSERVER_PORTAL_ISSUER and AUTHSERVER_PORTAL_DEV_SIGN_IN exclude each other")
        }
        (None, false) => return Ok(None),
        (None, true) => SignIn::Development,
        (Some(issuer), false) => {
            let client_id = p
                .portal_client_id
                .clone()
                .context("AUTHSERVER_PORTAL_ISSUER needs AUTHSERVER_PORTAL_CLIENT_ID")?;
            let secret = match (&p.portal_client_secret_file, &p.portal_client_secret_arn) {
                (Some(path), None) => std::fs::read_to_string(path)
                    .with_context(|| {
                        format!("reading the portal client secret file {}", path.display())
                    })?
                    .trim()
                    .to_owned(),
                (None, Some(arn)) => {
                    let region = std::env::var("AWS_REGION")
                        .context("AUTHSERVER_PORTAL_CLIENT_SECRET_ARN needs AWS_REGION")?;
                    authserver::secrets_manager::secret_string(arn, &region)
                        .await
                        .map_err(anyhow::Error::msg)
                        .context("reading the portal's client secret")?
                        .trim()
                        .to_owned()
                }
                _ => bail!(
                    "the portal needs exactly one of AUTHSERVER_PORTAL_CLIENT_SECRET_FILE and AUTHSERVER_PORTAL_CLIENT_SECRET_ARN"
                ),
            };
            let display_name = p
                .portal_provider_name
                .clone()
                .unwrap_or_else(|| OidcProvider::default_display_name(issuer));
            SignIn::Oidc(OidcProvider {
                issuer: issuer.clone(),
                client_id,
                client_secret: ClientSecret(secret),
                scopes: p
                    .portal_scopes
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                display_name,
            })
        }
    };
    let mut settings = PortalSettings::new(sign_in);
    settings.groups_claim = p.portal_groups_claim.clone();
    settings.admin_groups = p
        .portal_admin_groups
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect();
    settings.teams = parse_teams(&p.portal_teams)?;
    settings.session_ttl = Duration::from_secs(p.portal_session_minutes * 60);
    settings.domain_name = p.portal_domain_name.clone();
    Ok(Some(settings))
}

pub async fn authority(g: &Global, default_issuer: String) -> anyhow::Result<Arc<Authority>> {
    let mut settings = Settings::new(g.issuer.clone().unwrap_or(default_issuer));
    settings.portal = portal(&g.portal).await?;
    if let Some(p) = &settings.portal
        && matches!(p.sign_in, SignIn::Development)
        && !settings.issuer.starts_with("http://127.0.0.1")
        && !settings.issuer.starts_with("http://localhost")
        && !settings.issuer.starts_with("http://[::1]")
    {
        bail!(
            "AUTHSERVER_PORTAL_DEV_SIGN_IN is accepted only with a loopback issuer (http://127.0.0.1:…)"
        );
    }
    settings.signing_alg = g.signing_alg;
    settings.default_token_ttl = g.token_ttl;
    settings.max_token_ttl = g.max_token_ttl;
    settings.cache_ttl = Duration::from_secs(g.cache_ttl);
    settings.db_retry_deadline = Duration::from_secs(g.db_retry_seconds);
    settings.trusted_proxies = g.trusted_proxies.clone();
    if let Some(location) = &g.read_model {
        settings.read_model = Some(authserver::settings::ReadModelSettings {
            location: location.clone(),
            region: std::env::var("AWS_REGION")
                .context("AUTHSERVER_READ_MODEL needs AWS_REGION")?,
            endpoint: None,
            credentials: None,
        });
    }
    settings
        .validate()
        .map_err(anyhow::Error::msg)
        .context("the settings (AUTHSERVER_ISSUER, AUTHSERVER_PORTAL_*, AUTHSERVER_READ_MODEL)")?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn teams_parse_and_refuse_with_the_entry() {
        let t = parse_teams("payments=payments-devs, payments-ops; search=search-devs;").unwrap();
        assert_eq!(t["payments"], vec!["payments-devs", "payments-ops"]);
        assert_eq!(t["search"], vec!["search-devs"]);
        assert!(parse_teams("").unwrap().is_empty());
        let e = parse_teams("payments").unwrap_err().to_string();
        assert!(e.contains("entry 1") && e.contains("team=group"), "{e}");
        let e = parse_teams("payments=").unwrap_err().to_string();
        assert!(e.contains("`payments`"), "{e}");
    }
}
