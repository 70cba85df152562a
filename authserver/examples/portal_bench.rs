//! Time to first byte of the portal's pages, server mode: the real router on a loopback
//! socket, SQLite in a file, a signed-in admin, and a domain with 20 APIs, 60 clients and
//! 320 audit events. A raw keep-alive connection writes each request and times the first
//! byte of the answer, then reads the rest. Prints a Markdown table.
//!   cargo run --release -p authserver --example portal_bench [REQUESTS]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authdomain_api::{ClientInput, ResourceServerInput, ScopeInput};
use authserver::admin::{Actor, Via};
use authserver::keys::Kek;
use authserver::portal::{PortalSettings, SignIn};
use authserver::store::{Store, StoreOptions};
use authserver::{Authority, Settings};

fn main() {
    let requests: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let addr = runtime.block_on(start(dir.path()));
    let cookie = sign_in(addr);
    println!("| page | requests | p50 | p90 | p99 | bytes |");
    println!("|---|---:|---:|---:|---:|---:|");
    for path in [
        "/portal",
        "/portal/apis",
        "/portal/clients",
        "/portal/audit",
    ] {
        let (mut times, bytes) = ttfb(addr, path, &cookie, requests);
        times.sort();
        let q = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)];
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
        println!(
            "| `GET {path}` | {requests} | {} | {} | {} | {bytes} |",
            ms(q(0.5)),
            ms(q(0.9)),
            ms(q(0.99))
        );
    }
}

async fn start(dir: &std::path::Path) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let mut settings = Settings::new(format!("http://{addr}"));
    let mut portal = PortalSettings::new(SignIn::Development);
    portal.teams.insert("payments".into(), vec![]);
    portal.domain_name = "bench".into();
    settings.portal = Some(portal);
    let store = Store::open(
        &format!("sqlite://{}", dir.join("bench.db").display()),
        &StoreOptions::default(),
    )
    .await
    .expect("store");
    let kek = Kek::from_base64(&Kek::generate_base64()).expect("kek");
    let authority = Arc::new(Authority::new(store, kek, settings));
    authority.prepare().await.expect("prepare");
    let me = Actor::system(Via::Cli, "bench");
    for i in 0..20 {
        authority
            .create_resource_server(
                &me,
                ResourceServerInput {
                    identifier: format!("https://api-{i}.example.com"),
                    name: Some(format!("API {i}")),
                    scopes: (0..3)
                        .map(|s| ScopeInput {
                            name: format!("api{i}:scope{s}"),
                            description: "A scope".into(),
                        })
                        .collect(),
                    team: Some("payments".into()),
                    managed_by: None,
                },
            )
            .await
            .expect("seed API");
    }
    for i in 0..60 {
        let c = authority
            .create_client(
                &me,
                ClientInput {
                    name: format!("client {i}"),
                    scopes: vec![format!("api{}:scope0", i % 20)],
                    team: Some("payments".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("seed client");
        // Two rotations each: four audit events per client.
        for _ in 0..2 {
            let added = authority
                .add_client_secret(&me, &c.client.client_id)
                .await
                .expect("rotate");
            authority
                .revoke_client_secret(&me, &c.client.client_id, &added.secret_id)
                .await
                .expect("revoke");
        }
    }
    let app = authserver::http::router(authority, None);
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve")
    });
    addr
}

/// Development sign-in as an admin; the session cookie.
fn sign_in(addr: SocketAddr) -> String {
    let body = "name=bench%40example.com&role=admin";
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "POST /portal/dev-login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    answer
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: authdomain_session="))
        .and_then(|v| v.split(';').next())
        .map(|v| format!("authdomain_session={v}"))
        .expect("a session cookie")
}

/// TTFB of `requests` GETs on one keep-alive connection (after 50 warm-up requests).
fn ttfb(addr: SocketAddr, path: &str, cookie: &str, requests: usize) -> (Vec<Duration>, usize) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).ok();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/html\r\n\r\n"
    );
    let mut times = Vec::with_capacity(requests);
    let mut bytes = 0;
    let mut buf = vec![0u8; 1 << 20];
    for i in 0..requests + 50 {
        let started = Instant::now();
        s.write_all(request.as_bytes()).expect("write");
        let mut n = s.read(&mut buf).expect("read");
        let first = started.elapsed();
        // Read the rest of the response (Content-Length).
        loop {
            let head_end = buf[..n].windows(4).position(|w| w == b"\r\n\r\n");
            if let Some(h) = head_end {
                let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
                assert!(head.starts_with("http/1.1 200"), "{head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .expect("content-length");
                if n >= h + 4 + len {
                    bytes = len;
                    break;
                }
            }
            n += s.read(&mut buf[n..]).expect("read");
        }
        if i >= 50 {
            times.push(first);
        }
    }
    (times, bytes)
}
