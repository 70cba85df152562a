//! The admin API: authorisation, CRUD, validation errors, secret rotation, OpenAPI.

use serde_json::{Value, json};

use crate::support::{Backend, TestServer, on_both_backends};

on_both_backends!(
    admin_requires_admin_token,
    admin_crud_and_validation,
    secret_rotation_keeps_both_secrets_working
);

async fn admin_requires_admin_token(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (id, secret) = s.standard().await;
    let url = s.url("/admin/v1/clients");
    // No credentials at all: a bare challenge with no error code (RFC 6750 §3.1).
    let r = s.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"authdomain-admin\""
    );
    let r = s
        .http
        .get(&url)
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    // A valid token without the admin scope: 403 insufficient_scope.
    let user = s
        .access_token(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    let r = s.http.get(&url).bearer_auth(&user).send().await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "insufficient_scope"
    );
    // An admin token works; once revoked it does not.
    let c = s
        .authority
        .create_admin_client(&authdomain_tests::issuer::test_actor(), "ops")
        .await
        .unwrap();
    let (aid, asecret) = (c.client.client_id, c.client_secret.unwrap());
    let admin = s
        .access_token(&aid, &asecret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        s.http
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = s
        .http
        .post(s.url("/oauth2/revoke"))
        .basic_auth(&aid, Some(&asecret))
        .form(&[("token", admin.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.http
            .get(&url)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

async fn admin_crud_and_validation(backend: Backend) {
    let s = TestServer::start(backend).await;
    let admin = s.admin_token().await;
    let api = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = s
            .http
            .request(method, s.url(&format!("/admin/v1{path}")))
            .bearer_auth(&admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let r = req.send().await.unwrap();
            let status = r.status().as_u16();
            let text = r.text().await.unwrap();
            (
                status,
                if text.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).unwrap()
                },
            )
        }
    };
    use reqwest::Method as M;

    // Resource servers.
    let rs = json!({ "identifier": "https://orders.example.com", "name": "Orders",
                     "scopes": [{"name": "orders:read", "description": "Read orders"}, {"name": "orders:write"}] });
    let (status, body) = api(M::POST, "/resource-servers", Some(rs.clone())).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scopes"][0]["description"], "Read orders");
    assert_eq!(api(M::POST, "/resource-servers", Some(rs)).await.0, 409);
    // A scope name already owned by another API is a conflict naming the owner.
    let (status, body) = api(
        M::POST,
        "/resource-servers",
        Some(json!({ "identifier": "https://other.example.com", "scopes": [{"name": "orders:read"}] })),
    )
    .await;
    assert_eq!(status, 409);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("https://orders.example.com"),
        "{body}"
    );
    // Identifier with slashes, percent-encoded in the path.
    let enc = "https%3A%2F%2Forders.example.com";
    let (status, body) = api(M::GET, &format!("/resource-servers/{enc}"), None).await;
    assert_eq!((status, body["name"].as_str()), (200, Some("Orders")));
    let (status, body) = api(
        M::PUT,
        &format!("/resource-servers/{enc}"),
        Some(json!({ "identifier": "https://orders.example.com", "name": "Orders v2",
                     "scopes": [{"name": "orders:read"}, {"name": "orders:write"}, {"name": "orders:admin"}] })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scopes"].as_array().unwrap().len(), 3);

    // Validation errors name the field.
    let (status, body) = api(
        M::POST,
        "/resource-servers",
        Some(json!({ "identifier": "relative/path" })),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("identifier")));
    let (status, body) = api(
        M::POST,
        "/clients",
        Some(json!({ "name": "x", "scopes": ["orders:read", "nope"] })),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("scopes[1]")),
        "{body}"
    );
    let (status, body) = api(
        M::POST,
        "/clients",
        Some(json!({ "name": "x", "token_ttl_seconds": 5 })),
    )
    .await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("token_ttl_seconds"))
    );
    let (status, body) = api(
        M::POST,
        "/clients",
        Some(json!({ "name": "x", "token_endpoint_auth_method": "private_key_jwt" })),
    )
    .await;
    assert_eq!((status, body["field"].as_str()), (422, Some("jwks")));
    // Unknown fields and malformed JSON: 400 saying what is wrong.
    let (status, body) = api(
        M::POST,
        "/clients",
        Some(json!({ "name": "x", "scope": ["a"] })),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("unknown field `scope`"),
        "{body}"
    );
    let r = s
        .http
        .post(s.url("/admin/v1/clients"))
        .bearer_auth(&admin)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Clients: create (secret shown once), get (never the secret), update, list, delete.
    let (status, created) = api(
        M::POST,
        "/clients",
        Some(json!({ "name": "billing", "scopes": ["orders:read", "orders:write"], "default_scopes": ["orders:read"], "token_ttl_seconds": 300 })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 43, "256-bit secret");
    let (_, got) = api(M::GET, &format!("/clients/{id}"), None).await;
    assert!(got.get("client_secret").is_none());
    assert!(!got.to_string().contains(&secret));
    assert_eq!(got["secrets"].as_array().unwrap().len(), 1);
    let t = s
        .access_token(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(crate::support::jwt_parts(&t).1["scope"], "orders:read");

    let (status, updated) = api(
        M::PUT,
        &format!("/clients/{id}"),
        Some(json!({ "name": "billing", "scopes": ["orders:admin"] })),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["default_scopes"], json!(["orders:admin"]));
    // The update applies at once on this instance (cache invalidated) and the secret survives.
    let t = s
        .access_token(&id, &secret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(crate::support::jwt_parts(&t).1["scope"], "orders:admin");

    let (_, list) = api(M::GET, "/clients", None).await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == id.as_str())
    );
    assert_eq!(api(M::DELETE, &format!("/clients/{id}"), None).await.0, 204);
    assert_eq!(api(M::GET, &format!("/clients/{id}"), None).await.0, 404);
    assert_eq!(
        s.token_basic(&id, &secret, &[("grant_type", "client_credentials")])
            .await
            .status(),
        401
    );
    // Deleting a resource server removes its scopes.
    assert_eq!(
        api(M::DELETE, &format!("/resource-servers/{enc}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        api(M::DELETE, &format!("/resource-servers/{enc}"), None)
            .await
            .0,
        404
    );

    // Keys.
    let (status, keys) = api(M::GET, "/keys", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        keys.as_array()
            .unwrap()
            .iter()
            .filter(|k| k["state"] == "active")
            .count(),
        1
    );
}

async fn secret_rotation_keeps_both_secrets_working(backend: Backend) {
    let s = TestServer::start(backend).await;
    let (id, old) = s.standard().await;
    let admin = s.admin_token().await;
    let cc = [("grant_type", "client_credentials")];
    let add = || {
        s.http
            .post(s.url(&format!("/admin/v1/clients/{id}/secrets")))
            .bearer_auth(&admin)
            .send()
    };
    let get = || async {
        s.http
            .get(s.url(&format!("/admin/v1/clients/{id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let revoke = |secret_id: String| {
        s.http
            .delete(s.url(&format!("/admin/v1/clients/{id}/secrets/{secret_id}")))
            .bearer_auth(&admin)
            .send()
    };
    let r = add().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let new: Value = r.json().await.unwrap();
    let new_secret = new["client_secret"].as_str().unwrap();
    // Both work during the rotation.
    assert_eq!(s.token_basic(&id, &old, &cc).await.status(), 200);
    assert_eq!(s.token_basic(&id, new_secret, &cc).await.status(), 200);
    // A third is refused.
    assert_eq!(add().await.unwrap().status(), 409);
    // Revoke the old one: only the new one works.
    let client = get().await;
    let old_id = client["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["secret_id"] != new["secret_id"])
        .unwrap()["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(revoke(old_id).await.unwrap().status(), 204);
    assert_eq!(s.token_basic(&id, &old, &cc).await.status(), 401);
    assert_eq!(s.token_basic(&id, new_secret, &cc).await.status(), 200);

    // Secrets are listed oldest first even when rotations fall within one second (the
    // timestamps tie): the portal marks the first of two as the one to revoke. Eight
    // rotations in a row, each checked, so an order left to chance cannot pass.
    let mut current = new["secret_id"].as_str().unwrap().to_owned();
    for _ in 0..8 {
        let added: Value = add().await.unwrap().json().await.unwrap();
        let client = get().await;
        let order: Vec<&str> = client["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["secret_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            order,
            [current.as_str(), added["secret_id"].as_str().unwrap()]
        );
        assert_eq!(revoke(current).await.unwrap().status(), 204);
        current = added["secret_id"].as_str().unwrap().to_owned();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_describes_the_admin_api() {
    let s = TestServer::start(Backend::Sqlite).await;
    let doc: Value = s
        .http
        .get(s.url("/admin/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/admin/v1/clients",
        "/admin/v1/clients/{client_id}/secrets",
        "/admin/v1/resource-servers",
        "/admin/v1/keys/rotate",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["components"]["schemas"].get("ClientInput").is_some());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}
