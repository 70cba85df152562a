//! The Lambda runtime emulator of `cargo lambda` (PyPI `cargo-lambda`): `cargo lambda
//! watch --only-lambda-apis` serves the Runtime API a function binary polls and the
//! Invoke API, with nothing compiled. Tests run an unchanged function binary against it
//! and invoke it over HTTP (as the Lambda service's Invoke API) or with `cargo lambda
//! invoke`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

pub struct Emulator {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cargo-lambda lambda …` (pip installs `cargo-lambda`; no cargo subcommand lookup).
pub fn cargo_lambda() -> Command {
    let mut c = Command::new("cargo-lambda");
    c.arg("lambda");
    c
}

/// What an invocation answered.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The function's answer (or its error document).
    pub payload: Value,
    /// `X-Amz-Function-Error`'s value when the function failed.
    pub function_error: Option<String>,
}

impl Emulator {
    /// Start the emulator for a function named `function` on a free loopback port.
    pub fn start(function: &str) -> Emulator {
        let dir = tempfile::tempdir().expect("temp dir");
        // The emulator needs a manifest naming the function's binary; nothing is compiled.
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(
            &manifest,
            format!("[package]\nname = \"{function}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[[bin]]\nname = \"{function}\"\npath = \"main.rs\"\n"),
        )
        .expect("writing the emulator's manifest");
        let port = crate::net::free_port();
        let child = cargo_lambda()
            .args([
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &port.to_string(),
                "--manifest-path",
            ])
            .arg(&manifest)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cargo-lambda is required (pip install cargo-lambda; scripts/test-deps.sh installs it): {e}")
            });
        let mut emulator = Emulator {
            port,
            child,
            _dir: dir,
        };
        assert!(
            crate::net::wait_for_port(
                format!("127.0.0.1:{port}").parse().expect("address"),
                Duration::from_secs(20)
            ),
            "the Lambda runtime emulator did not start"
        );
        assert!(
            emulator
                .child
                .try_wait()
                .expect("emulator status")
                .is_none(),
            "the emulator exited (port taken?)"
        );
        emulator
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `AWS_LAMBDA_RUNTIME_API` for `function`.
    pub fn runtime_api(&self, function: &str) -> String {
        format!("http://127.0.0.1:{}/.rt/{function}", self.port)
    }

    /// Environment a function process needs to poll this emulator.
    pub fn function_command(&self, binary: &Path, function: &str) -> Command {
        let mut c = Command::new(binary);
        c.env("AWS_LAMBDA_RUNTIME_API", self.runtime_api(function))
            .env("AWS_LAMBDA_FUNCTION_NAME", function)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1");
        c
    }

    /// Invoke `function` with `payload` through the Invoke API, over HTTP.
    pub async fn invoke(&self, http: &reqwest::Client, function: &str, payload: &Value) -> Invoked {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            self.port
        );
        let resp = http
            .post(&url)
            .json(payload)
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap_or_else(|e| panic!("invoking {function}: {e}"));
        let function_error = resp
            .headers()
            .get("x-amz-function-error")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp.bytes().await.expect("invocation body");
        let payload = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "the invocation answer is not JSON ({e}): {}",
                String::from_utf8_lossy(&body)
            )
        });
        Invoked {
            payload,
            function_error,
        }
    }

    /// Invoke with `cargo lambda invoke --data-file` (the client people use).
    pub fn invoke_cli(&self, function: &str, event: &Path) -> Value {
        let out = cargo_lambda()
            .args([
                "invoke",
                "--invoke-address",
                "127.0.0.1",
                "--invoke-port",
                &self.port.to_string(),
                "--data-file",
            ])
            .arg(event)
            .arg(function)
            .output()
            .expect("run cargo lambda invoke");
        assert!(
            out.status.success(),
            "invoke failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "invoke output is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

/// A path in the workspace (for fixtures).
pub fn workspace_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative)
}
