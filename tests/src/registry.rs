//! A real OCI registry for tests: Debian's `docker-registry` (the CNCF distribution
//! registry, 2.8) on a loopback port with filesystem storage in a temporary directory.
//! [`shared`] is started once per test process; [`start`] gives a test its own, optionally
//! demanding HTTP Basic credentials (as ECR does with its authorization token). Each is
//! stopped when the test process exits (a watchdog shell), or when dropped.

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use crate::net::{free_port, wait_for_port};

const BINARY: &str = "/usr/bin/docker-registry";

#[derive(Debug)]
pub struct TestRegistry {
    /// `http://127.0.0.1:PORT`
    url: String,
    _dir: tempfile::TempDir,
    watchdog: Option<Child>,
}

impl TestRegistry {
    pub fn url(&self) -> &str {
        &self.url
    }
    /// `127.0.0.1:PORT`, the registry part of an image reference.
    pub fn host(&self) -> &str {
        self.url.trim_start_matches("http://")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            // The watchdog stops the registry when it is killed.
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

static SHARED: OnceLock<TestRegistry> = OnceLock::new();

/// The registry shared by this test process (anonymous access).
pub fn shared() -> &'static TestRegistry {
    SHARED.get_or_init(|| start(None))
}

/// A registry of one's own; with `credentials`, every request needs them (HTTP Basic).
pub fn start(credentials: Option<(&str, &str)>) -> TestRegistry {
    try_start(credentials).unwrap_or_else(|e| {
        panic!(
            "the OCI registry could not be started for the tests: {e}\n\
             Install it with `apt-get install docker-registry apache2-utils` (scripts/test-deps.sh does)."
        )
    })
}

fn try_start(credentials: Option<(&str, &str)>) -> Result<TestRegistry, String> {
    if !std::path::Path::new(BINARY).exists() {
        return Err(format!("{BINARY} not found"));
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let port = free_port();
    let mut config = format!(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        dir.path().join("data").display()
    );
    if let Some((user, password)) = credentials {
        let htpasswd = dir.path().join("htpasswd");
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .map_err(|e| format!("running htpasswd (apache2-utils): {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "htpasswd failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        std::fs::write(&htpasswd, &out.stdout).map_err(|e| e.to_string())?;
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: test-registry\n    path: {}\n",
            htpasswd.display()
        ));
    }
    let config_path = dir.path().join("config.yml");
    std::fs::write(&config_path, config).map_err(|e| e.to_string())?;
    // The watchdog ends the registry when the test process or the watchdog itself ends.
    let script = format!(
        "{BINARY} serve {} >{}/registry.log 2>&1 & r=$!; trap 'kill $r 2>/dev/null; exit 0' TERM INT; \
         while kill -0 {parent} 2>/dev/null && kill -0 $r 2>/dev/null; do sleep 0.5; done; kill $r 2>/dev/null",
        config_path.display(),
        dir.path().display(),
        parent = std::process::id()
    );
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {BINARY}: {e}"))?;
    let addr = format!("127.0.0.1:{port}").parse().expect("address");
    if !wait_for_port(addr, Duration::from_secs(15)) {
        let log = std::fs::read_to_string(dir.path().join("registry.log")).unwrap_or_default();
        return Err(format!(
            "the registry did not listen on {port} within 15 s: {log}"
        ));
    }
    Ok(TestRegistry {
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
        watchdog: Some(watchdog),
    })
}
