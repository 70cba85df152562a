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

fn cost(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("cost")
        .args(args)
        // No AWS is reached: an endpoint nothing listens on would fail any call.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .expect("run authdomain")
}

#[test]
fn cost_itemises_the_default_domain_from_the_embedded_price_table() {
    let table = authdomain_core::cost::PriceTable::embedded();
    let file = format!("{EXAMPLES}/minimal.yaml");
    let out = cost(&["-f", &file, "--output", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let idle = v["idle"].as_array().expect("idle items");
    let item = |name: &str| {
        idle.iter()
            .find(|i| i["name"] == name)
            .unwrap_or_else(|| panic!("no idle item {name}: {v:#}"))
    };
    assert_eq!(
        item("KMS key")["usd"].as_f64(),
        Some(table.prices.kms_key.usd)
    );
    let secrets = item("Secrets Manager secrets");
    assert_eq!(secrets["unit_usd"].as_f64(), Some(table.prices.secret.usd));
    assert_eq!(secrets["quantity"].as_f64(), Some(2.0));
    for i in idle {
        let (q, p, usd) = (
            i["quantity"].as_f64().unwrap(),
            i["unit_usd"].as_f64().unwrap(),
            i["usd"].as_f64().unwrap(),
        );
        assert!((q * p - usd).abs() < 1e-9, "{i}");
    }
    let sum: f64 = idle.iter().map(|i| i["usd"].as_f64().unwrap()).sum();
    let total = v["idle_monthly_usd"].as_f64().unwrap();
    assert!((sum - total).abs() < 1e-9 && total < 3.0, "{v:#}");
    assert_eq!(v["is_estimate"], true);
    assert_eq!(v["price_region"], table.region.as_str());
    assert_eq!(v["price_date"], table.date.as_str());
    // minimal.yaml is in eu-west-1, the table is for us-east-1.
    assert_eq!(v["region_differs"], true);
    assert!(v["per_million_tokens"]["usd"].as_f64().unwrap() > 0.0);

    let out = cost(&["-f", &file]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("estimate"), "{text}");
    assert!(text.contains("Per million tokens"), "{text}");
    assert!(text.contains(&table.date), "{text}");
}

#[test]
fn a_portal_secret_in_a_file_is_refused_for_aws_before_any_call() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("portal.yaml");
    std::fs::write(
        &p,
        "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: demo\nspec:\n  region: eu-west-1\n  portal:\n    issuer: https://login.example.com\n    clientId: portal\n    clientSecret:\n      file: portal-secret.txt\n    adminGroups: [platform]\n",
    )
    .unwrap();
    let file = p.to_str().unwrap();
    // Valid: `authdomain dev --sign-in provider` reads the file.
    assert!(validate(&["-f", file]).status.success());
    // An endpoint where nothing listens: reaching AWS would fail differently.
    for command in ["plan", "apply", "bootstrap"] {
        let out = Command::new(BIN)
            .args([command, "-f", file, "--endpoint-url", "http://127.0.0.1:9"])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .output()
            .expect("run authdomain");
        assert_eq!(out.status.code(), Some(1), "{command}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("portal.yaml:11:7: spec.portal.clientSecret.file: a file is read by `authdomain dev` only"),
            "{command}: {err}"
        );
        assert!(
            err.contains("expected `secretsManager`"),
            "{command}: {err}"
        );
    }
}
