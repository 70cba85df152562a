//! The auth server cross-built for Lambda really runs on its architecture: the static
//! arm64 binary under qemu-user (Debian's `qemu-user-static`), which is how it would fail
//! on Lambda if it were built wrong, and the x86_64 one natively. Each migrates a SQLite
//! database, registers a client through its own CLI, serves, and issues a token to a real
//! HTTP client over a real socket.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The ELF machine of a binary (0xB7 aarch64, 0x3E x86_64).
fn elf_machine(path: &Path) -> u16 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{path:?} is not an ELF file");
    u16::from_le_bytes([bytes[18], bytes[19]])
}

fn command(arch: &str, binary: &Path) -> Command {
    match arch {
        "arm64" => {
            let qemu = "/usr/bin/qemu-aarch64-static";
            assert!(
                Path::new(qemu).exists(),
                "{qemu} is missing: apt-get install qemu-user-static (scripts/test-deps.sh does)"
            );
            let mut c = Command::new(qemu);
            c.arg(binary);
            c
        }
        _ => Command::new(binary),
    }
}

async fn serves_a_token(arch: &str, machine: u16) {
    let binary = authdomain_tests::cross::authserver(arch);
    assert_eq!(
        elf_machine(&binary),
        machine,
        "{binary:?} is built for {arch}"
    );
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display());
    let run = |args: &[&str]| -> Value {
        let out = command(arch, &binary)
            .args(args)
            .env("AUTHSERVER_DATABASE_URL", &db)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{arch} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    run(&["migrate"]);
    run(&[
        "resource-servers",
        "create",
        "--identifier=https://api.example.com",
        "--scope=read",
        "--json",
    ]);
    let client = run(&["clients", "create", "--name=svc", "--scope=read", "--json"]);
    let port = authdomain_tests::net::free_port();
    let listen = format!("127.0.0.1:{port}");
    let _server = Running(
        command(arch, &binary)
            .args(["serve", "--listen", &listen])
            .env("AUTHSERVER_DATABASE_URL", &db)
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    assert!(
        authdomain_tests::net::wait_for_port(listen.parse().unwrap(), Duration::from_secs(30)),
        "the {arch} server did not listen"
    );
    let response = reqwest::Client::new()
        .post(format!("http://{listen}/oauth2/token"))
        .basic_auth(
            client["client_id"].as_str().unwrap(),
            client["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials"), ("scope", "read")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{arch}");
    let token: Value = response.json().await.unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "read");
    assert_eq!(
        token["access_token"].as_str().unwrap().split('.').count(),
        3
    );
}

#[tokio::test]
async fn the_arm64_binary_starts_under_qemu_and_issues_a_token() {
    serves_a_token("arm64", 0xB7).await;
}

#[tokio::test]
async fn the_x86_64_binary_starts_and_issues_a_token() {
    serves_a_token("x86_64", 0x3E).await;
}
