//! Shared helpers: an in-process auth server on a real loopback socket, backed by SQLite
//! or by a real PostgreSQL server, and an HTTP client.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use authdomain_api::{ClientInput, ResourceServerInput, ScopeInput};
use authserver::keys::{Algorithm, Kek};
use authserver::store::{Store, StoreOptions};
use authserver::{Authority, Settings};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one `#[tokio::test]` per backend for each listed async test function taking
/// a `Backend`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::support::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() { super::$name($crate::support::Backend::Postgres).await }
            )*
        }
    };
}
pub(crate) use on_both_backends;

pub struct TestServer {
    pub base: String,
    pub authority: Arc<Authority>,
    pub http: reqwest::Client,
    pub database_url: String,
    pub kek: String,
    _dir: tempfile::TempDir,
}

pub fn database_url(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.join("auth.db").display()),
        Backend::Postgres => authdomain_tests::postgres::server().create_database("authserver"),
    }
}

pub fn settings(issuer: &str, alg: Algorithm) -> Settings {
    let mut s = Settings::new(issuer);
    s.signing_alg = alg;
    s.db_retry_deadline = std::time::Duration::from_secs(2);
    s
}

/// Serve `authority` on `listener` in the background.
pub fn spawn_server(listener: tokio::net::TcpListener, authority: Arc<Authority>) {
    let app = authserver::http::router(authority, None);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("server");
    });
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, Algorithm::RS256, |_| {}).await
    }

    pub async fn start_with(
        backend: Backend,
        alg: Algorithm,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = database_url(backend, dir.path());
        Self::start_on(url, dir, alg, tweak).await
    }

    pub async fn start_on(
        url: String,
        dir: tempfile::TempDir,
        alg: Algorithm,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestServer {
        Self::instance(url, dir, Kek::generate_base64(), alg, true, tweak).await
    }

    /// One instance of a domain: on the database at `url` with the KEK `kek` (instances
    /// of one domain share both), migrated and published when `prepare`.
    pub async fn instance(
        url: String,
        dir: tempfile::TempDir,
        kek: String,
        alg: Algorithm,
        prepare: bool,
        tweak: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mut s = settings(&base, alg);
        tweak(&mut s);
        let store = Store::open(&url, &StoreOptions::default())
            .await
            .expect("open store");
        let authority = Arc::new(Authority::new(store, Kek::from_base64(&kek).unwrap(), s));
        if prepare {
            authority.prepare().await.expect("prepare");
        }
        spawn_server(listener, authority.clone());
        TestServer {
            base,
            authority,
            http: reqwest::Client::new(),
            database_url: url,
            kek,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn resource_server(&self, identifier: &str, scopes: &[&str]) {
        self.authority
            .create_resource_server(
                &authdomain_tests::issuer::test_actor(),
                ResourceServerInput {
                    identifier: identifier.into(),
                    name: None,
                    scopes: scopes
                        .iter()
                        .map(|s| ScopeInput {
                            name: s.to_string(),
                            description: String::new(),
                        })
                        .collect(),
                    team: None,
                    managed_by: None,
                },
            )
            .await
            .expect("create resource server");
    }

    /// Register a secret client; returns (client_id, client_secret).
    pub async fn client(&self, input: ClientInput) -> (String, String) {
        let c = self
            .authority
            .create_client(&authdomain_tests::issuer::test_actor(), input)
            .await
            .expect("create client");
        (c.client.client_id, c.client_secret.unwrap_or_default())
    }

    /// The usual fixture: one API with read/write and a client allowed both.
    pub async fn standard(&self) -> (String, String) {
        self.resource_server("https://api.example.com", &["read", "write"])
            .await;
        self.client(ClientInput {
            name: "svc".into(),
            scopes: vec!["read".into(), "write".into()],
            ..Default::default()
        })
        .await
    }

    pub async fn token_basic(
        &self,
        id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(id, Some(secret))
            .form(form)
            .send()
            .await
            .expect("request")
    }

    pub async fn access_token(&self, id: &str, secret: &str, form: &[(&str, &str)]) -> String {
        let resp = self.token_basic(id, secret, form).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_token(&self) -> String {
        let c = self
            .authority
            .create_admin_client(&authdomain_tests::issuer::test_actor(), "test-admin")
            .await
            .unwrap();
        self.access_token(
            &c.client.client_id,
            c.client_secret.as_deref().unwrap(),
            &[("grant_type", "client_credentials")],
        )
        .await
    }

    pub async fn jwks(&self) -> Value {
        self.http
            .get(self.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A fresh bucket in the test moto server (its default account, us-east-1), for a read
/// model: returns `s3://BUCKET/read-model`.
pub async fn read_model_bucket() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "rm-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let endpoint = authdomain_tests::moto::server().endpoint();
    let r = reqwest::Client::new()
        .put(format!("{endpoint}/{name}"))
        .send()
        .await
        .expect("moto");
    assert!(
        r.status().is_success(),
        "creating bucket {name}: {}",
        r.status()
    );
    format!("s3://{name}/read-model")
}

/// Read model settings for `location` in the test moto server.
pub fn read_model(location: &str) -> authserver::settings::ReadModelSettings {
    authserver::settings::ReadModelSettings {
        location: location.to_owned(),
        region: "us-east-1".into(),
        endpoint: Some(authdomain_tests::moto::server().endpoint().to_owned()),
        credentials: Some(authserver::store::iam_auth::EnvCredentials::new(
            "testing", "testing",
        )),
    }
}

/// Decode a JWT's header and claims without verifying (for assertions on their content).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let dec = |p: Option<&str>| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p.unwrap())
                .unwrap(),
        )
        .unwrap()
    };
    (dec(parts.next()), dec(parts.next()))
}

/// Verify `token` against a JWKS with jsonwebtoken (an implementation independent of ours).
pub fn verify_with_jwks(token: &str, jwks: &Value, issuer: &str, audience: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).expect("header");
    let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks.clone()).expect("jwks");
    let jwk = set
        .find(header.kid.as_deref().expect("kid"))
        .expect("kid published in JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("usable JWK");
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<Value>(token, &key, &v)
        .expect("token verifies")
        .claims
}

/// A loopback TCP proxy in front of a real server that a test can cut: while down, it
/// refuses new connections and drops the open ones (a database that is "not there").
pub struct FaultProxy {
    addr: SocketAddr,
    up: Arc<watch::Sender<bool>>,
}

impl FaultProxy {
    pub async fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(watch::channel(true).0);
        let up2 = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let mut state = up2.subscribe();
                if !*state.borrow() {
                    drop(inbound); // the database "is not there"
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = state.wait_for(|up| !*up) => {} // cut: drop both sides
                    }
                });
            }
        });
        FaultProxy { addr, up }
    }

    pub fn set_up(&self, up: bool) {
        self.up.send_replace(up);
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A PostgreSQL database of the shared test server, reached through a new proxy:
    /// (the proxy, the URL through it, the direct URL).
    pub async fn postgres(name: &str) -> (FaultProxy, String, String) {
        let pg = authdomain_tests::postgres::server();
        let direct = pg.create_database(name);
        let proxy = FaultProxy::start(format!("127.0.0.1:{}", pg.port()).parse().unwrap()).await;
        let via = direct.replace(&format!(":{}/", pg.port()), &format!(":{}/", proxy.port()));
        (proxy, via, direct)
    }
}
