//! RFC 7662 introspection and RFC 7009 revocation.

use authdomain_api::ClientInput;
use serde_json::Value;

use crate::support::{Backend, TestServer, on_both_backends};

on_both_backends!(introspect_then_revoke, revocation_rules);

async fn introspect(s: &TestServer, id: &str, secret: &str, token: &str) -> (u16, Value) {
    let r = s
        .http
        .post(s.url("/oauth2/introspect"))
        .basic_auth(id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn introspect_then_revoke(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (id, secret) = s.standard().await;
    let (rs_id, rs_secret) = s
        .client(ClientInput {
            name: "api".into(),
            grant_types: Some(vec![]),
            ..Default::default()
        })
        .await;
    let token = s
        .access_token(
            &id,
            &secret,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "read write"),
            ],
        )
        .await;

    // A resource server (another client) introspects.
    let (status, body) = introspect(&s, &rs_id, &rs_secret, &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], id);
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], s.base);
    assert!(body["exp"].as_i64().unwrap() > body["iat"].as_i64().unwrap());

    // Introspection needs client authentication.
    let r = s
        .http
        .post(s.url("/oauth2/introspect"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Garbage and tampered tokens are inactive, not errors.
    assert_eq!(
        introspect(&s, &rs_id, &rs_secret, "not-a-jwt").await.1,
        serde_json::json!({"active": false})
    );
    let tampered = format!("{}x", &token[..token.len() - 1]);
    assert_eq!(
        introspect(&s, &rs_id, &rs_secret, &tampered).await.1["active"],
        false
    );

    // The owner revokes it: 200, and it introspects inactive from then on.
    let r = s
        .http
        .post(s.url("/oauth2/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[
            ("token", token.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        introspect(&s, &rs_id, &rs_secret, &token).await.1,
        serde_json::json!({"active": false})
    );
    // Other tokens of the same client stay active.
    let fresh = s
        .access_token(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        introspect(&s, &rs_id, &rs_secret, &fresh).await.1["active"],
        true
    );
}

async fn revocation_rules(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (id, secret) = s.standard().await;
    let (other, other_secret) = s
        .client(ClientInput {
            name: "other".into(),
            scopes: vec!["read".into()],
            ..Default::default()
        })
        .await;
    let token = s
        .access_token(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    let revoke = |cid: String, csec: String, form: Vec<(&'static str, String)>| {
        let req = s
            .http
            .post(s.url("/oauth2/revoke"))
            .basic_auth(cid, Some(csec))
            .form(&form);
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }
    };
    // Someone else's token: refused (RFC 7009 §2.1).
    let (status, body) = revoke(
        other.clone(),
        other_secret.clone(),
        vec![("token", token.clone())],
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("unauthorized_client"));
    // An unknown token: success (§2.2).
    assert_eq!(
        revoke(
            other.clone(),
            other_secret.clone(),
            vec![("token", "whatever".into())]
        )
        .await
        .0,
        200
    );
    // Unsupported hint.
    let (status, body) = revoke(
        id.clone(),
        secret.clone(),
        vec![
            ("token", token.clone()),
            ("token_type_hint", "id_token".into()),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("unsupported_token_type"));
    // Missing token parameter.
    let (status, body) = revoke(id.clone(), secret.clone(), vec![]).await;
    assert_eq!(status, 400);
    assert!(body.contains("`token` is required"));
    // The token is still active after the refused attempts.
    let r: Value = s
        .http
        .post(s.url("/oauth2/introspect"))
        .basic_auth(&other, Some(&other_secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["active"], true);
}
