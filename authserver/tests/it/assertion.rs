//! `private_key_jwt` client authentication (RFC 7523 §2.2, §3).

use std::sync::Arc;

use authdomain_api::ClientInput;
use authserver::keys::{Algorithm, SigningKey};
use serde_json::{Value, json};

use crate::support::{Backend, TestServer, on_both_backends};

on_both_backends!(private_key_jwt_inline_jwks, private_key_jwt_jwks_uri);

/// A client key pair: signs assertions with jsonwebtoken (as a client library would).
pub(crate) struct ClientKey {
    der: Vec<u8>,
    jwk: Value,
    kid: String,
}

impl ClientKey {
    pub(crate) fn es256() -> ClientKey {
        client_key()
    }

    /// The JWKS a client registers.
    pub(crate) fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk.clone()] })
    }

    /// A fresh assertion (unique `jti`) valid for a minute.
    pub(crate) fn assertion(&self, client_id: &str, aud: &str) -> String {
        assertion(self, client_id, aud, 60, &authserver::ids::random_token(12))
    }
}

fn client_key() -> ClientKey {
    let (key, der) = SigningKey::generate(Algorithm::ES256).unwrap();
    ClientKey {
        der,
        jwk: key.public_jwk().clone(),
        kid: key.kid().to_owned(),
    }
}

fn assertion(key: &ClientKey, client_id: &str, aud: &str, exp_in: i64, jti: &str) -> String {
    let now = authserver::ids::now();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(key.kid.clone());
    let claims = json!({ "iss": client_id, "sub": client_id, "aud": aud, "exp": now + exp_in, "iat": now, "jti": jti });
    jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(&key.der),
    )
    .unwrap()
}

pub(crate) async fn token_with(s: &TestServer, assertion: &str) -> (u16, Value) {
    let r = s
        .http
        .post(s.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn private_key_jwt_inline_jwks(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.resource_server("https://api.example.com", &["read"])
        .await;
    let key = client_key();
    let c = s
        .authority
        .create_client(
            &authdomain_tests::issuer::test_actor(),
            ClientInput {
                name: "jwt-client".into(),
                scopes: vec!["read".into()],
                token_endpoint_auth_method: Some("private_key_jwt".into()),
                jwks: Some(json!({ "keys": [key.jwk.clone()] })),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        c.client_secret.is_none(),
        "private_key_jwt clients get no secret"
    );
    let id = c.client.client_id;
    let token_url = s.url("/oauth2/token");

    let a = assertion(&key, &id, &token_url, 60, "jti-1");
    let (status, body) = token_with(&s, &a).await;
    assert_eq!(status, 200, "{body}");
    // The issuer is an accepted audience too.
    assert_eq!(
        token_with(&s, &assertion(&key, &id, &s.base, 60, "jti-2"))
            .await
            .0,
        200
    );

    let reject = |(status, body): (u16, Value), needle: &str| {
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_client");
        assert!(
            body["error_description"].as_str().unwrap().contains(needle),
            "{body} lacks {needle:?}"
        );
    };
    reject(token_with(&s, &a).await, "replay");
    reject(
        token_with(&s, &assertion(&key, &id, &token_url, -120, "jti-3")).await,
        "expired",
    );
    reject(
        token_with(
            &s,
            &assertion(&key, &id, "https://elsewhere.example.com", 60, "jti-4"),
        )
        .await,
        "`aud`",
    );
    reject(
        token_with(&s, &assertion(&key, &id, &token_url, 7200, "jti-5")).await,
        "in the future",
    );
    // Signed by a key the client did not register.
    let stranger = ClientKey {
        kid: key.kid.clone(),
        ..client_key()
    };
    reject(
        token_with(&s, &assertion(&stranger, &id, &token_url, 60, "jti-6")).await,
        "signature",
    );
    // A secret-based request for this client names the registered method.
    let r = s
        .token_basic(&id, "x", &[("grant_type", "client_credentials")])
        .await;
    assert!(r.text().await.unwrap().contains("private_key_jwt"));
}

async fn private_key_jwt_jwks_uri(backend: Backend) {
    let s = TestServer::start(backend).await;
    s.resource_server("https://api.example.com", &["read"])
        .await;
    let key = client_key();
    // The client's JWKS, served from a real socket.
    let jwks = Arc::new(json!({ "keys": [key.jwk.clone()] }));
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json((*jwks).clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!(
        "http://127.0.0.1:{}/jwks.json",
        listener.local_addr().unwrap().port()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let c = s
        .authority
        .create_client(
            &authdomain_tests::issuer::test_actor(),
            ClientInput {
                name: "remote-keys".into(),
                scopes: vec!["read".into()],
                token_endpoint_auth_method: Some("private_key_jwt".into()),
                jwks_uri: Some(jwks_uri),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let a = assertion(
        &key,
        &c.client.client_id,
        &s.url("/oauth2/token"),
        60,
        "remote-1",
    );
    let (status, body) = token_with(&s, &a).await;
    assert_eq!(status, 200, "{body}");
}
