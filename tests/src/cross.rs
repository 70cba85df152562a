//! Our binaries cross-built for Lambda and the operator's image (static musl binaries for
//! arm64 and x86_64), by
//! `scripts/build-static.sh`: run once per test process, binary and architecture. The
//! script is incremental, so this is quick when `scripts/test.sh` has built them already.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};

static BUILT: OnceLock<Mutex<HashMap<(String, String), PathBuf>>> = OnceLock::new();

/// The auth server for `arch` (`arm64` or `x86_64`), built if needed.
pub fn authserver(arch: &str) -> PathBuf {
    binary("authserver", arch)
}

/// The Lambda authorizer for `arch`, built if needed.
pub fn authorizer(arch: &str) -> PathBuf {
    binary("authorizer", arch)
}

/// The Kubernetes operator for `arch`, built if needed.
pub fn operator(arch: &str) -> PathBuf {
    binary("operator", arch)
}

/// `name` (a binary `scripts/build-static.sh` knows) for `arch`.
pub fn binary(name: &str, arch: &str) -> PathBuf {
    assert!(
        matches!(arch, "arm64" | "x86_64"),
        "no cross build for architecture {arch:?} (arm64 or x86_64)"
    );
    let built = BUILT.get_or_init(Default::default);
    let key = (name.to_owned(), arch.to_owned());
    if let Some(p) = built.lock().expect("cross builds").get(&key) {
        return p.clone();
    }
    let path = build(name, arch);
    built
        .lock()
        .expect("cross builds")
        .insert(key, path.clone());
    path
}

fn build(name: &str, arch: &str) -> PathBuf {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/build-static.sh");
    let out = Command::new(script)
        .args([name, arch])
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(
        out.status.success(),
        "cross-building {name} for {arch} failed ({script}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = PathBuf::from(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim(),
    );
    assert!(
        path.is_file(),
        "{script} printed {path:?}, which is not a file"
    );
    path
}
