//! The moto AWS emulator for tests: `moto_server` on a free loopback port, started once per
//! test process and stopped when it exits. Each test gets its own AWS account (the
//! `x-moto-account-id` header), so tests share one server without seeing each other.
//!
//! Set `AUTHDOMAIN_TEST_MOTO_URL` to use a running server instead.

use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::net::{free_port, wait_for_port};

#[derive(Debug)]
pub struct TestMoto {
    endpoint: String,
    /// Where per-account hooks go (tests/moto_server.py reads `<account>.json` there).
    hooks: Option<std::path::PathBuf>,
}

static SERVER: OnceLock<TestMoto> = OnceLock::new();
static ACCOUNT: AtomicU64 = AtomicU64::new(0);

/// The shared server of this test process, started on first use.
pub fn server() -> &'static TestMoto {
    SERVER.get_or_init(|| match std::env::var("AUTHDOMAIN_TEST_MOTO_URL") {
        Ok(url) => TestMoto {
            endpoint: url,
            hooks: std::env::var_os("AUTHDOMAIN_MOTO_HOOKS_DIR").map(Into::into),
        },
        Err(_) => start().unwrap_or_else(|e| {
            panic!("moto could not be started for the tests: {e}\nInstall it with `pip install 'moto[server]'` (scripts/test-deps.sh does).")
        }),
    })
}

fn start() -> Result<TestMoto, String> {
    let port = free_port();
    // Kept for the life of the test process, like the server.
    let hooks = tempfile::Builder::new()
        .prefix("moto-hooks-")
        .tempdir()
        .map_err(|e| format!("creating the hooks directory: {e}"))?
        .keep();
    // moto_server plus fixes for gaps between moto and AWS (see the script).
    let launcher = concat!(env!("CARGO_MANIFEST_DIR"), "/moto_server.py");
    let script = format!(
        "python3 {launcher} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done; kill $m 2>/dev/null",
        parent = std::process::id()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
        .env("AUTHDOMAIN_MOTO_HOOKS_DIR", &hooks)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting moto_server: {e}"))?;
    let addr = format!("127.0.0.1:{port}").parse().expect("address");
    if !wait_for_port(addr, Duration::from_secs(30)) {
        return Err(format!(
            "moto_server did not listen on {port} within 30 s (is `moto_server` on PATH?)"
        ));
    }
    Ok(TestMoto {
        endpoint: format!("http://127.0.0.1:{port}"),
        hooks: Some(hooks),
    })
}

impl TestMoto {
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Make moto run what it cannot emulate for `account` (see tests/moto_server.py):
    /// `hooks` is JSON such as `{"lambda_invoke": {"fn": "http://…"}, "psql": "host=…"}`.
    pub fn set_hooks(&self, account: &str, hooks: &str) {
        let dir = self.hooks.as_ref().expect(
            "this moto server takes no hooks: start it with tests/moto_server.py and \
             AUTHDOMAIN_MOTO_HOOKS_DIR set (or let the harness start it)",
        );
        std::fs::write(dir.join(format!("{account}.json")), hooks).expect("writing moto hooks");
    }

    /// A fresh 12-digit account id for one test.
    pub fn new_account(&self) -> String {
        let n = ACCOUNT.fetch_add(1, Ordering::Relaxed);
        format!("{:06}{:06}", std::process::id() % 1_000_000, n % 1_000_000)
    }
}
