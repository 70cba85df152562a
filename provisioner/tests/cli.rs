//! The `authdomain` binary on the repository's examples and on broken manifests.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_authdomain");
const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");

fn validate(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("validate")
        .args(args)
        .output()
        .expect("run authdomain")
}

#[test]
fn examples_are_valid() {
    for name in ["minimal.yaml", "production.yaml"] {
        let path = format!("{EXAMPLES}/{name}");
        let out = validate(&["-f", &path]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn show_defaults_prints_the_effective_manifest() {
    let out = validate(&["-f", &format!("{EXAMPLES}/minimal.yaml"), "--show-defaults"]);
    assert!(out.status.success());
    let yaml = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "natGateway: none",
        "secondsUntilAutoPause: 300",
        "timeout: 29",
        "algorithm: RS256",
        "deletionPolicy: Delete",
    ] {
        assert!(yaml.contains(needle), "{needle} missing in:\n{yaml}");
    }
    // The printed manifest is itself valid input.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("effective.yaml");
    std::fs::write(&p, &yaml).unwrap();
    assert!(validate(&["-f", p.to_str().unwrap()]).status.success());
}

#[test]
fn invalid_manifest_lists_every_problem_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.yaml");
    std::fs::write(
        &p,
        "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: demo\nspec:\n  region: eu-west-1\n  database:\n    minCapacity: 8\n    maxCapacity: 4\n  function:\n    memori: 512\n",
    )
    .unwrap();
    let out = validate(&["-f", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml:11:5: spec.function.memori: unknown field `memori`"),
        "{err}"
    );

    let out = validate(&["-f", p.to_str().unwrap(), "--output", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["problems"][0]["path"], "spec.function.memori");
    assert_eq!(v["problems"][0]["line"], 11);
}
