//! The auth server cross-built for Lambda (static musl binaries for arm64 and x86_64),
//! by `scripts/build-authserver.sh`: run once per test process and architecture. The
//! script is incremental, so this is quick when `scripts/test.sh` has built them already.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

static ARM64: OnceLock<PathBuf> = OnceLock::new();
static X86_64: OnceLock<PathBuf> = OnceLock::new();

/// The binary for `arch` (`arm64` or `x86_64`), built if needed.
pub fn authserver(arch: &str) -> PathBuf {
    let cell = match arch {
        "arm64" => &ARM64,
        "x86_64" => &X86_64,
        other => panic!("no cross build for architecture {other:?} (arm64 or x86_64)"),
    };
    cell.get_or_init(|| build(arch)).clone()
}

fn build(arch: &str) -> PathBuf {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/build-authserver.sh"
    );
    let out = Command::new(script)
        .arg(arch)
        .output()
        .unwrap_or_else(|e| panic!("running {script}: {e}"));
    assert!(
        out.status.success(),
        "cross-building the auth server for {arch} failed ({script}):\n{}",
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
