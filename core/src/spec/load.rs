//! Loading a manifest from YAML text: syntax, then structure (every unknown field, wrong
//! type, bad enum value or out-of-range number), then semantic rules; each problem comes
//! back with its field path, line and column.

use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use super::locate::PathIndex;
use super::validate::Issue;
use super::{AuthDomainManifest, schema_check, validate};

/// One located problem.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Field path as written in YAML, e.g. `spec.database.maxCapacity` (empty: the document).
    pub path: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

/// All problems of one file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostics {
    pub file: String,
    pub problems: Vec<Diagnostic>,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file)?;
            if let (Some(l), Some(c)) = (d.line, d.column) {
                write!(f, ":{l}:{c}")?;
            }
            if d.path.is_empty() {
                write!(f, ": {}", d.message)?;
            } else {
                write!(f, ": {}: {}", d.path, d.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

fn schema() -> &'static Value {
    static SCHEMA: OnceLock<Value> = OnceLock::new();
    SCHEMA.get_or_init(|| schemars::schema_for!(AuthDomainManifest).to_value())
}

/// A manifest as YAML (`validate --show-defaults`: every default filled in).
pub fn to_yaml(m: &AuthDomainManifest) -> Result<String, serde_saphyr::ser::Error> {
    serde_saphyr::to_string(m)
}

/// Parse, check and validate a manifest. `file` names it in diagnostics.
pub fn load_str(src: &str, file: &str) -> Result<AuthDomainManifest, Diagnostics> {
    load_checked(src, file, false)
}

/// [`load_str`] for a manifest about to be converged on AWS: also refuses what only
/// `authdomain dev` can use (see [`super::deploy_issues`]), located like any problem.
pub fn load_str_for_aws(src: &str, file: &str) -> Result<AuthDomainManifest, Diagnostics> {
    load_checked(src, file, true)
}

fn load_checked(
    src: &str,
    file: &str,
    for_deploy: bool,
) -> Result<AuthDomainManifest, Diagnostics> {
    let fail = |mut problems: Vec<Diagnostic>| {
        // In document order, as an editor shows them.
        problems.sort_by_key(|d| (d.line.unwrap_or(0), d.column.unwrap_or(0)));
        Diagnostics {
            file: file.to_owned(),
            problems,
        }
    };

    // 1. YAML syntax (and duplicate keys): serde-saphyr reports the position.
    let value: Value = match serde_saphyr::from_str(src) {
        Ok(v) => v,
        Err(e) => {
            let location = e.location();
            let message = e
                .render_with_options(
                    serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off },
                )
                .to_string();
            // The rendered text ends with " at line L, column C"; we print those separately.
            let message = message
                .split(" at line ")
                .next()
                .unwrap_or(&message)
                .to_owned();
            return Err(fail(vec![Diagnostic {
                path: String::new(),
                line: location.map(|l| l.line() as usize),
                column: location.map(|l| l.column() as usize),
                message: format!("invalid YAML: {message}"),
            }]));
        }
    };
    let index = PathIndex::build(src);
    let locate = |issues: Vec<Issue>| -> Vec<Diagnostic> {
        issues
            .into_iter()
            .map(|i| {
                let pos = index.locate(&i.path);
                Diagnostic {
                    line: pos.map(|p| p.line),
                    column: pos.map(|p| p.column),
                    path: i.path,
                    message: i.message,
                }
            })
            .collect()
    };
    if value.is_null() {
        return Err(fail(vec![Diagnostic {
            path: String::new(),
            line: None,
            column: None,
            message: "the file is empty; expected an AuthDomain manifest".into(),
        }]));
    }

    // 2. Structure, all at once.
    let structural = schema_check::check(schema(), &value);
    if !structural.is_empty() {
        return Err(fail(locate(structural)));
    }

    // 3. Typed (the schema check makes failures here rare; report them located anyway).
    let manifest: AuthDomainManifest = match serde_path_to_error::deserialize(&value) {
        Ok(m) => m,
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            return Err(fail(locate(vec![Issue::new(
                &path,
                e.into_inner().to_string(),
            )])));
        }
    };

    // 4. Semantics, all at once (and, for a deploy, what only `authdomain dev` can use).
    let mut semantic = validate(&manifest);
    if for_deploy {
        semantic.extend(super::deploy_issues(&manifest));
    }
    if semantic.is_empty() {
        Ok(manifest)
    } else {
        Err(fail(locate(semantic)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: demo\nspec:\n  region: eu-west-1\n";

    #[test]
    fn portal_rules_name_their_fields() {
        let src = format!(
            "{MINIMAL}  resourceServers:\n    - identifier: https://pay.example.com\n      team: paymnets\n  portal:\n    issuer: http://idp.example.com\n    clientId: ''\n    clientSecret:\n      secretsManager: 'arn:aws:s3:::bucket'\n    teams:\n      Payments: []\n"
        );
        let err = load_str(&src, "p.yaml").unwrap_err();
        let text = err.to_string();
        for (path, says) in [
            ("spec.portal.issuer", "https issuer"),
            ("spec.portal.clientId", "client id"),
            (
                "spec.portal.clientSecret.secretsManager",
                "Secrets Manager ARN",
            ),
            ("spec.portal.teams.Payments", "team name"),
            ("spec.network.natGateway", "reach the identity provider"),
            ("spec.resourceServers[0].team", "`paymnets` is not in"),
        ] {
            assert!(
                err.problems
                    .iter()
                    .any(|d| d.path == path && d.message.contains(says)),
                "no `{says}` at {path}: {text}"
            );
        }
        let good = format!(
            "{MINIMAL}  network:\n    natGateway: single\n  resourceServers:\n    - identifier: https://pay.example.com\n      team: payments\n  portal:\n    issuer: https://login.example.com/tenant/v2.0\n    clientId: portal\n    clientSecret:\n      secretsManager: arn:aws:secretsmanager:eu-west-1:123456789012:secret:portal-AbCdEf\n    adminGroups: [platform]\n    teams:\n      payments: [payments-devs]\n"
        );
        let m = load_str(&good, "p.yaml").unwrap();
        assert_eq!(load_str_for_aws(&good, "p.yaml").unwrap(), m);
        let p = m.spec.portal.unwrap();
        assert_eq!(p.groups_claim, "groups");
        assert_eq!(p.teams["payments"], vec!["payments-devs"]);
    }

    #[test]
    fn a_file_secret_is_for_dev_and_refused_for_aws_at_its_line() {
        let src = format!(
            "{MINIMAL}  portal:\n    issuer: https://login.example.com\n    clientId: portal\n    clientSecret:\n      file: portal-secret.txt\n    adminGroups: [platform]\n"
        );
        // Valid (authdomain dev reads the file) ...
        load_str(&src, "p.yaml").unwrap();
        // ... but not something a deploy to AWS can use: the function has no such file.
        let err = load_str_for_aws(&src, "p.yaml").unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        let d = &err.problems[0];
        assert_eq!(d.path, "spec.portal.clientSecret.file");
        assert_eq!(d.line, Some(11), "{err}");
        assert!(d.message.contains("expected `secretsManager`"), "{err}");
        assert!(err.to_string().starts_with("p.yaml:11:"), "{err}");
    }

    #[test]
    fn minimal_manifest_gets_defaults() {
        let m = load_str(MINIMAL, "m.yaml").unwrap();
        assert_eq!(m.spec.network.cidr, "10.42.0.0/16");
        assert_eq!(m.spec.database.min_capacity, 0.0);
        assert_eq!(m.spec.database.seconds_until_auto_pause, 300);
        assert_eq!(m.spec.function.timeout, 29);
        assert_eq!(m.spec.network.nat_gateway, crate::spec::NatGateway::None);
    }

    #[test]
    fn every_structural_error_is_reported_with_its_line() {
        let src = "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: demo\nspec:\n  region: eu-west-1\n  network:\n    natGateway: always\n    availabilityZones: 9\n  database:\n    maxCapacty: 4\n    readers: two\n";
        let err = load_str(src, "bad.yaml").unwrap_err();
        let by_path = |p: &str| {
            err.problems
                .iter()
                .find(|d| d.path == p)
                .unwrap_or_else(|| panic!("no problem at {p}: {err}"))
        };
        let nat = by_path("spec.network.natGateway");
        assert_eq!((nat.line, nat.column), (Some(8), Some(5)));
        assert!(
            nat.message.contains("expected one of none, single, perAz"),
            "{}",
            nat.message
        );
        assert!(
            by_path("spec.network.availabilityZones")
                .message
                .contains("at most 6")
        );
        let typo = by_path("spec.database.maxCapacty");
        assert_eq!(typo.line, Some(11));
        assert!(
            typo.message.contains("unknown field `maxCapacty`")
                && typo.message.contains("maxCapacity"),
            "{}",
            typo.message
        );
        assert!(
            by_path("spec.database.readers")
                .message
                .contains("expected a whole number")
        );
        assert_eq!(err.problems.len(), 4, "{err}");
        assert!(
            err.to_string()
                .starts_with("bad.yaml:8:5: spec.network.natGateway: expected one of"),
            "{err}"
        );
    }

    #[test]
    fn every_semantic_error_is_reported_with_its_line() {
        let src = "apiVersion: authdomain.io/v1alpha1\nkind: AuthDomain\nmetadata:\n  name: Demo_1\nspec:\n  region: europe\n  network:\n    cidr: 8.8.0.0/16\n  database:\n    minCapacity: 4\n    maxCapacity: 2.3\n  resourceServers:\n    - identifier: https://api.example.com\n      scopes: [{name: read}, {name: read}]\n  clients:\n    - name: svc\n      scopes: [read, write]\n  tags:\n    authdomain.io/owner: me\n";
        let err = load_str(src, "bad.yaml").unwrap_err();
        let paths: Vec<&str> = err.problems.iter().map(|d| d.path.as_str()).collect();
        for p in [
            "metadata.name",
            "spec.region",
            "spec.network.cidr",
            "spec.database.maxCapacity",
            "spec.resourceServers[0].scopes[1].name",
            "spec.clients[0].scopes[1]",
            "spec.tags.authdomain.io/owner",
        ] {
            assert!(paths.contains(&p), "{p} missing in:\n{err}");
        }
        let scope = err
            .problems
            .iter()
            .find(|d| d.path == "spec.clients[0].scopes[1]")
            .unwrap();
        assert_eq!(scope.line, Some(17));
        assert!(scope.message.contains("`write` is not defined"));
    }

    #[test]
    fn yaml_syntax_and_empty_files() {
        let err = load_str("spec:\n  region: [unclosed\n", "s.yaml").unwrap_err();
        assert!(err.problems[0].message.starts_with("invalid YAML"), "{err}");
        assert!(err.problems[0].line.is_some());
        let err = load_str("", "e.yaml").unwrap_err();
        assert!(err.to_string().contains("empty"));
        let err = load_str("a: 1\na: 2\n", "d.yaml").unwrap_err();
        assert!(
            err.to_string().to_lowercase().contains("duplicate"),
            "{err}"
        );
    }
}
