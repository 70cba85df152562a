//! The tower layer and axum extractor over a real socket: RFC 6750 answers for no token,
//! a bad token and a missing scope; the handler gets the verified claims.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use serde_json::json;

use super::{TestKey, claims};
use crate::http::{Bearer, RequireToken};
use crate::{Config, KeySet, Verifier};

async fn orders(Bearer(token): Bearer) -> String {
    format!(
        "orders for {} ({})",
        token.client_id,
        token.scopes.join(" ")
    )
}

#[tokio::test]
async fn the_layer_answers_per_rfc_6750_and_hands_the_claims_to_the_handler() {
    let k = TestKey::rsa("k1");
    let jwks = json!({"keys": [k.jwk.clone()]}).to_string();
    let (set, _) = KeySet::from_jwks(jwks.as_bytes(), &crate::Algorithm::ALL).unwrap();
    let v = Verifier::with_keys(
        Config::new("https://auth.example.com", "https://orders.example.com"),
        Arc::new(set),
    );
    let app = Router::new()
        .route("/orders", get(orders))
        .route_layer(
            RequireToken::new(v.clone())
                .scopes(["orders:read"])
                .realm("orders"),
        )
        .route(
            "/admin",
            get(orders).route_layer(RequireToken::new(v).scopes(["orders:admin"])),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let token = k.token(claims());

    let r = http
        .get(format!("{base}/orders"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap(),
        "orders for svc (orders:read orders:list)"
    );

    // No credentials at all: a bare challenge, no error code (RFC 6750 §3.1).
    let r = http.get(format!("{base}/orders")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"orders\"");
    assert_eq!(r.text().await.unwrap(), "");
    // Another scheme counts as none.
    let r = http
        .get(format!("{base}/orders"))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"orders\"");

    let r = http
        .get(format!("{base}/orders"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=\"orders\", error=\"invalid_token\"")
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");

    let r = http
        .get(format!("{base}/admin"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", error_description=\"the token lacks a required scope\", scope=\"orders:admin\""
    );
}
