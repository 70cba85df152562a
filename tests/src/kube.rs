//! A real Kubernetes control plane for tests: etcd, kube-apiserver (RBAC) and
//! kube-controller-manager (garbage collection of owned objects) on loopback, started by
//! `scripts/kube-up.sh --detach` once per test process (the binaries are Kubernetes
//! v1.20.2 built from Debian's source by `scripts/kube-apiserver.sh`, cached) and stopped
//! when the test process exits. The CRDs in manifests/crds/ are applied before the
//! controller-manager starts, so garbage collection of custom resources' dependents is
//! prompt.
//!
//! With `KUBECONFIG` set, the tests use that cluster instead (any real cluster), and
//! `kubectl` from `PATH`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

#[derive(Debug)]
pub struct TestKube {
    kubeconfig: PathBuf,
    kubectl: PathBuf,
    /// The kube-up.sh directory (None for an external cluster).
    dir: Option<PathBuf>,
}

static CLUSTER: OnceLock<TestKube> = OnceLock::new();

const SCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts");
const CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/crds");

/// The cluster of this test process, started on first use.
pub fn cluster() -> &'static TestKube {
    CLUSTER.get_or_init(
        || match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
            Some(path) => TestKube {
                kubeconfig: PathBuf::from(path),
                kubectl: PathBuf::from("kubectl"),
                dir: None,
            },
            None => start().unwrap_or_else(|e| {
                panic!(
                    "Kubernetes could not be started for the tests: {e}\n\
                 scripts/kube-apiserver.sh builds the binaries (scripts/test-deps.sh runs it); \
                 or set KUBECONFIG to use a cluster."
                )
            }),
        },
    )
}

fn start() -> Result<TestKube, String> {
    let dir = tempfile::Builder::new()
        .prefix("kube-test-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    // kube-up.sh wants an empty directory of its own.
    let cluster_dir = dir.join("cluster");
    let out = Command::new(format!("{SCRIPTS}/kube-up.sh"))
        .arg("--detach")
        .env("KUBE_UP_DIR", &cluster_dir)
        .env("KUBE_UP_APPLY", CRDS)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running kube-up.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "kube-up.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Stop it when this test process ends.
    let watchdog = format!(
        "while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; {SCRIPTS}/kube-up.sh --stop {dir} >/dev/null 2>&1",
        parent = std::process::id(),
        dir = cluster_dir.display()
    );
    Command::new("setsid")
        .args(["sh", "-c", &watchdog])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the watchdog: {e}"))?;
    let env =
        std::fs::read_to_string(cluster_dir.join("cluster.env")).map_err(|e| e.to_string())?;
    let value = |key: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim_matches('\'').to_owned())
    };
    let bin = value("KUBE_BIN").ok_or("cluster.env has no KUBE_BIN")?;
    Ok(TestKube {
        kubeconfig: cluster_dir.join("admin.kubeconfig"),
        kubectl: Path::new(&bin).join("kubectl"),
        dir: Some(cluster_dir),
    })
}

impl TestKube {
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `kubectl` with this cluster's admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut c = Command::new(&self.kubectl);
        c.env("KUBECONFIG", &self.kubeconfig);
        c
    }

    /// Manifests as this cluster's server and kubectl take them with validation on (a
    /// pre-1.25 test server gets the CRDs without their CEL rules, which it would drop):
    /// `kube-up.sh --for-server`. An external cluster gets them unchanged.
    pub fn for_server(&self, manifests: &str) -> String {
        let Some(dir) = &self.dir else {
            return manifests.to_owned();
        };
        let mut child = Command::new(format!("{SCRIPTS}/kube-up.sh"))
            .arg("--for-server")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running kube-up.sh --for-server");
        let mut stdin = child.stdin.take().unwrap();
        let text = manifests.to_owned();
        let writer = std::thread::spawn(move || {
            use std::io::Write as _;
            stdin.write_all(text.as_bytes())
        });
        let out = child.wait_with_output().expect("kube-up.sh --for-server");
        writer
            .join()
            .unwrap()
            .expect("writing to kube-up.sh --for-server");
        assert!(
            out.status.success(),
            "kube-up.sh --for-server: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8 manifests")
    }

    /// `kubectl apply -f -` of `manifests` (adapted by [`Self::for_server`]), validation
    /// on; `extra` arguments go before `-f`. Returns kubectl's output and success.
    pub fn apply_stdin(&self, manifests: &str, extra: &[&str]) -> std::process::Output {
        let mut child = self
            .kubectl()
            .arg("apply")
            .args(extra)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running kubectl apply");
        let mut stdin = child.stdin.take().unwrap();
        let text = self.for_server(manifests);
        let writer = std::thread::spawn(move || {
            use std::io::Write as _;
            stdin.write_all(text.as_bytes())
        });
        let out = child.wait_with_output().expect("kubectl apply");
        writer.join().unwrap().expect("writing to kubectl");
        out
    }

    /// Run kubectl; panics with its output when it fails.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl().args(args).output().expect("running kubectl");
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A kubeconfig acting as ServiceAccount `namespace/name` (a TokenRequest token), so
    /// that a test runs a program under exactly the RBAC it is given. On a cluster named
    /// by KUBECONFIG, that kubeconfig (its identity is the cluster owner's business).
    pub fn service_account_kubeconfig(&self, namespace: &str, name: &str) -> PathBuf {
        let Some(dir) = &self.dir else {
            return self.kubeconfig.clone();
        };
        let out = Command::new(format!("{SCRIPTS}/kube-up.sh"))
            .args(["--sa-kubeconfig"])
            .arg(dir)
            .args([namespace, name])
            .output()
            .expect("running kube-up.sh --sa-kubeconfig");
        assert!(
            out.status.success(),
            "kube-up.sh --sa-kubeconfig failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    }

    /// Whether this is the harness's own cluster (not one named by KUBECONFIG).
    pub fn is_local(&self) -> bool {
        self.dir.is_some()
    }
}
