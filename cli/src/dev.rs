//! `authdomain dev`: the domain's auth server on this machine, no AWS: SQLite in a fresh
//! directory, the spec's signing algorithm and token lifetime, its resource servers and
//! clients registered, their credentials printed with a curl that gets a token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use authserver::portal::{ClientSecret, OidcProvider, PortalSettings, SignIn};
use authserver::store::{Store, StoreOptions};
use authserver::{Authority, Settings};
use serde::Serialize;

use authdomain_core::spec::AuthDomainManifest;

/// One registered client, as printed (and written with `--credentials-file`).
#[derive(Debug, Clone, Serialize)]
pub struct DevClient {
    pub name: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    pub auth_method: String,
    pub scopes: Vec<String>,
}

/// A running local domain.
pub struct DevServer {
    pub issuer: String,
    /// The self-serve portal's address.
    pub portal: String,
    pub token_endpoint: String,
    pub clients: Vec<DevClient>,
    pub authority: Arc<Authority>,
    pub listener: tokio::net::TcpListener,
}

#[derive(Debug, thiserror::Error)]
pub enum DevError {
    #[error("binding {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("the auth server's database: {0}")]
    Store(#[from] authserver::store::StoreError),
    #[error("registering `{what}` from the spec: {error}")]
    Seed { what: String, error: String },
    #[error("settings: {0}")]
    Settings(String),
}

/// How people sign in to the local portal.
#[derive(Debug, Clone, Default)]
pub enum DevSignIn {
    /// Pick a name and a role on the page (loopback only; the page says so).
    #[default]
    Development,
    /// The spec's `portal` provider, its client secret from `clientSecret.file` (relative
    /// to `manifest_dir`).
    Provider { manifest_dir: PathBuf },
}

/// The portal's settings for a local run: the spec's teams and admin groups, and the sign-in
/// asked for.
pub fn portal_settings(
    m: &AuthDomainManifest,
    sign_in: &DevSignIn,
) -> Result<PortalSettings, DevError> {
    let spec_portal = m.spec.portal.as_ref();
    let sign_in = match sign_in {
        DevSignIn::Development => SignIn::Development,
        DevSignIn::Provider { manifest_dir } => {
            let p = spec_portal.ok_or_else(|| {
                DevError::Settings("--sign-in provider needs `spec.portal` in the manifest".into())
            })?;
            let file = p.client_secret.file.as_ref().ok_or_else(|| {
                DevError::Settings(
                    "--sign-in provider reads `spec.portal.clientSecret.file` (a Secrets Manager secret is read by the function on AWS)".into(),
                )
            })?;
            let path = manifest_dir.join(file);
            let secret = std::fs::read_to_string(&path).map_err(|e| {
                DevError::Settings(format!(
                    "spec.portal.clientSecret.file: reading {}: {e}",
                    path.display()
                ))
            })?;
            SignIn::Oidc(OidcProvider {
                issuer: p.issuer.clone(),
                client_id: p.client_id.clone(),
                client_secret: ClientSecret(secret.trim().to_owned()),
                scopes: p
                    .scopes
                    .clone()
                    .unwrap_or_else(|| ["openid", "profile", "email"].map(String::from).to_vec()),
                display_name: p
                    .provider_name
                    .clone()
                    .unwrap_or_else(|| OidcProvider::default_display_name(&p.issuer)),
            })
        }
    };
    let mut settings = PortalSettings::new(sign_in);
    settings.domain_name = m.metadata.name.clone();
    if let Some(p) = spec_portal {
        settings.groups_claim = p.groups_claim.clone();
        settings.admin_groups = p.admin_groups.clone();
        settings.teams = p.teams.clone();
        if let Some(minutes) = p.session_minutes {
            settings.session_ttl = std::time::Duration::from_secs(u64::from(minutes) * 60);
        }
    }
    // Teams named by resource servers and clients are teams too (with no groups: reachable
    // by development sign-in only).
    let named = m
        .spec
        .resource_servers
        .iter()
        .filter_map(|r| r.team.clone())
        .chain(m.spec.clients.iter().filter_map(|c| c.team.clone()));
    for t in named {
        settings.teams.entry(t).or_default();
    }
    Ok(settings)
}

/// Open the database in `dir`, register the spec's resource servers and clients, and bind
/// `listen` (port 0: any free port).
pub async fn start(
    m: &AuthDomainManifest,
    dir: &std::path::Path,
    listen: SocketAddr,
    sign_in: &DevSignIn,
) -> Result<DevServer, DevError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| DevError::Bind(listen, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| DevError::Bind(listen, e))?;
    let issuer = format!("http://{addr}");
    let mut settings = Settings::new(issuer.clone());
    settings.signing_alg = format!("{:?}", m.spec.tokens.algorithm)
        .parse()
        .map_err(|e| DevError::Settings(format!("{e:?}")))?;
    settings.default_token_ttl = i64::from(m.spec.tokens.default_ttl);
    settings.portal = Some(portal_settings(m, sign_in)?);
    settings.validate().map_err(DevError::Settings)?;
    let database = dir.join(format!("{}.db", m.metadata.name));
    let store = Store::open(
        &format!("sqlite://{}?mode=rwc", database.display()),
        &StoreOptions::default(),
    )
    .await?;
    let kek = authserver::keys::Kek::from_base64(&authserver::keys::Kek::generate_base64())
        .map_err(|e| DevError::Settings(e.to_string()))?;
    let authority = Arc::new(Authority::new(store, kek, settings));
    let seed_err = |what: String| {
        move |e: authserver::admin::AdminError| DevError::Seed {
            what,
            error: e.to_string(),
        }
    };
    authority
        .prepare()
        .await
        .map_err(seed_err("the database".into()))?;
    let seeder = &authserver::admin::Actor::system(authserver::admin::Via::Cli, "authdomain dev");
    for rs in authdomain_core::registrations::resource_servers(&m.spec) {
        let what = format!("resourceServers {}", rs.identifier);
        authority
            .put_resource_server(seeder, rs, false, true)
            .await
            .map_err(seed_err(what))?;
    }
    let mut clients = Vec::new();
    for c in authdomain_core::registrations::clients(&m.spec) {
        let what = format!("clients {}", c.name);
        let created = authority
            .create_client(seeder, c)
            .await
            .map_err(seed_err(what))?;
        clients.push(DevClient {
            name: created.client.name.clone(),
            client_id: created.client.client_id.clone(),
            client_secret: created.client_secret.clone(),
            auth_method: created.client.token_endpoint_auth_method.clone(),
            scopes: created.client.scopes.clone(),
        });
    }
    Ok(DevServer {
        portal: format!("{issuer}/portal"),
        token_endpoint: format!("{issuer}/oauth2/token"),
        issuer,
        clients,
        authority,
        listener,
    })
}

impl DevServer {
    /// The curl that gets a token for `client` (None for clients without a secret).
    pub fn curl(&self, client: &DevClient) -> Option<String> {
        let secret = client.client_secret.as_ref()?;
        let scope = if client.scopes.is_empty() {
            String::new()
        } else {
            format!(" -d scope='{}'", client.scopes.join(" "))
        };
        Some(match client.auth_method.as_str() {
            "client_secret_post" => format!(
                "curl -d grant_type=client_credentials -d client_id={} -d client_secret={secret}{scope} {}",
                client.client_id, self.token_endpoint
            ),
            _ => format!(
                "curl -u '{}:{secret}' -d grant_type=client_credentials{scope} {}",
                client.client_id, self.token_endpoint
            ),
        })
    }

    /// Serve until `shutdown` completes.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = authserver::http::router(self.authority.clone(), None);
        axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await?;
        self.authority.close().await;
        Ok(())
    }
}
