//! The portal in a real browser (headless Chromium through chromedriver) against a real
//! OpenID Connect provider (oidc-provider from npm, tests/idp/idp.mjs): people sign in,
//! create an API and its scopes, register a client, read its secret from the page, get a
//! token with it, rotate and revoke; another team's member is refused; everyone signs out.
//! Then the same sign-in and a page with the unchanged binary as a Lambda function, behind
//! an HTTP API adapter, under the Lambda runtime emulator. Screenshots are kept in
//! `<target>/portal-screenshots`.

use std::net::SocketAddr;
use std::process::Child;
use std::sync::Arc;

use authdomain_api::{ClientInput, TEAM_SCOPE_PREFIX};
use authdomain_tests::browser::{Browser, Driver};
use authdomain_tests::idp::Idp;
use authserver::keys::Kek;
use authserver::portal::{ClientSecret, OidcProvider, PortalSettings, SignIn};
use authserver::store::{Store, StoreOptions};
use authserver::{Authority, Settings};
use serde_json::Value;

use crate::support::spawn_server;

const CLIENT_ID: &str = "authdomain-portal";
const CLIENT_SECRET: &str = "portal-secret-3f9a1c7e5b2d48f6a0e4c8b19d3f5a72";

fn portal_settings(idp: &Idp) -> PortalSettings {
    let mut p = PortalSettings::new(SignIn::Oidc(OidcProvider {
        issuer: idp.issuer.clone(),
        client_id: CLIENT_ID.into(),
        client_secret: ClientSecret(CLIENT_SECRET.into()),
        scopes: ["openid", "profile", "email", "groups"]
            .map(String::from)
            .to_vec(),
        display_name: "Example Corp SSO".into(),
    }));
    p.admin_groups = vec!["platform-admins".into()];
    p.teams
        .insert("payments".into(), vec!["payments-devs".into()]);
    p.teams.insert("search".into(), vec!["search-devs".into()]);
    p.domain_name = "example-prod".into();
    p
}

async fn sign_in(b: &Browser, portal: &str, who: &str) {
    b.goto(portal).await;
    b.click("a.btn-primary").await;
    // The provider's login form.
    b.fill("input[name=login]", who).await;
    b.fill("input[name=password]", who).await;
    b.click("button[type=submit]").await;
    b.wait_text("Welcome,").await;
}

async fn token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> (u16, Value) {
    let r = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_manage_their_apis_and_clients_in_a_browser() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let portal = format!("{base}/portal");
    let idp = Idp::start(CLIENT_ID, CLIENT_SECRET, &[format!("{portal}/callback")]);
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::new(&base);
    settings.portal = Some(portal_settings(&idp));
    let store = Store::open(
        &format!("sqlite://{}", dir.path().join("auth.db").display()),
        &StoreOptions::default(),
    )
    .await
    .unwrap();
    let authority = Arc::new(Authority::new(
        store,
        Kek::from_base64(&Kek::generate_base64()).unwrap(),
        settings,
    ));
    authority.prepare().await.unwrap();
    spawn_server(listener, authority.clone());
    let http = reqwest::Client::new();
    let driver = Driver::start();

    // Alice (payments) signs in with the provider.
    let alice = driver.browser(1280, 800).await;
    sign_in(&alice, &portal, "alice").await;
    alice.wait_text("Welcome, Alice Adams").await;
    assert!(alice.body().await.contains("payments"), "her team is shown");
    assert!(!alice.scrolls_sideways().await);
    alice.screenshot("01-overview").await;

    // She creates her API with two scopes, then adds a third.
    alice.goto(&format!("{portal}/apis")).await;
    alice
        .fill("#rs-identifier", "https://payments.example.com")
        .await;
    alice.fill("#rs-name", "Payments API").await;
    alice
        .fill(
            "#rs-scopes",
            "payments:read Read payments\npayments:write Create payments",
        )
        .await;
    alice.click("#new button[type=submit]").await;
    alice.wait_text("Created.").await;
    alice.fill("#scope-name", "payments:refund").await;
    alice.fill("#scope-description", "Refund a payment").await;
    alice
        .click("form[action*='scopes/add'] button[type=submit]")
        .await;
    alice.wait_text("Scope added.").await;
    assert!(alice.body().await.contains("payments:refund"));
    assert!(!alice.scrolls_sideways().await);
    alice.screenshot("02-api").await;

    // She registers a client holding one scope; the secret is shown once.
    alice.goto(&format!("{portal}/clients")).await;
    alice.fill("#c-name", "Acme billing sync").await;
    alice
        .click("input[type=checkbox][value='payments:read']")
        .await;
    alice.click("#new button[type=submit]").await;
    alice.wait_text("Copy the secret now").await;
    let client_id = alice.text("#client-id").await;
    let secret = alice.text("#client-secret").await;
    assert_eq!(secret.len(), 43, "a 32-byte base64url secret");
    assert!(
        alice
            .text("#curl-token")
            .await
            .contains(&format!("{client_id}:{secret}"))
    );
    alice.click("button[data-copy='client-secret']").await;
    alice.screenshot("03-client-secret").await;
    let (st, t) = token(&http, &base, &client_id, &secret).await;
    assert_eq!(st, 200, "{t}");
    assert_eq!(t["scope"], "payments:read");

    // Rotate: a second secret, both work, the page shows when each was made.
    alice.click("a.btn[href*='/clients/view']").await;
    alice
        .click("form[action*='/clients/rotate'] button[type=submit]")
        .await;
    alice.wait_text("Both secrets work now").await;
    let new_secret = alice.text("#client-secret").await;
    assert_ne!(new_secret, secret);
    assert_eq!(
        alice
            .css("section.card ul")
            .await
            .find_all(authdomain_tests::browser::fantoccini::Locator::Css("li"))
            .await
            .unwrap()
            .len(),
        2
    );
    alice.screenshot("04-rotated").await;
    assert_eq!(token(&http, &base, &client_id, &secret).await.0, 200);
    assert_eq!(token(&http, &base, &client_id, &new_secret).await.0, 200);

    // Revoke the old one (the first row), confirming the dialog.
    alice.click("a.btn[href*='/clients/view']").await;
    alice
        .click_and_confirm("#secrets tbody tr:first-child form button")
        .await;
    alice.wait_text("Secret revoked").await;
    assert!(
        alice.has("form[action*='/clients/delete']").await,
        "her own client has the forms a managed one lacks"
    );
    assert_eq!(token(&http, &base, &client_id, &secret).await.0, 401);
    assert_eq!(token(&http, &base, &client_id, &new_secret).await.0, 200);
    assert!(!alice.scrolls_sideways().await);
    alice.screenshot("05-client").await;

    alice.goto(&format!("{portal}/audit")).await;
    alice.wait_text("client.secret.revoke").await;
    assert!(alice.body().await.contains("alice@example.com"));
    assert!(
        !alice.body().await.contains(&new_secret),
        "no secret in the audit log"
    );
    alice.screenshot("06-audit").await;

    // A client the Kubernetes operator registered is shown as managed there, read-only:
    // no form changes it, and a hand-made POST is refused.
    let managed = authority
        .create_client(
            &authdomain_tests::issuer::test_actor(),
            ClientInput {
                name: "orders (from the cluster)".into(),
                scopes: vec!["payments:read".into()],
                team: Some("payments".into()),
                managed_by: Some("kubernetes:shop/orders".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .client;
    alice.goto(&format!("{portal}/clients")).await;
    alice.wait_text("orders (from the cluster)").await;
    assert!(alice.body().await.contains("managed by Kubernetes"));
    let managed_page = format!("{portal}/clients/view?id={}", enc(&managed.client_id));
    alice.goto(&managed_page).await;
    alice
        .wait_text("Managed by kubernetes:shop/orders: read-only here")
        .await;
    for action in [
        "/clients/rotate",
        "/clients/revoke",
        "/clients/update",
        "/clients/delete",
    ] {
        assert!(
            !alice.has(&format!("form[action*='{action}']")).await,
            "no {action} form on a managed client"
        );
    }
    let alice_cookie = alice
        .client
        .get_named_cookie("authdomain_session")
        .await
        .expect("alice's session cookie");
    // The CSRF token of her session, from a form she does have (the API page's).
    alice.goto(&format!("{portal}/apis")).await;
    let csrf = alice.attr("input[name=csrf]", "value").await;
    let r = http
        .post(format!(
            "{portal}/clients/delete?id={}",
            enc(&managed.client_id)
        ))
        .header(
            "cookie",
            format!("authdomain_session={}", alice_cookie.value()),
        )
        .header("origin", &base)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a managed client cannot be deleted here");
    assert!(
        authority
            .get_client(&authdomain_tests::issuer::test_actor(), &managed.client_id)
            .await
            .is_ok(),
        "and it is still there"
    );

    // Bob (search) is refused alice's API, in the page and through the API.
    let bob = driver.browser(1280, 800).await;
    sign_in(&bob, &portal, "bob").await;
    let api_page = format!(
        "{portal}/apis/view?id={}",
        enc("https://payments.example.com")
    );
    bob.goto(&api_page).await;
    bob.wait_text("belongs to another team").await;
    bob.screenshot("07-other-team").await;
    let cookie = bob
        .client
        .get_named_cookie("authdomain_session")
        .await
        .expect("bob's session cookie");
    let r = http
        .get(&api_page)
        .header("cookie", format!("authdomain_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "the page answers 403");
    let (id, secret) = {
        let c = authority
            .create_client(
                &authdomain_tests::issuer::test_actor(),
                ClientInput {
                    name: "search automation".into(),
                    scopes: vec![format!("{TEAM_SCOPE_PREFIX}search")],
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        (c.client.client_id, c.client_secret.unwrap())
    };
    let (_, t) = token(&http, &base, &id, &secret).await;
    let r = http
        .get(format!(
            "{base}/admin/v1/resource-servers/{}",
            enc("https://payments.example.com")
        ))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "and so does the admin API");
    bob.goto(&format!("{portal}/apis")).await;
    assert!(
        !bob.body().await.contains("Payments API"),
        "not even listed"
    );

    // Carol (admin) sees everything, and the keys with their states.
    let carol = driver.browser(1280, 800).await;
    sign_in(&carol, &portal, "carol").await;
    carol.goto(&format!("{portal}/apis")).await;
    carol.wait_text("Payments API").await;
    carol.goto(&format!("{portal}/keys")).await;
    carol.wait_text("active").await;
    assert!(carol.body().await.contains("next"));
    carol.screenshot("08-keys").await;
    let active_before = authority
        .list_keys(&authdomain_tests::issuer::test_actor())
        .await
        .unwrap();
    let active_before = active_before
        .iter()
        .find(|k| k.state == "active")
        .unwrap()
        .kid
        .clone();
    // The next key was published moments ago: rotating asks to force it.
    carol
        .click_and_confirm(".page-head form[action$='/keys/rotate'] button")
        .await;
    carol.wait_text("Rotate anyway").await;
    carol.click_and_confirm("main form button.btn-danger").await;
    carol.wait_text("Keys rotated").await;
    let keys = authority
        .list_keys(&authdomain_tests::issuer::test_actor())
        .await
        .unwrap();
    assert!(
        keys.iter()
            .any(|k| k.kid == active_before && k.state == "retired")
    );
    // Members have no rotate button.
    bob.goto(&format!("{portal}/keys")).await;
    bob.wait_text("Signing keys").await;
    assert!(!bob.has("form[action$='/keys/rotate']").await);

    // Everyone signs out; the session is gone.
    for b in [&alice, &bob, &carol] {
        b.click("form[action$='/logout'] button").await;
        b.wait_text("You are signed out.").await;
        b.goto(&format!("{portal}/clients")).await;
        b.wait_text("Sign in with Example Corp SSO").await;
    }
    for b in [alice, bob, carol] {
        b.close().await;
    }
}

/// Kills the function process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_portal_signs_in_under_lambda_behind_an_http_api() {
    use authdomain_tests::lambda_emulator::Emulator;
    const BIN: &str = env!("CARGO_BIN_EXE_authserver");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let portal = format!("{base}/portal");
    let idp = Idp::start(CLIENT_ID, CLIENT_SECRET, &[format!("{portal}/callback")]);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("auth.db").display());
    let secret_file = dir.path().join("portal-secret");
    std::fs::write(&secret_file, CLIENT_SECRET).unwrap();
    let kek = Kek::generate_base64();
    let portal_env = |c: &mut std::process::Command| {
        c.env("AUTHSERVER_DATABASE_URL", &db)
            .env("AUTHSERVER_ISSUER", &base)
            .env("AUTHSERVER_KEK", &kek)
            .env("AUTHSERVER_PORTAL_ISSUER", &idp.issuer)
            .env("AUTHSERVER_PORTAL_CLIENT_ID", CLIENT_ID)
            .env("AUTHSERVER_PORTAL_CLIENT_SECRET_FILE", &secret_file)
            .env("AUTHSERVER_PORTAL_SCOPES", "openid profile email groups")
            .env("AUTHSERVER_PORTAL_ADMIN_GROUPS", "platform-admins")
            .env(
                "AUTHSERVER_PORTAL_TEAMS",
                "payments=payments-devs;search=search-devs",
            )
            .env("AUTHSERVER_PORTAL_PROVIDER_NAME", "Example Corp SSO");
    };
    // The database is prepared as `authdomain apply` does before traffic.
    let mut migrate = std::process::Command::new(BIN);
    migrate.arg("migrate").env_remove("AWS_LAMBDA_RUNTIME_API");
    portal_env(&mut migrate);
    let out = migrate.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let emulator = Arc::new(Emulator::start("authserver"));
    let mut function = emulator.function_command(std::path::Path::new(BIN), "authserver");
    portal_env(&mut function);
    let _function = Running(function.spawn().expect("start the function"));
    authdomain_tests::http_api::serve(listener, emulator.clone(), "authserver");

    let driver = Driver::start();
    let alice = driver.browser(1280, 800).await;
    sign_in(&alice, &portal, "alice").await;
    alice.wait_text("Welcome, Alice Adams").await;
    alice.goto(&format!("{portal}/clients")).await;
    alice.wait_text("Register a client").await;
    alice.screenshot("lambda-clients").await;
    // The session cookie came through the HTTP API's `cookies` and is refused once signed out.
    alice.click("form[action$='/logout'] button").await;
    alice.wait_text("You are signed out.").await;
    alice.close().await;
}
