//! `authdomain dev`: the domain's auth server on this machine, no AWS: SQLite in a fresh
//! directory, the spec's signing algorithm and token lifetime, its resource servers and
//! clients registered, their credentials printed with a curl that gets a token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

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
    pub token_endpoint: String,
    pub database: PathBuf,
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

/// Open the database in `dir`, register the spec's resource servers and clients, and bind
/// `listen` (port 0: any free port).
pub async fn start(
    m: &AuthDomainManifest,
    dir: &std::path::Path,
    listen: SocketAddr,
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
    for rs in authdomain_core::registrations::resource_servers(&m.spec) {
        let what = format!("resourceServers {}", rs.identifier);
        authority
            .put_resource_server(rs, false)
            .await
            .map_err(seed_err(what))?;
    }
    let mut clients = Vec::new();
    for c in authdomain_core::registrations::clients(&m.spec) {
        let what = format!("clients {}", c.name);
        let created = authority.create_client(c).await.map_err(seed_err(what))?;
        clients.push(DevClient {
            name: created.client.name.clone(),
            client_id: created.client.client_id.clone(),
            client_secret: created.client_secret.clone(),
            auth_method: created.client.token_endpoint_auth_method.clone(),
            scopes: created.client.scopes.clone(),
        });
    }
    Ok(DevServer {
        token_endpoint: format!("{issuer}/oauth2/token"),
        issuer,
        database,
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
        self.authority.store().close().await;
        Ok(())
    }
}
