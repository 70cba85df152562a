//! The operator against a real kube-apiserver (v1.20.2 with etcd and the
//! controller-manager, on loopback; or any cluster named by KUBECONFIG), the real
//! `authdomain-operator` binary running under the least-privilege RBAC of
//! manifests/rbac.yaml, `kubectl apply` of the CRDs and examples, and the AWS side on
//! moto. moto cannot run the function, so its invocations go to a fake Lambda service
//! running the real x86_64 auth server (the same set-up as the bootstrap test), and the
//! Data API's SQL to a real PostgreSQL. The OAuthClient's credentials are checked against
//! a running auth server on that database: the operator reaches it with
//! `--auth-server-url` (API Gateway's hostnames do not resolve here).
//!
//! One test walks the whole life: Ready with outputs → invalid spec rejected → an
//! OAuthClient's Secret obtains a token → a forbidden namespace is refused → rotation
//! with both secrets working → drift reported, then corrected → leader election hands
//! over → deletes clean up the client and the AWS side.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use authdomain_core::spec::Architecture;
use base64::Engine as _;
use provisioner::image::registry::Registry;
use serde_json::{Value, json};

const OPERATOR: &str = env!("CARGO_BIN_EXE_authdomain-operator");
const MANIFESTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests");

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn term(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the operator did not stop within 20 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Poll `f` until it returns Some, for up to `secs`.
async fn eventually<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn get_json(kube: &authdomain_tests::kube::TestKube, args: &[&str]) -> Option<Value> {
    let out = kube
        .kubectl()
        .args(args)
        .args(["-o", "json"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())?
}

fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

fn secret_field(secret: &Value, key: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(secret["data"][key].as_str().unwrap_or_default())
            .unwrap(),
    )
    .unwrap()
}

async fn token_status(base: &str, id: &str, secret: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn apply(kube: &authdomain_tests::kube::TestKube, yaml: &str) -> std::process::Output {
    let mut child = kube
        .kubectl()
        .args(["apply", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn domain_yaml(digest: &str, policy: &str) -> String {
    format!(
        "apiVersion: authdomain.io/v1alpha1
kind: AuthDomain
metadata:
  name: ops
spec:
  region: eu-west-1
  database:
    deletionProtection: false
    finalSnapshot: false
  image:
    architecture: x86_64
    digest: {digest}
  resourceServers:
    - identifier: https://orders.example.com
      scopes:
        - name: orders:read
        - name: orders:write
  operator:
    driftPolicy: {policy}
    clientAccess:
      - namespaces: [team-a]
        scopes: [orders:read]
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_serves_authdomains_and_oauthclients_end_to_end() {
    let kube = authdomain_tests::kube::cluster();
    let moto = authdomain_tests::moto::server();
    let account = moto.new_account();
    let registry = authdomain_tests::registry::start(None);
    let pg = authdomain_tests::postgres::server();
    let aws = authdomain_tests::aws::moto(&account, "eu-west-1", registry.url()).await;
    let binary = authdomain_tests::cross::authserver("x86_64");

    // The image the AuthDomain pins (the operator deploys images, it does not build them).
    let built = provisioner::image::assemble(
        &std::fs::read(&binary).unwrap(),
        Architecture::X86_64,
        "test",
    )
    .unwrap();
    let session = Registry::connect(&aws, "registry.test/ops-authserver")
        .await
        .unwrap();
    session.push("ops-authserver", &built, None).await.unwrap();
    let lambda =
        authdomain_tests::lambda::FakeLambda::start(authdomain_tests::aws::function_launcher(
            aws.clone(),
            authdomain_tests::aws::FunctionBinary::Native(binary.clone()),
            pg.port(),
        ))
        .await;
    moto.set_hooks(
        &account,
        &json!({
            "lambda_invoke": {"ops-authserver": lambda.invoke_url("ops-authserver")},
            "psql": pg.conninfo(),
        })
        .to_string(),
    );

    // The operator's namespace and RBAC, as the manifests give them; teams' namespaces.
    for ns in ["authdomain-system", "team-a", "team-b"] {
        let _ = kube.kubectl().args(["create", "namespace", ns]).output();
    }
    // With kubectl's validation on: a pre-1.25 test server gets the CRDs without their
    // CEL rules (it would drop them; operator/src/crd/cel_tests.rs evaluates them).
    let crds = std::fs::read_to_string(format!("{MANIFESTS}/crds/authdomain.io.yaml")).unwrap();
    let out = kube.apply_stdin(&crds, &[]);
    assert!(
        out.status.success(),
        "kubectl apply of the CRDs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    kube.kubectl_ok(&["apply", "-f", &format!("{MANIFESTS}/rbac.yaml")]);
    let kubeconfig = kube.service_account_kubeconfig("authdomain-system", "authdomain-operator");

    let auth_port = authdomain_tests::net::free_port();
    let auth_base = format!("http://127.0.0.1:{auth_port}");
    let metrics_port = authdomain_tests::net::free_port();
    let start_operator = |identity: &str, metrics: u16| {
        Command::new(OPERATOR)
            .args([
                "--namespace=authdomain-system",
                &format!("--identity={identity}"),
                "--drift-interval=2s",
                "--aws-requests-per-second=50",
                &format!("--metrics-addr=127.0.0.1:{metrics}"),
                &format!("--auth-server-url=ops={auth_base}"),
                "--log-format=text",
            ])
            .env("KUBECONFIG", &kubeconfig)
            .env("AWS_ENDPOINT_URL", moto.endpoint())
            .env("AUTHDOMAIN_MOTO_ACCOUNT", &account)
            .env("AUTHDOMAIN_REGISTRY_URL", registry.url())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("RUST_LOG", "info,kube=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    };
    let mut first = Running(start_operator("op-1", metrics_port));
    // A second replica waits for the Lease.
    let second_metrics = authdomain_tests::net::free_port();
    let mut second = Running(start_operator("op-2", second_metrics));

    // 1. An AuthDomain becomes Ready with its outputs.
    let out = apply(kube, &domain_yaml(&built.digest, "Report"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = std::cell::RefCell::new(Value::Null);
    let domain = eventually("AuthDomain ops Ready", 240, || {
        let d = get_json(kube, &["get", "authdomains", "ops"])?;
        if std::env::var_os("AUTHDOMAIN_TEST_TRACE").is_some() && *last.borrow() != d["status"] {
            eprintln!("status: {}", d["status"]);
        }
        *last.borrow_mut() = d["status"].clone();
        (condition(&d, "Ready")?["status"] == "True").then_some(d)
    })
    .await;
    let issuer = domain["status"]["outputs"]["issuer"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(issuer.contains(".execute-api.eu-west-1."), "{issuer}");
    assert_eq!(
        domain["status"]["outputs"]["tokenUrl"],
        format!("{issuer}/oauth2/token")
    );
    assert_eq!(condition(&domain, "Synced").unwrap()["reason"], "Applied");
    assert_eq!(
        domain["status"]["observedGeneration"],
        domain["metadata"]["generation"]
    );
    let events = kube.kubectl_ok(&[
        "get",
        "events",
        "-n",
        "default",
        "--field-selector",
        "involvedObject.name=ops",
        "-o",
        "json",
    ]);
    assert!(events.contains("\"Applied\""), "{events}");
    let lease = get_json(
        kube,
        &[
            "get",
            "lease",
            "-n",
            "authdomain-system",
            "authdomain-operator",
        ],
    )
    .unwrap();
    let leader = lease["spec"]["holderIdentity"].as_str().unwrap().to_owned();
    assert!(leader == "op-1" || leader == "op-2", "{lease}");

    // 2. An invalid spec is rejected by the API server, naming the field.
    let bad = domain_yaml(&built.digest, "Report")
        .replace("name: ops", "name: bad")
        .replace(
            "region: eu-west-1",
            "region: eu-west-1\n  network:\n    natGateway: sometimes",
        );
    let out = apply(kube, &bad);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("natGateway"), "{err}");

    // The auth server the function runs, on its database and KEK, for real HTTP calls.
    let kek = aws
        .secrets
        .get_secret_value()
        .secret_id("authdomain/ops/kek")
        .send()
        .await
        .unwrap();
    let kek = kek.secret_string().unwrap().to_owned();
    let start_server = || {
        let server = Running(
            Command::new(&binary)
                .args(["serve", "--listen", &format!("127.0.0.1:{auth_port}")])
                .env(
                    "AUTHSERVER_DATABASE_URL",
                    format!("postgres://authserver@127.0.0.1:{}/authserver", pg.port()),
                )
                .env("AUTHSERVER_KEK", &kek)
                .env("AUTHSERVER_ISSUER", &issuer)
                .env("AUTHSERVER_CACHE_TTL", "0")
                .env_remove("AWS_LAMBDA_RUNTIME_API")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        assert!(authdomain_tests::net::wait_for_port(
            format!("127.0.0.1:{auth_port}").parse().unwrap(),
            Duration::from_secs(20)
        ));
        server
    };
    let mut server = Some(start_server());

    // 3. An OAuthClient: a Secret whose credentials obtain a token.
    let client = "apiVersion: authdomain.io/v1alpha1
kind: OAuthClient
metadata:
  name: orders-reader
  namespace: team-a
spec:
  domain: ops
  scopes: [orders:read]
  tokenTtl: 600
";
    let out = apply(kube, client);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let oc = eventually("OAuthClient Ready", 60, || {
        let c = get_json(
            kube,
            &["get", "oauthclient", "-n", "team-a", "orders-reader"],
        )?;
        (condition(&c, "Ready")?["status"] == "True").then_some(c)
    })
    .await;
    let secret = get_json(kube, &["get", "secret", "-n", "team-a", "orders-reader"]).unwrap();
    assert_eq!(
        secret["metadata"]["ownerReferences"][0]["uid"],
        oc["metadata"]["uid"]
    );
    let id = secret_field(&secret, "client_id");
    let first_secret = secret_field(&secret, "client_secret");
    assert_eq!(
        secret_field(&secret, "token_url"),
        format!("{issuer}/oauth2/token")
    );
    assert_eq!(secret_field(&secret, "issuer"), issuer);
    assert_eq!(secret_field(&secret, "scope"), "orders:read");
    assert_eq!(oc["status"]["clientId"], id);
    assert_eq!(token_status(&auth_base, &id, &first_secret).await, 200);

    // 3b. No reconcile storm. The domain is Ready and idle, with three OAuthClients:
    // over 60 s, the leader's reconciles and AWS calls are what the drift interval
    // (2 s here) explains: one plan per check (DescribeVpcs counts plans), at most one
    // extra, workless wake-up per check for the domain's own status write, and no
    // OAuthClient woken by the domain's drift checks. A status write that triggered
    // the next plan would run them back to back, and every client with them.
    for n in ["orders-reader-2", "orders-reader-3"] {
        let out = apply(kube, &client.replace("orders-reader", n));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        eventually("the other OAuthClients Ready", 60, || {
            let c = get_json(kube, &["get", "oauthclient", "-n", "team-a", n])?;
            (condition(&c, "Ready")?["status"] == "True").then_some(())
        })
        .await;
    }
    let leader_metrics = if leader == "op-1" {
        metrics_port
    } else {
        second_metrics
    };
    let scrape = || async move {
        let text = reqwest::get(format!("http://127.0.0.1:{leader_metrics}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let sum = |needles: &[&str]| -> f64 {
            text.lines()
                .filter(|l| !l.starts_with('#') && needles.iter().all(|n| l.contains(n)))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        (
            sum(&[
                "authdomain_operator_reconciles_total",
                "kind=\"AuthDomain\"",
            ]),
            sum(&[
                "authdomain_operator_reconciles_total",
                "kind=\"OAuthClient\"",
            ]),
            sum(&[
                "authdomain_operator_aws_calls_total",
                "operation=\"DescribeVpcs\"",
            ]),
            sum(&["authdomain_operator_aws_calls_total"]),
        )
    };
    let before = scrape().await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let after = scrape().await;
    let (domains, clients, plans, calls) = (
        after.0 - before.0,
        after.1 - before.1,
        after.2 - before.2,
        after.3 - before.3,
    );
    eprintln!(
        "60 s idle: {domains} AuthDomain reconciles, {clients} OAuthClient reconciles, {plans} plans, {calls} AWS calls"
    );
    // 60 s / 2 s = 30 drift checks at most (each jittered later by up to 10%).
    assert!((1.0..=31.0).contains(&plans), "{plans} plans in 60 s");
    assert!(
        domains <= 2.0 * plans + 2.0,
        "{domains} AuthDomain reconciles for {plans} plans"
    );
    assert!(
        clients <= 3.0,
        "{clients} OAuthClient reconciles in 60 s of an idle domain"
    );
    assert!(calls <= plans * 40.0, "{calls} AWS calls for {plans} plans");
    // The `authdomain` category lists both kinds; the Reason column is there.
    let both = kube.kubectl_ok(&["get", "authdomain", "-A", "-o", "name"]);
    assert!(
        both.contains("authdomain.authdomain.io/ops")
            && both.contains("oauthclient.authdomain.io/orders-reader-3"),
        "{both}"
    );
    let table = kube.kubectl_ok(&["get", "authdomains"]);
    assert!(
        table.contains("SYNCED") && table.contains("REASON") && table.contains("Ready"),
        "{table}"
    );
    kube.kubectl_ok(&[
        "delete",
        "oauthclient",
        "-n",
        "team-a",
        "orders-reader-2",
        "--timeout=60s",
    ]);

    // 3c. Owned Secrets are watched: one deleted by hand is back within seconds with a
    // new secret (the one it held is revoked: it was in no Secret any more), and one whose
    // client_secret is edited gets a new working secret; a field edited is restored.
    kube.kubectl_ok(&["delete", "secret", "-n", "team-a", "orders-reader"]);
    let started = Instant::now();
    let restored = eventually("the deleted Secret restored", 20, || {
        let s = get_json(kube, &["get", "secret", "-n", "team-a", "orders-reader"])?;
        let v = secret_field(&s, "client_secret");
        (v != first_secret).then_some(v)
    })
    .await;
    eprintln!(
        "a deleted Secret was restored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(token_status(&auth_base, &id, &restored).await, 200);
    assert_eq!(
        token_status(&auth_base, &id, &first_secret).await,
        401,
        "the secret of the deleted Secret is revoked"
    );
    let tampered = base64::engine::general_purpose::STANDARD.encode("typed-by-hand");
    kube.kubectl_ok(&[
        "patch",
        "secret",
        "-n",
        "team-a",
        "orders-reader",
        "--type=merge",
        "-p",
        &format!(r#"{{"data":{{"client_secret":"{tampered}"}}}}"#),
    ]);
    let first_secret = eventually("the edited client_secret replaced", 20, || {
        let s = get_json(kube, &["get", "secret", "-n", "team-a", "orders-reader"])?;
        let v = secret_field(&s, "client_secret");
        (v != "typed-by-hand" && v != restored).then_some(v)
    })
    .await;
    assert_eq!(token_status(&auth_base, &id, &first_secret).await, 200);
    kube.kubectl_ok(&[
        "patch",
        "secret",
        "-n",
        "team-a",
        "orders-reader",
        "--type=merge",
        "-p",
        r#"{"data":{"token_url":"aHR0cDovL2Vsc2V3aGVyZQ=="}}"#,
    ]);
    eventually("the edited token_url restored", 20, || {
        let s = get_json(kube, &["get", "secret", "-n", "team-a", "orders-reader"])?;
        (secret_field(&s, "token_url") == format!("{issuer}/oauth2/token")
            && secret_field(&s, "client_secret") == first_secret)
            .then_some(())
    })
    .await;

    // 3d. The auth server goes away: the OAuthClient says so (Ready False,
    // AuthServerUnavailable, for its generation, an event), retries with backoff, and
    // recovers when the server is back. `kubectl wait` ends in both directions.
    drop(server.take());
    // OAuthClient reconciles, as counted in 3b.
    let before = scrape().await.1;
    // A Secret deleted while the server is away: the reconcile it wakes cannot reach it.
    kube.kubectl_ok(&["delete", "secret", "-n", "team-a", "orders-reader"]);
    kube.kubectl_ok(&[
        "wait",
        "--for=condition=Ready=false",
        "oauthclient/orders-reader",
        "-n",
        "team-a",
        "--timeout=60s",
    ]);
    let down = get_json(
        kube,
        &["get", "oauthclient", "-n", "team-a", "orders-reader"],
    )
    .unwrap();
    let ready = condition(&down, "Ready").unwrap();
    assert_eq!(ready["reason"], "AuthServerUnavailable", "{ready}");
    assert_eq!(ready["observedGeneration"], down["metadata"]["generation"]);
    assert!(
        ready["message"].as_str().unwrap().contains(&auth_base),
        "{ready}"
    );
    let table = kube.kubectl_ok(&["get", "oauthclients", "-n", "team-a"]);
    assert!(table.contains("AuthServerUnavailable"), "{table}");
    let events = kube.kubectl_ok(&[
        "get",
        "events",
        "-n",
        "team-a",
        "--field-selector",
        "involvedObject.name=orders-reader,reason=AuthServerUnavailable",
        "-o",
        "name",
    ]);
    assert_eq!(
        events.lines().count(),
        1,
        "one event per transition: {events}"
    );
    tokio::time::sleep(Duration::from_secs(25)).await;
    let retries = scrape().await.1 - before;
    eprintln!("{retries} OAuthClient reconciles in the first 25 s of the outage");
    // Backoff: 5, 10, 20 s (jittered down to half) is at most 6 attempts in 25 s, with
    // the one the status write wakes; a flat 1 s retry would be 25, a flat 10 s, 3 but
    // for ever.
    assert!(
        (2.0..=8.0).contains(&retries),
        "{retries} reconciles in 25 s"
    );
    server = Some(start_server());
    kube.kubectl_ok(&[
        "wait",
        "--for=condition=Ready",
        "oauthclient/orders-reader",
        "-n",
        "team-a",
        "--timeout=120s",
    ]);
    let first_secret = eventually("the Secret back after the outage", 20, || {
        let s = get_json(kube, &["get", "secret", "-n", "team-a", "orders-reader"])?;
        Some(secret_field(&s, "client_secret"))
    })
    .await;
    assert_eq!(token_status(&auth_base, &id, &first_secret).await, 200);

    // 3e. Status is written by server-side apply: a condition another controller owns on
    // our resource survives the operator's next status writes.
    let admin = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(kube.kubeconfig()).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();
    let api: kube::Api<operator::crd::OAuthClient> = kube::Api::namespaced(admin, "team-a");
    api.patch_status(
        "orders-reader",
        &kube::api::PatchParams::apply("policy-auditor").force(),
        &kube::api::Patch::Apply(json!({
            "apiVersion": "authdomain.io/v1alpha1",
            "kind": "OAuthClient",
            "status": {"conditions": [{
                "type": "Audited", "status": "True", "reason": "PolicyChecked",
                "lastTransitionTime": "2026-01-01T00:00:00Z"
            }]}
        })),
    )
    .await
    .unwrap();

    // 4. A namespace the domain does not grant the scope to is refused, with no Secret.
    let sneaky = client
        .replace("orders-reader", "sneaky")
        .replace("team-a", "team-b");
    assert!(apply(kube, &sneaky).status.success());
    let refused = eventually("OAuthClient refused", 60, || {
        let c = get_json(kube, &["get", "oauthclient", "-n", "team-b", "sneaky"])?;
        (condition(&c, "Ready")?["reason"] == "Forbidden").then_some(c)
    })
    .await;
    let message = condition(&refused, "Ready").unwrap()["message"]
        .as_str()
        .unwrap();
    assert!(
        message.contains("team-b") && message.contains("orders:read"),
        "{message}"
    );
    assert!(get_json(kube, &["get", "secret", "-n", "team-b", "sneaky"]).is_none());

    // 5. Rotation: a new secret in the Secret, the old one valid through the grace period.
    kube.kubectl_ok(&[
        "patch",
        "oauthclient",
        "-n",
        "team-a",
        "orders-reader",
        "--type=merge",
        "-p",
        r#"{"spec":{"rotation":{"request":"1","gracePeriodSeconds":10}}}"#,
    ]);
    let second_secret = eventually("the rotated secret", 60, || {
        let s = get_json(kube, &["get", "secret", "-n", "team-a", "orders-reader"])?;
        let v = secret_field(&s, "client_secret");
        (v != first_secret).then_some(v)
    })
    .await;
    assert_eq!(
        token_status(&auth_base, &id, &second_secret).await,
        200,
        "new secret"
    );
    assert_eq!(
        token_status(&auth_base, &id, &first_secret).await,
        200,
        "old secret during the grace period"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while token_status(&auth_base, &id, &first_secret).await != 401 {
        assert!(
            Instant::now() < deadline,
            "the old secret was never revoked"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        token_status(&auth_base, &id, &second_secret).await,
        200,
        "new secret after the grace period"
    );
    let after = get_json(
        kube,
        &["get", "oauthclient", "-n", "team-a", "orders-reader"],
    )
    .unwrap();
    assert_eq!(
        condition(&after, "Audited").map(|c| c["reason"].clone()),
        Some(json!("PolicyChecked")),
        "another manager's condition survives the operator's status writes: {}",
        after["status"]
    );
    assert_eq!(condition(&after, "Ready").unwrap()["status"], "True");

    // 6. Drift: reported under Report, corrected under Correct.
    aws.lambda
        .update_function_configuration()
        .function_name("ops-authserver")
        .memory_size(2048)
        .send()
        .await
        .unwrap();
    let drifted = eventually("Drifted=True", 60, || {
        let d = get_json(kube, &["get", "authdomains", "ops"])?;
        (condition(&d, "Drifted")?["status"] == "True").then_some(d)
    })
    .await;
    let drift = drifted["status"]["drift"].to_string();
    assert!(drift.contains("function/main memory"), "{drift}");
    assert!(
        apply(kube, &domain_yaml(&built.digest, "Correct"))
            .status
            .success()
    );
    eventually("drift corrected", 90, || {
        let d = get_json(kube, &["get", "authdomains", "ops"])?;
        (condition(&d, "Drifted")?["status"] == "False"
            && condition(&d, "Ready")?["status"] == "True")
            .then_some(())
    })
    .await;
    let memory = aws
        .lambda
        .get_function_configuration()
        .function_name("ops-authserver")
        .send()
        .await
        .unwrap()
        .memory_size();
    assert_eq!(memory, Some(512));

    // Metrics from whichever replica leads (op-1 serves on the known port when it does).
    if leader == "op-1" {
        let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("authdomain_operator_reconciles_total"),
            "{text}"
        );
        assert!(
            text.contains("authdomain_operator_aws_calls_total"),
            "{text}"
        );
    }

    // 7. Leader election: stopping the leader hands the Lease to the other replica.
    let (leader_proc, other) = if leader == "op-1" {
        (&mut first, "op-2")
    } else {
        (&mut second, "op-1")
    };
    let status = term(&mut leader_proc.0);
    assert!(status.success(), "graceful shutdown: {status}");
    eventually("the other replica leads", 40, || {
        let l = get_json(
            kube,
            &[
                "get",
                "lease",
                "-n",
                "authdomain-system",
                "authdomain-operator",
            ],
        )?;
        (l["spec"]["holderIdentity"] == other).then_some(())
    })
    .await;

    // 8. Deleting an OAuthClient while the auth server is away waits, says why and how
    // to let go; the orphan annotation lets go and leaves the client registered. Once the
    // server is back, the deletion deletes the registration and (GC) its Secret.
    let kept = get_json(kube, &["get", "secret", "-n", "team-a", "orders-reader-3"]).unwrap();
    let (kept_id, kept_secret) = (
        secret_field(&kept, "client_id"),
        secret_field(&kept, "client_secret"),
    );
    drop(server.take());
    for n in ["orders-reader", "orders-reader-3"] {
        kube.kubectl_ok(&["delete", "oauthclient", "-n", "team-a", n, "--wait=false"]);
    }
    let blocked = eventually("the deletion reported as blocked", 60, || {
        let c = get_json(
            kube,
            &["get", "oauthclient", "-n", "team-a", "orders-reader"],
        )?;
        (condition(&c, "Ready")?["reason"] == "AuthServerUnavailable").then_some(c)
    })
    .await;
    let message = condition(&blocked, "Ready").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("authdomain.io/deletion-policy=Orphan") && message.contains(&id),
        "{message}"
    );
    kube.kubectl_ok(&[
        "annotate",
        "oauthclient",
        "-n",
        "team-a",
        "orders-reader-3",
        "authdomain.io/deletion-policy=Orphan",
    ]);
    eventually("the orphaned OAuthClient gone", 30, || {
        get_json(
            kube,
            &["get", "oauthclient", "-n", "team-a", "orders-reader-3"],
        )
        .is_none()
        .then_some(())
    })
    .await;
    assert!(
        get_json(
            kube,
            &["get", "oauthclient", "-n", "team-a", "orders-reader"]
        )
        .is_some(),
        "without the annotation, the deletion waits for the auth server"
    );
    let _server = start_server();
    kube.kubectl_ok(&[
        "wait",
        "--for=delete",
        "oauthclient/orders-reader",
        "-n",
        "team-a",
        "--timeout=120s",
    ]);
    assert_eq!(
        token_status(&auth_base, &id, &second_secret).await,
        401,
        "the client is gone"
    );
    assert_eq!(
        token_status(&auth_base, &kept_id, &kept_secret).await,
        200,
        "the orphaned client is still registered"
    );
    eventually("the Secret collected", 60, || {
        get_json(kube, &["get", "secret", "-n", "team-a", "orders-reader"])
            .is_none()
            .then_some(())
    })
    .await;

    // 9. Deleting the AuthDomain destroys the AWS side first (finalizer).
    kube.kubectl_ok(&[
        "delete",
        "oauthclient",
        "-n",
        "team-b",
        "sneaky",
        "--timeout=60s",
    ]);
    kube.kubectl_ok(&["delete", "authdomains", "ops", "--timeout=120s"]);
    let m =
        authdomain_core::spec::load_str(&domain_yaml(&built.digest, "Report"), "ops.yaml").unwrap();
    let (left, _) = provisioner::reconcile::destroy_plan(&aws, &m)
        .await
        .unwrap();
    assert!(
        left.is_empty(),
        "left in AWS: {:#}",
        authdomain_core::drift::json("ops", &left)
    );

    // 10. An image tag not pushed yet: Synced and Ready False with ImageNotPushed (for
    // the domain's generation, with an event), retried with backoff, not half an hour
    // later: once the tag is pushed, the next attempt gets past it.
    let later = domain_yaml(&built.digest, "Report")
        .replace("name: ops", "name: later")
        .replace(&format!("digest: {}", built.digest), "tag: v9");
    assert!(apply(kube, &later).status.success());
    kube.kubectl_ok(&[
        "wait",
        "--for=condition=Synced=false",
        "authdomains/later",
        "--timeout=90s",
    ]);
    let waiting = eventually("ImageNotPushed", 60, || {
        let d = get_json(kube, &["get", "authdomains", "later"])?;
        (condition(&d, "Synced")?["reason"] == "ImageNotPushed").then_some(d)
    })
    .await;
    let ready = condition(&waiting, "Ready").unwrap();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "ImageNotPushed");
    assert_eq!(
        ready["observedGeneration"],
        waiting["metadata"]["generation"]
    );
    let events = kube.kubectl_ok(&[
        "get",
        "events",
        "-n",
        "default",
        "--field-selector",
        "involvedObject.name=later,reason=ImageNotPushed",
        "-o",
        "name",
    ]);
    assert_eq!(events.lines().count(), 1, "{events}");
    Registry::connect(&aws, "registry.test/later-authserver")
        .await
        .unwrap()
        .push("later-authserver", &built, Some("v9"))
        .await
        .unwrap();
    eventually("the pushed tag found", 90, || {
        let d = get_json(kube, &["get", "authdomains", "later"])?;
        (condition(&d, "Synced")?["reason"] != "ImageNotPushed").then_some(())
    })
    .await;
    kube.kubectl_ok(&["delete", "authdomains", "later", "--timeout=180s"]);
}

#[test]
fn the_examples_and_the_manifests_are_accepted_by_the_api_server() {
    let kube = authdomain_tests::kube::cluster();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
    for ns in ["shipping", "analytics"] {
        let _ = kube.kubectl().args(["create", "namespace", ns]).output();
    }
    for file in [
        "minimal.yaml",
        "production.yaml",
        "oauthclient.yaml",
        "oauthclient-rotation.yaml",
    ] {
        kube.kubectl_ok(&[
            "apply",
            "--dry-run=server",
            "-f",
            &format!("{examples}/{file}"),
        ]);
    }
    // The whole installation renders with kustomize and the server accepts every object.
    let rendered = kube.kubectl_ok(&["kustomize", MANIFESTS]);
    for kind in [
        "kind: Namespace",
        "kind: CustomResourceDefinition",
        "kind: ClusterRole",
        "kind: Deployment",
        "kind: ServiceAccount",
    ] {
        assert!(
            rendered.contains(kind),
            "{kind} missing from kubectl kustomize manifests"
        );
    }
    let out = kube.apply_stdin(&rendered, &["--dry-run=server"]);
    // The namespace does not exist yet in a dry run, so namespaced objects may be refused
    // for that reason only.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success()
            || err
                .lines()
                .all(|l| l.contains("not found") && l.contains("authdomain-system")),
        "{err}"
    );
}
