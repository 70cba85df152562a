//! A real AuthDomain auth server in-process on a loopback socket (SQLite in a temp
//! directory), for tests of the token's other side: resource servers, the verifier, the
//! Lambda authorizer, the CLI's `token` commands.

use std::net::SocketAddr;
use std::sync::Arc;

use authdomain_api::{ClientInput, ResourceServerInput, ScopeInput};
use authserver::keys::{Algorithm, Kek};
use authserver::store::{Store, StoreOptions};
use authserver::{Authority, Settings};

pub struct LocalIssuer {
    /// `http://127.0.0.1:PORT`, the issuer and base URL.
    pub issuer: String,
    pub authority: Arc<Authority>,
    _dir: tempfile::TempDir,
}

impl LocalIssuer {
    /// Start one signing with `alg`; `configure` may change the settings first.
    pub async fn start(alg: Algorithm, configure: impl FnOnce(&mut Settings)) -> LocalIssuer {
        let dir = tempfile::tempdir().expect("temp dir");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("address"));
        let mut settings = Settings::new(issuer.clone());
        settings.signing_alg = alg;
        configure(&mut settings);
        let store = Store::open(
            &format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display()),
            &StoreOptions::default(),
        )
        .await
        .expect("opening SQLite");
        let kek = Kek::from_base64(&Kek::generate_base64()).expect("KEK");
        let authority = Arc::new(Authority::new(store, kek, settings));
        authority.prepare().await.expect("preparing the database");
        let app = authserver::http::router(authority.clone(), None);
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("server");
        });
        LocalIssuer {
            issuer,
            authority,
            _dir: dir,
        }
    }

    /// Register an API with these scopes.
    pub async fn resource_server(&self, identifier: &str, scopes: &[&str]) {
        self.authority
            .put_resource_server(
                &test_actor(),
                ResourceServerInput {
                    identifier: identifier.into(),
                    name: None,
                    scopes: scopes
                        .iter()
                        .map(|s| ScopeInput {
                            name: (*s).into(),
                            description: String::new(),
                        })
                        .collect(),
                    team: None,
                    managed_by: None,
                },
                false,
                true,
            )
            .await
            .expect("registering the resource server");
    }

    /// Register a client allowed `scopes`; returns its id and secret.
    pub async fn client(&self, name: &str, scopes: &[&str]) -> (String, String) {
        let c = self
            .authority
            .create_client(
                &test_actor(),
                ClientInput {
                    name: name.into(),
                    scopes: scopes.iter().map(|s| (*s).into()).collect(),
                    ..ClientInput::default()
                },
            )
            .await
            .expect("registering the client");
        (c.client.client_id, c.client_secret.expect("a secret"))
    }

    /// A token from the token endpoint, over HTTP, for `scope` (all allowed when None).
    pub async fn token(
        &self,
        http: &reqwest::Client,
        id: &str,
        secret: &str,
        scope: Option<&str>,
    ) -> String {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let resp = http
            .post(format!("{}/oauth2/token", self.issuer))
            .basic_auth(id, Some(secret))
            .form(&form)
            .send()
            .await
            .expect("token request");
        assert_eq!(
            resp.status(),
            200,
            "token endpoint: {:?}",
            resp.text().await
        );
        let body: serde_json::Value = resp.json().await.expect("token JSON");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

/// The tests' own admin (a local tool with full rights).
pub fn test_actor() -> authserver::admin::Actor {
    authserver::admin::Actor::system(authserver::admin::Via::Cli, "test")
}
