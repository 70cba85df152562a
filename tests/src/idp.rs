//! A real OpenID Connect provider for the portal's sign-in tests: `oidc-provider` (npm,
//! the OpenID-certified Node.js library, installed by bench/oidc-provider/install.sh
//! outside the work tree) running tests/idp/idp.mjs, with three people:
//! `alice` (group `payments-devs`), `bob` (`search-devs`) and `carol`
//! (`platform-admins`); each one's password is their login name.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::lambda_emulator::workspace_path;

pub struct Idp {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    child: Child,
}

impl Drop for Idp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Idp {
    /// Start the provider on a free loopback port with one confidential client allowed to
    /// redirect to `redirect_uris`.
    pub fn start(client_id: &str, client_secret: &str, redirect_uris: &[String]) -> Idp {
        let install = workspace_path("bench/npm/install.sh");
        let out = Command::new(&install)
            .arg(workspace_path("bench/oidc-provider"))
            .arg("oidc-provider")
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e} (node and npm are required: scripts/test-deps.sh installs them)", install.display()));
        assert!(
            out.status.success(),
            "installing oidc-provider failed (scripts/test-deps.sh installs node, npm and the modules): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let dir = std::path::PathBuf::from(dir);
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "oidc-provider is not installed in {}",
            dir.display()
        );
        std::fs::copy(workspace_path("tests/idp/idp.mjs"), dir.join("idp.mjs"))
            .expect("copying idp.mjs");
        let port = crate::net::free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let mut child = Command::new("node")
            .arg("idp.mjs")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .env("ISSUER", &issuer)
            .env("CLIENT_ID", client_id)
            .env("CLIENT_SECRET", client_secret)
            .env("REDIRECT_URIS", redirect_uris.join(" "))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("node is required for the test identity provider: {e}"));
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("READY ") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            panic!("the test identity provider did not print READY within 30 s");
        }
        Idp {
            issuer,
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            child,
        }
    }
}
