//! Discovery metadata, JWKS, and key rotation across instances.

use std::sync::Arc;
use std::time::Duration;

use authserver::keys::Kek;
use authserver::store::Store;
use authserver::{Authority, Settings};
use serde_json::Value;

use crate::support::{Backend, TestServer, jwt_parts, on_both_backends, verify_with_jwks};

on_both_backends!(
    discovery_metadata,
    rotation_prepublishes_and_retains,
    instances_share_the_signing_key
);

async fn discovery_metadata(backend: Backend) {
    let s = TestServer::start(backend).await;
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(
            r.headers()["cache-control"]
                .to_str()
                .unwrap()
                .contains("max-age=")
        );
        let d: Value = r.json().await.unwrap();
        assert_eq!(
            d["issuer"], s.base,
            "RFC 8414: issuer is exactly the configured URL"
        );
        assert_eq!(d["token_endpoint"], format!("{}/oauth2/token", s.base));
        assert_eq!(d["jwks_uri"], format!("{}/.well-known/jwks.json", s.base));
        assert_eq!(
            d["grant_types_supported"],
            serde_json::json!(["client_credentials"])
        );
        for m in [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ] {
            assert!(
                d["token_endpoint_auth_methods_supported"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x == m)
            );
        }
        assert!(d["introspection_endpoint"].is_string() && d["revocation_endpoint"].is_string());
    }
    let r = s
        .http
        .get(s.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/jwk-set+json");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    let jwks: Value = r.json().await.unwrap();
    for k in jwks["keys"].as_array().unwrap() {
        assert!(
            k.get("d").is_none() && k.get("p").is_none(),
            "no private members"
        );
        assert_eq!(k["use"], "sig");
    }
}

async fn rotation_prepublishes_and_retains(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (id, secret) = s.standard().await;
    let cc = [("grant_type", "client_credentials")];
    let kids = |jwks: &Value| {
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };

    let before = s.jwks().await;
    assert_eq!(kids(&before).len(), 2, "active + pre-published next");
    let old_token = s.access_token(&id, &secret, &cc).await;
    let old_kid = jwt_parts(&old_token).0["kid"].as_str().unwrap().to_owned();
    let next_kid = kids(&before).into_iter().find(|k| *k != old_kid).unwrap();

    // The next key was published a moment ago: a plain rotation refuses, naming why.
    let err = s
        .authority
        .rotate_signing_keys(&authdomain_tests::issuer::test_actor(), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("JWKS cache lifetime"), "{err}");
    let rotated = s
        .authority
        .rotate_signing_keys(&authdomain_tests::issuer::test_actor(), true)
        .await
        .unwrap();
    assert_eq!(
        rotated.kid, next_kid,
        "the key that was pre-published becomes active"
    );

    let new_token = s.access_token(&id, &secret, &cc).await;
    assert_eq!(jwt_parts(&new_token).0["kid"], next_kid.as_str());
    let after = s.jwks().await;
    assert_eq!(kids(&after).len(), 3, "new next + active + retired old");
    assert!(kids(&after).contains(&old_kid));
    // Tokens signed before the rotation still verify against the published set.
    verify_with_jwks(&old_token, &after, &s.base, "https://api.example.com");
    verify_with_jwks(&new_token, &after, &s.base, "https://api.example.com");
}

async fn instances_share_the_signing_key(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (id, secret) = s.standard().await;
    // A second instance on the same database, reloading keys at once after changes.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut settings = Settings::new(s.base.clone());
    settings.key_refresh = Duration::ZERO;
    let store = Store::open(&s.database_url, &Default::default())
        .await
        .unwrap();
    let b = Arc::new(Authority::new(
        store,
        Kek::from_base64(&s.kek).unwrap(),
        settings,
    ));
    let base_b = format!("http://{}", listener.local_addr().unwrap());
    crate::support::spawn_server(listener, b);
    let token_at = |base: String| {
        let req = s
            .http
            .post(format!("{base}/oauth2/token"))
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")]);
        async move {
            req.send().await.unwrap().json::<Value>().await.unwrap()["access_token"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let kid = |t: &str| jwt_parts(t).0["kid"].clone();
    assert_eq!(
        kid(&token_at(s.base.clone()).await),
        kid(&token_at(base_b.clone()).await)
    );
    let rotated = s
        .authority
        .rotate_signing_keys(&authdomain_tests::issuer::test_actor(), true)
        .await
        .unwrap();
    assert_eq!(
        kid(&token_at(base_b.clone()).await),
        rotated.kid.as_str(),
        "the other instance follows the rotation"
    );
}
