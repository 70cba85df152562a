//! The portal and the authorization model it shares with the admin API: teams, held
//! scopes, the audit log, the sign-in callback's refusals, CSRF and the pages' headers.
//! The identity provider of the callback tests is scripted (`scripted_…`): it answers the
//! token request with an ID token the test forges, which no real provider would issue.
//! The browser tests (tests/portal_browser.rs in the tests crate) use a real one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use authdomain_api::{ClientInput, TEAM_SCOPE_PREFIX};
use authserver::Settings;
use authserver::keys::Algorithm;
use authserver::portal::{ClientSecret, OidcProvider, PortalSettings, SignIn};
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::support::{Backend, TestServer, on_both_backends};

on_both_backends!(
    teams_see_and_change_only_their_own,
    removing_a_held_scope_names_the_clients_and_asks,
    the_audit_log_records_changes_without_secrets
);

fn teams() -> BTreeMap<String, Vec<String>> {
    BTreeMap::from([
        ("payments".to_string(), vec!["payments-devs".to_string()]),
        ("search".to_string(), vec!["search-devs".to_string()]),
    ])
}

pub(crate) fn with_teams(s: &mut Settings) {
    let mut p = PortalSettings::new(SignIn::Development);
    p.teams = teams();
    p.admin_groups = vec!["platform-admins".into()];
    s.portal = Some(p);
}

/// A token for a client holding `authdomain:team:<team>`.
async fn team_token(s: &TestServer, team: &str) -> String {
    let (id, secret) = s
        .client(ClientInput {
            name: format!("{team} automation"),
            scopes: vec![format!("{TEAM_SCOPE_PREFIX}{team}")],
            ..Default::default()
        })
        .await;
    s.access_token(&id, &secret, &[("grant_type", "client_credentials")])
        .await
}

async fn call(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = s.http.request(method, s.url(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn teams_see_and_change_only_their_own(backend: Backend) {
    use reqwest::Method as M;
    let s = TestServer::start_with(backend, Algorithm::RS256, with_teams).await;
    let admin = s.admin_token().await;
    let pay = team_token(&s, "payments").await;
    let search = team_token(&s, "search").await;

    // A member's API goes to their only team.
    let (st, rs) = call(&s, M::POST, "/admin/v1/resource-servers", &pay, Some(json!({
        "identifier": "https://pay.example.com", "scopes": [{"name": "pay:read"}, {"name": "pay:write"}]
    }))).await;
    assert_eq!(st, 201, "{rs}");
    assert_eq!(rs["team"], "payments");
    // A member may not create for another team.
    let (st, body) = call(
        &s,
        M::POST,
        "/admin/v1/resource-servers",
        &pay,
        Some(json!({
            "identifier": "https://other.example.com", "team": "search"
        })),
    )
    .await;
    assert_eq!(st, 403, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("not a member of team `search`")
    );
    call(
        &s,
        M::POST,
        "/admin/v1/resource-servers",
        &search,
        Some(json!({
            "identifier": "https://search.example.com", "scopes": [{"name": "search:query"}]
        })),
    )
    .await;

    // Another team's API is neither listed nor readable nor changeable.
    let path = format!(
        "/admin/v1/resource-servers/{}",
        enc("https://pay.example.com")
    );
    let (st, body) = call(&s, M::GET, &path, &search, None).await;
    assert_eq!(st, 403, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("another team")
    );
    let (st, _) = call(
        &s,
        M::PUT,
        &path,
        &search,
        Some(json!({"identifier": "https://pay.example.com"})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = call(&s, M::DELETE, &path, &search, None).await;
    assert_eq!(st, 403);
    let (_, list) = call(&s, M::GET, "/admin/v1/resource-servers", &search, None).await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec!["https://search.example.com"],
        "the admin API's own resource server is hidden too"
    );
    let (_, all) = call(&s, M::GET, "/admin/v1/resource-servers", &admin, None).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        3,
        "admins see every API: {all}"
    );

    // Clients: a member grants only their own scopes.
    let (st, body) = call(
        &s,
        M::POST,
        "/admin/v1/clients",
        &pay,
        Some(json!({
            "name": "acme billing", "scopes": ["pay:read", "search:query"]
        })),
    )
    .await;
    assert_eq!(st, 403, "{body}");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("`search:query` belongs to another team")
    );
    let (st, created) = call(
        &s,
        M::POST,
        "/admin/v1/clients",
        &pay,
        Some(json!({
            "name": "acme billing", "scopes": ["pay:read"]
        })),
    )
    .await;
    assert_eq!(st, 201, "{created}");
    assert_eq!(created["team"], "payments");
    let id = created["client_id"].as_str().unwrap();
    // and never marks a client managed.
    let (st, _) = call(
        &s,
        M::POST,
        "/admin/v1/clients",
        &pay,
        Some(json!({
            "name": "sneaky", "scopes": ["pay:read"], "managed_by": "kubernetes:x/y"
        })),
    )
    .await;
    assert_eq!(st, 403);
    let client_path = format!("/admin/v1/clients/{id}");
    assert_eq!(call(&s, M::GET, &client_path, &search, None).await.0, 403);
    assert_eq!(
        call(
            &s,
            M::POST,
            &format!("{client_path}/secrets"),
            &search,
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(&s, M::DELETE, &client_path, &search, None).await.0,
        403
    );
    let (_, search_clients) = call(&s, M::GET, "/admin/v1/clients", &search, None).await;
    assert!(
        search_clients
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["client_id"] != id),
        "another team's client is not listed: {search_clients}"
    );
    // An admin's client that holds a payments scope is visible to payments, read-only.
    let (_, shared) = call(&s, M::POST, "/admin/v1/clients", &admin, Some(json!({
        "name": "shared", "scopes": ["pay:read", "search:query"], "managed_by": "kubernetes:shop/shared"
    }))).await;
    let shared_id = shared["client_id"].as_str().unwrap();
    assert_eq!(shared["managed_by"], "kubernetes:shop/shared");
    assert_eq!(
        call(
            &s,
            M::GET,
            &format!("/admin/v1/clients/{shared_id}"),
            &pay,
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &s,
            M::DELETE,
            &format!("/admin/v1/clients/{shared_id}"),
            &pay,
            None
        )
        .await
        .0,
        403
    );
    // Keys: readable by members, rotated by admins only.
    assert_eq!(call(&s, M::GET, "/admin/v1/keys", &pay, None).await.0, 200);
    assert_eq!(
        call(&s, M::POST, "/admin/v1/keys/rotate?force=true", &pay, None)
            .await
            .0,
        403
    );
    assert_eq!(
        call(
            &s,
            M::POST,
            "/admin/v1/keys/rotate?force=true",
            &admin,
            None
        )
        .await
        .0,
        200
    );
    // A token without admin or team scope is still refused.
    let (cid, csecret) = s
        .client(ClientInput {
            name: "plain".into(),
            scopes: vec!["pay:read".into()],
            ..Default::default()
        })
        .await;
    let plain = s
        .access_token(&cid, &csecret, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(
        call(&s, M::GET, "/admin/v1/clients", &plain, None).await.0,
        403
    );
}

async fn removing_a_held_scope_names_the_clients_and_asks(backend: Backend) {
    use reqwest::Method as M;
    let s = TestServer::start_with(backend, Algorithm::RS256, with_teams).await;
    let pay = team_token(&s, "payments").await;
    call(&s, M::POST, "/admin/v1/resource-servers", &pay, Some(json!({
        "identifier": "https://pay.example.com", "scopes": [{"name": "pay:read"}, {"name": "pay:write"}]
    }))).await;
    let (_, c) = call(
        &s,
        M::POST,
        "/admin/v1/clients",
        &pay,
        Some(json!({
            "name": "ledger", "scopes": ["pay:read", "pay:write"]
        })),
    )
    .await;
    let id = c["client_id"].as_str().unwrap().to_owned();
    let path = format!(
        "/admin/v1/resource-servers/{}",
        enc("https://pay.example.com")
    );
    let only_read =
        json!({"identifier": "https://pay.example.com", "scopes": [{"name": "pay:read"}]});
    let (st, body) = call(&s, M::PUT, &path, &pay, Some(only_read.clone())).await;
    assert_eq!(st, 409, "{body}");
    assert_eq!(body["error"], "scopes_held");
    assert_eq!(body["held"][0]["scope"], "pay:write");
    assert_eq!(body["held"][0]["clients"][0]["client_id"], id.as_str());
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("ledger")
    );
    // Nothing changed.
    let (_, rs) = call(&s, M::GET, &path, &pay, None).await;
    assert_eq!(rs["scopes"].as_array().unwrap().len(), 2);
    // Confirmed: the scope goes from the API and from the client.
    let (st, _) = call(
        &s,
        M::PUT,
        &format!("{path}?remove_held_scopes=true"),
        &pay,
        Some(only_read),
    )
    .await;
    assert_eq!(st, 200);
    let (_, c) = call(&s, M::GET, &format!("/admin/v1/clients/{id}"), &pay, None).await;
    assert_eq!(c["scopes"], json!(["pay:read"]));
}

async fn the_audit_log_records_changes_without_secrets(backend: Backend) {
    use reqwest::Method as M;
    let s = TestServer::start_with(backend, Algorithm::RS256, with_teams).await;
    let admin = s.admin_token().await;
    let pay = team_token(&s, "payments").await;
    let search = team_token(&s, "search").await;
    call(
        &s,
        M::POST,
        "/admin/v1/resource-servers",
        &pay,
        Some(json!({
            "identifier": "https://pay.example.com", "scopes": [{"name": "pay:read"}]
        })),
    )
    .await;
    let (_, c) = call(
        &s,
        M::POST,
        "/admin/v1/clients",
        &pay,
        Some(json!({"name": "ledger", "scopes": ["pay:read"]})),
    )
    .await;
    let id = c["client_id"].as_str().unwrap();
    let first_secret = c["client_secret"].as_str().unwrap().to_owned();
    let (_, rotated) = call(
        &s,
        M::POST,
        &format!("/admin/v1/clients/{id}/secrets"),
        &pay,
        None,
    )
    .await;
    let second_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    let old_id = c["secrets"][0]["secret_id"].as_str().unwrap();
    let (st, _) = call(
        &s,
        M::DELETE,
        &format!("/admin/v1/clients/{id}/secrets/{old_id}"),
        &pay,
        None,
    )
    .await;
    assert_eq!(st, 204);

    let (st, events) = call(&s, M::GET, "/admin/v1/audit", &admin, None).await;
    assert_eq!(st, 200, "{events}");
    let text = events.to_string();
    assert!(
        !text.contains(&first_secret) && !text.contains(&second_secret),
        "no secret in the log"
    );
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "client.secret.revoke",
        "client.secret.add",
        "client.create",
        "resource-server.create",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let revoke = &events[0];
    assert_eq!(revoke["action"], "client.secret.revoke", "newest first");
    assert_eq!(revoke["target"], id);
    assert_eq!(revoke["team"], "payments");
    assert_eq!(revoke["via"], "api");
    assert_eq!(revoke["source"], "127.0.0.1");
    assert!(revoke["actor"].as_str().unwrap().starts_with("client:"));
    assert_eq!(revoke["detail"]["secret_id"], old_id);
    // Filters: by action prefix and by object.
    let (_, secrets) = call(
        &s,
        M::GET,
        "/admin/v1/audit?action=client.secret",
        &admin,
        None,
    )
    .await;
    assert_eq!(secrets.as_array().unwrap().len(), 2);
    let (_, by_target) = call(
        &s,
        M::GET,
        &format!("/admin/v1/audit?target={}", enc("https://pay.example.com")),
        &admin,
        None,
    )
    .await;
    assert_eq!(by_target.as_array().unwrap().len(), 1);
    // Team members read their teams' events only.
    let (_, mine) = call(&s, M::GET, "/admin/v1/audit", &pay, None).await;
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|e| e["team"] == "payments")
    );
    assert_eq!(mine.as_array().unwrap().len(), 4);
    let (_, theirs) = call(&s, M::GET, "/admin/v1/audit", &search, None).await;
    assert_eq!(theirs, json!([]));
    // Paging backwards.
    let newest = events[0]["id"].as_i64().unwrap();
    let (_, older) = call(
        &s,
        M::GET,
        &format!("/admin/v1/audit?before={newest}&limit=1"),
        &admin,
        None,
    )
    .await;
    assert_eq!(older.as_array().unwrap().len(), 1);
    assert!(older[0]["id"].as_i64().unwrap() < newest);
}

// ---- sign-in ------------------------------------------------------------------------

/// A scripted identity provider: discovery, an ES256 JWKS, and a token endpoint that
/// answers each code once with the ID token the test put in `next`.
struct ScriptedProvider {
    issuer: String,
    key: jsonwebtoken::EncodingKey,
    next: Mutex<Option<String>>,
    used: Mutex<Vec<String>>,
    jwk: Value,
}

impl ScriptedProvider {
    async fn start() -> Arc<ScriptedProvider> {
        use aws_lc_rs::rand::SystemRandom;
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
        use base64::Engine as _;
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let public = pair.public_key().as_ref();
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": "idp-1", "alg": "ES256", "use": "sig",
            "x": b64(&public[1..33]), "y": b64(&public[33..65])});
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let p = Arc::new(ScriptedProvider {
            issuer: issuer.clone(),
            key: jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()),
            next: Mutex::new(None),
            used: Mutex::new(Vec::new()),
            jwk,
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(|State(p): State<Arc<ScriptedProvider>>| async move {
                axum::Json(json!({"issuer": p.issuer, "authorization_endpoint": format!("{}/authorize", p.issuer),
                    "token_endpoint": format!("{}/token", p.issuer), "jwks_uri": format!("{}/jwks", p.issuer)}))
            }))
            .route("/jwks", get(|State(p): State<Arc<ScriptedProvider>>| async move { axum::Json(json!({"keys": [p.jwk]})) }))
            .route("/token", post(|State(p): State<Arc<ScriptedProvider>>, body: String| async move {
                let code = url::form_urlencoded::parse(body.as_bytes()).find(|(k, _)| k == "code").map(|(_, v)| v.into_owned()).unwrap_or_default();
                let mut used = p.used.lock().unwrap();
                if used.contains(&code) {
                    return (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant", "error_description": "code already used"})));
                }
                used.push(code);
                let id_token = p.next.lock().unwrap().take().unwrap_or_default();
                (axum::http::StatusCode::OK, axum::Json(json!({"access_token": "x", "token_type": "Bearer", "id_token": id_token})))
            }))
            .with_state(p.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        p
    }

    fn id_token(&self, claims: Value) -> String {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some("idp-1".into());
        jsonwebtoken::encode(&h, &claims, &self.key).unwrap()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) struct Browser {
    http: reqwest::Client,
    pub(crate) cookies: Vec<(String, String)>,
}

impl Browser {
    pub(crate) fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    pub(crate) fn remember(&mut self, resp: &reqwest::Response) {
        for v in resp.headers().get_all("set-cookie") {
            let text = v.to_str().unwrap();
            let (pair, _) = text.split_once(';').unwrap_or((text, ""));
            let (k, val) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !text.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), val.to_owned()));
            }
        }
    }

    pub(crate) fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub(crate) async fn get(&mut self, url: &str) -> reqwest::Response {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.remember(&r);
        r
    }

    pub(crate) async fn post(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        self.remember(&r);
        r
    }

    /// Start a sign-in: returns (state, nonce) from the redirect to the provider.
    pub(crate) async fn start(&mut self, s: &TestServer) -> (String, String) {
        let r = self
            .get(&s.url("/portal/login?return_to=/portal/apis"))
            .await;
        assert_eq!(r.status(), 303);
        let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        let q: BTreeMap<String, String> = location.query_pairs().into_owned().collect();
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"].len(), 43);
        assert_eq!(q["redirect_uri"], s.url("/portal/callback"));
        (q["state"].clone(), q["nonce"].clone())
    }
}

fn claims(p: &ScriptedProvider, nonce: &str) -> Value {
    json!({"iss": p.issuer, "aud": "portal", "sub": "alice", "email": "alice@example.com", "name": "Alice",
        "groups": ["payments-devs"], "nonce": nonce, "iat": now(), "exp": now() + 300})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripted_provider_the_callback_refuses_what_it_must() {
    let idp = ScriptedProvider::start().await;
    let issuer = idp.issuer.clone();
    let s = TestServer::start_with(Backend::Sqlite, Algorithm::RS256, move |st| {
        let mut p = PortalSettings::new(SignIn::Oidc(OidcProvider {
            issuer,
            client_id: "portal".into(),
            client_secret: ClientSecret("portal-secret".into()),
            scopes: vec!["openid".into(), "email".into()],
            display_name: "Scripted".into(),
        }));
        p.teams = teams();
        st.portal = Some(p);
    })
    .await;
    let callback =
        |state: &str, code: &str| s.url(&format!("/portal/callback?code={code}&state={state}"));

    // 1. A state that is not this browser's.
    let mut b = Browser::new();
    let (_state, nonce) = b.start(&s).await;
    *idp.next.lock().unwrap() = Some(idp.id_token(claims(&idp, &nonce)));
    let r = b.get(&callback("forged-state", "c1")).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not started in this browser")
    );

    // 2. Another browser's state: its login cookie is not ours.
    let mut other = Browser::new();
    let (state, _) = b.start(&s).await;
    let r = other.get(&callback(&state, "c2")).await;
    assert_eq!(r.status(), 400);

    // 3. A wrong nonce (an ID token from another sign-in).
    let (state, _) = b.start(&s).await;
    *idp.next.lock().unwrap() = Some(idp.id_token(claims(&idp, "someone-elses-nonce")));
    let r = b.get(&callback(&state, "c3")).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("nonce"));

    // 4. An ID token for another audience.
    let (state, nonce) = b.start(&s).await;
    let mut c = claims(&idp, &nonce);
    c["aud"] = json!("another-app");
    *idp.next.lock().unwrap() = Some(idp.id_token(c));
    let r = b.get(&callback(&state, "c4")).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("not for this portal"));

    // 5. Expired, and another issuer.
    let (state, nonce) = b.start(&s).await;
    let mut c = claims(&idp, &nonce);
    c["exp"] = json!(now() - 600);
    *idp.next.lock().unwrap() = Some(idp.id_token(c));
    assert!(
        b.get(&callback(&state, "c5"))
            .await
            .text()
            .await
            .unwrap()
            .contains("expired")
    );
    let (state, nonce) = b.start(&s).await;
    let mut c = claims(&idp, &nonce);
    c["iss"] = json!("https://evil.example.com");
    *idp.next.lock().unwrap() = Some(idp.id_token(c));
    assert!(
        b.get(&callback(&state, "c6"))
            .await
            .text()
            .await
            .unwrap()
            .contains("not issued by")
    );

    // 6. A token signed with another key (same kid).
    let (state, nonce) = b.start(&s).await;
    let impostor = ScriptedProvider::start().await;
    *idp.next.lock().unwrap() = Some(impostor.id_token(claims(&idp, &nonce)));
    assert!(
        b.get(&callback(&state, "c7"))
            .await
            .text()
            .await
            .unwrap()
            .contains("signature does not verify")
    );

    // 7. A good sign-in: a session cookie with the right attributes, back where we were.
    let (state, nonce) = b.start(&s).await;
    *idp.next.lock().unwrap() = Some(idp.id_token(claims(&idp, &nonce)));
    let r = b.get(&callback(&state, "good")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/portal/apis");
    let set: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("authdomain_session="))
        .expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/portal", "Max-Age=28800"] {
        assert!(session.contains(attr), "{attr} in {session}");
    }
    assert!(
        !session.contains("Secure"),
        "plain http on loopback: not Secure ({session})"
    );
    let page = b.get(&s.url("/portal/apis")).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Alice"));

    // 8. Replaying the callback: its state was used.
    let r = b.get(&callback(&state, "good")).await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("not started in this browser"),
        "the login cookie went with the sign-in"
    );
    let mut replay = Browser::new();
    replay
        .cookies
        .push(("authdomain_login".into(), state.clone()));
    let r = replay.get(&callback(&state, "good")).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("already used"));

    // 9. A replayed code with a fresh state: the provider refuses it and so do we.
    let (state, _) = b.start(&s).await;
    let r = b.get(&callback(&state, "good")).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("invalid_grant"));

    // 10. Signed in at the provider, but in no team.
    let mut nobody = Browser::new();
    let (state, nonce) = nobody.start(&s).await;
    let mut c = claims(&idp, &nonce);
    c["groups"] = json!(["marketing"]);
    *idp.next.lock().unwrap() = Some(idp.id_token(c));
    let r = nobody.get(&callback(&state, "c10")).await;
    assert_eq!(r.status(), 403);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("in no AuthDomain team") && text.contains("marketing"),
        "{text}"
    );
    assert!(
        !nobody
            .cookies
            .iter()
            .any(|(k, _)| k == "authdomain_session")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_need_the_csrf_token_and_pages_carry_a_strict_policy() {
    let s = TestServer::start_with(Backend::Sqlite, Algorithm::RS256, with_teams).await;
    let mut b = Browser::new();
    // Development sign-in (loopback): as a payments member.
    let r = b
        .post(
            &s.url("/portal/dev-login"),
            &[("name", "dana@example.com"), ("role", "team:payments")],
            None,
        )
        .await;
    assert_eq!(r.status(), 303);
    let page = b.get(&s.url("/portal/apis")).await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("<script>") && !html.contains(" style="),
        "no inline script or style"
    );
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let form = [
        ("identifier", "https://pay.example.com"),
        ("scopes", "pay:read Read payments"),
    ];

    // Without the token, with a wrong one, and from another origin: refused, nothing made.
    let r = b.post(&s.url("/portal/apis"), &form, None).await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("CSRF"));
    let mut wrong = form.to_vec();
    wrong.push(("csrf", "not-the-token"));
    assert_eq!(
        b.post(&s.url("/portal/apis"), &wrong, None).await.status(),
        403
    );
    let mut good = form.to_vec();
    good.push(("csrf", &csrf));
    assert_eq!(
        b.post(
            &s.url("/portal/apis"),
            &good,
            Some("https://evil.example.com")
        )
        .await
        .status(),
        403
    );
    let admin = s.admin_token().await;
    let (_, list) = call(
        &s,
        reqwest::Method::GET,
        "/admin/v1/resource-servers",
        &admin,
        None,
    )
    .await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "only the admin API's: {list}"
    );

    // With it: created, owned by the member's team, audited as the person from the page.
    let r = b.post(&s.url("/portal/apis"), &good, Some(&s.base)).await;
    assert_eq!(r.status(), 303);
    let (_, events) = call(
        &s,
        reqwest::Method::GET,
        "/admin/v1/audit?action=resource-server",
        &admin,
        None,
    )
    .await;
    assert_eq!(events[0]["actor"], "dana@example.com");
    assert_eq!(events[0]["via"], "portal");
    assert_eq!(events[0]["team"], "payments");

    // A refused form keeps what was typed and names the field.
    let bad = [
        ("identifier", "not a uri"),
        ("name", "Kept name"),
        ("csrf", csrf.as_str()),
    ];
    let r = b.post(&s.url("/portal/apis"), &bad, None).await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("absolute URI") && html.contains("value=\"Kept name\""),
        "{html}"
    );

    // Signing out ends the session on the server: the old cookie no longer works.
    let old = b.cookie_header();
    let r = b
        .post(&s.url("/portal/logout"), &[("csrf", &csrf)], None)
        .await;
    assert_eq!(r.status(), 303);
    let r = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
        .get(s.url("/portal/apis"))
        .header("cookie", old)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "back to the sign-in page");
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/portal?return_to=")
    );
}
