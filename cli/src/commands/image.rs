//! `authdomain image build | push | operator`: the auth server image assembled from a
//! binary, and where the binary comes from; the operator's multi-architecture image,
//! pushed to any registry and set by digest in a kustomization.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use authdomain_core::spec;
use clap::{Subcommand, ValueEnum};

use provisioner::image::Program;

use super::AwsArgs;
use super::input::{connect, load};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Assemble the image for the spec's architecture and push it (by digest, plus `--tag`).
    /// The repository must exist (`authdomain apply` or `bootstrap` creates it).
    Push {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long, env = "AUTHDOMAIN_AUTHSERVER_BINARY")]
        binary: Option<PathBuf>,
        /// Also tag it (the repository's tags are immutable).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Assemble the image and print its digest, size and config without pushing.
    Build {
        #[arg(long, value_enum, default_value = "arm64")]
        arch: Arch,
        #[arg(long, env = "AUTHDOMAIN_AUTHSERVER_BINARY")]
        binary: Option<PathBuf>,
        /// Write the image as an OCI image layout directory here (for skopeo, umoci, crane).
        #[arg(long)]
        oci_layout: Option<PathBuf>,
    },
    /// Build the Kubernetes operator's image for arm64 and x86_64 (static binaries, a
    /// non-root user, a CA bundle), push both and their multi-architecture index to any
    /// registry, print the reference by digest, and with `--kustomize DIR` set it in
    /// DIR/kustomization.yaml. Credentials: AUTHDOMAIN_REGISTRY_USERNAME and
    /// AUTHDOMAIN_REGISTRY_PASSWORD, else the registry's entry in the Docker config
    /// (`auth` only; credential helpers are not run), else ECR's token for an ECR host,
    /// else anonymous.
    Operator {
        /// Where to push: REGISTRY/REPOSITORY[:TAG] (the tag defaults to the version).
        #[arg(long)]
        to: String,
        #[arg(long, env = "AUTHDOMAIN_OPERATOR_BINARY_ARM64")]
        binary_arm64: Option<PathBuf>,
        #[arg(long = "binary-x86-64", env = "AUTHDOMAIN_OPERATOR_BINARY_X86_64")]
        binary_x86_64: Option<PathBuf>,
        /// Talk to the registry over plain HTTP (a registry on loopback).
        #[arg(long)]
        plain_http: bool,
        /// A kustomization directory (an overlay of manifests/) whose `images:` entry
        /// for `authdomain/operator` is set to the pushed digest.
        #[arg(long)]
        kustomize: Option<PathBuf>,
    },
}

/// The image name the manifests' Deployment uses, which `images:` in a kustomization
/// replaces.
pub const OPERATOR_IMAGE_NAME: &str = "authdomain/operator";

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

impl From<Arch> for spec::Architecture {
    fn from(a: Arch) -> spec::Architecture {
        match a {
            Arch::Arm64 => spec::Architecture::Arm64,
            Arch::X86_64 => spec::Architecture::X86_64,
        }
    }
}

pub async fn run(aws_args: &AwsArgs, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Build {
            arch,
            binary,
            oci_layout,
        } => {
            let arch = spec::Architecture::from(arch);
            let bytes = authserver_binary(binary, arch)?;
            let image = provisioner::image::assemble(&bytes, arch, env!("CARGO_PKG_VERSION"))?;
            if let Some(dir) = oci_layout {
                provisioner::image::write_oci_layout(&image, &dir)
                    .with_context(|| format!("writing the OCI layout {}", dir.display()))?;
            }
            println!("digest        {}", image.digest);
            println!(
                "architecture  {}",
                provisioner::image::oci_architecture(arch)
            );
            println!(
                "size          {} bytes ({} compressed layer)",
                image.size(),
                image.layer.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Operator {
            to,
            binary_arm64,
            binary_x86_64,
            plain_http,
            kustomize,
        } => {
            let target = ImageTarget::parse(&to)?;
            let mut images = Vec::new();
            for (arch, given) in [
                (spec::Architecture::Arm64, binary_arm64),
                (spec::Architecture::X86_64, binary_x86_64),
            ] {
                let bytes = program_binary(Program::Operator, given, arch)?;
                images.push(provisioner::image::assemble_program(
                    Program::Operator,
                    &bytes,
                    arch,
                    env!("CARGO_PKG_VERSION"),
                )?);
            }
            let index = provisioner::image::assemble_index(images);
            let credentials = registry_credentials(aws_args, &target.host).await?;
            let registry =
                provisioner::image::registry::Registry::open(&target.host, plain_http, credentials);
            let pushed = registry
                .push_index(&target.repository, &index, &target.tag)
                .await?;
            let reference = format!("{}/{}@{}", target.host, target.repository, pushed.digest);
            println!(
                "{} {reference} (tag {}; linux/arm64 {}, linux/amd64 {})",
                if pushed.reused {
                    "already there:"
                } else {
                    "pushed"
                },
                target.tag,
                index.images[0].digest,
                index.images[1].digest,
            );
            if let Some(dir) = kustomize {
                let file = set_kustomize_image(
                    &dir,
                    &format!("{}/{}", target.host, target.repository),
                    &pushed.digest,
                )?;
                println!("set {OPERATOR_IMAGE_NAME} to it in {}", file.display());
            } else {
                println!(
                    "in a kustomization:\n  images:\n    - name: {OPERATOR_IMAGE_NAME}\n      newName: {}/{}\n      digest: {}",
                    target.host, target.repository, pushed.digest
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Push { file, binary, tag } => {
            let m = load(&file)?;
            let aws = connect(aws_args, &m).await;
            let arch = m.spec.image.architecture;
            let bytes = authserver_binary(binary, arch)?;
            let image = provisioner::image::assemble(&bytes, arch, env!("CARGO_PKG_VERSION"))?;
            let repository = provisioner::aws::ecr::repository_name(
                &m.metadata.name,
                m.spec.image.repository.as_deref(),
            );
            let observed =
                provisioner::aws::ecr::observe(&aws, &m.metadata.name, &repository).await?;
            let Some(uri) = observed
                .first()
                .and_then(|o| o.props.get("_uri"))
                .and_then(|v| v.as_str())
            else {
                bail!(
                    "the repository {repository} does not exist (or is not tagged as `{}`'s): \
                     `authdomain apply` or `authdomain bootstrap` creates it",
                    m.metadata.name
                );
            };
            let registry = provisioner::image::registry::Registry::connect(&aws, uri).await?;
            let pushed = registry.push(&repository, &image, tag.as_deref()).await?;
            println!(
                "{} {uri}@{} ({} bytes)",
                if pushed.reused {
                    "already there:"
                } else {
                    "pushed"
                },
                pushed.digest,
                image.size()
            );
            println!("pin it with:\n  image:\n    digest: {}", pushed.digest);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `REGISTRY/REPOSITORY[:TAG]`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTarget {
    pub host: String,
    pub repository: String,
    pub tag: String,
}

impl ImageTarget {
    pub fn parse(to: &str) -> anyhow::Result<ImageTarget> {
        let Some((host, rest)) = to.split_once('/') else {
            bail!(
                "--to `{to}`: expected REGISTRY/REPOSITORY[:TAG], such as registry.example.com/platform/authdomain-operator"
            );
        };
        if host.is_empty() || !(host.contains('.') || host.contains(':') || host == "localhost") {
            bail!(
                "--to `{to}`: `{host}` is not a registry host (expected a name with a dot or a port, or localhost)"
            );
        }
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, t),
            _ => (rest, env!("CARGO_PKG_VERSION")),
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
            });
        if !repo_ok {
            bail!(
                "--to `{to}`: repository `{repository}` must be lowercase letters, digits, `.`, `_`, `-` and `/`"
            );
        }
        let tag_ok = (1..=128).contains(&tag.len())
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
            && !tag.starts_with(['.', '-']);
        if !tag_ok {
            bail!("--to `{to}`: tag `{tag}` must be letters, digits, `_`, `.`, `-` (at most 128)");
        }
        Ok(ImageTarget {
            host: host.to_owned(),
            repository: repository.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

/// Credentials for `host`: the environment's, the Docker config's, ECR's token for an ECR
/// host, or none (anonymous).
async fn registry_credentials(
    aws_args: &AwsArgs,
    host: &str,
) -> anyhow::Result<Option<(String, String)>> {
    if let (Ok(user), Ok(password)) = (
        std::env::var("AUTHDOMAIN_REGISTRY_USERNAME"),
        std::env::var("AUTHDOMAIN_REGISTRY_PASSWORD"),
    ) {
        return Ok(Some((user, password)));
    }
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .map(|d| d.join("config.json"));
    if let Some(path) = config
        && let Ok(text) = std::fs::read_to_string(&path)
    {
        let doc: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("reading {}: not JSON", path.display()))?;
        if let Some(auth) = doc["auths"][host]["auth"].as_str() {
            return provisioner::image::registry::decode_token(auth)
                .map(Some)
                .with_context(|| {
                    format!(
                        "{}: auths.{host}.auth is not base64 of user:password",
                        path.display()
                    )
                });
        }
    }
    // `<account>.dkr.ecr.<region>.amazonaws.com`: ECR's token, from the AWS credentials.
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() >= 6 && parts[1] == "dkr" && parts[2] == "ecr" {
        let region = parts[3].to_owned();
        let aws = super::input::connect_region(aws_args, &region).await;
        let registry =
            provisioner::image::registry::Registry::connect(&aws, &format!("{host}/x")).await?;
        return Ok(registry.credentials());
    }
    Ok(None)
}

/// Set the `images:` entry for the operator in `dir`/kustomization.yaml (created if
/// absent, as an overlay of nothing: add `resources:` to it). Other entries and keys stay;
/// comments do not (the file is rewritten).
pub fn set_kustomize_image(dir: &Path, new_name: &str, digest: &str) -> anyhow::Result<PathBuf> {
    let file = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .unwrap_or_else(|| dir.join("kustomization.yaml"));
    let mut doc: serde_json::Value = match std::fs::read_to_string(&file) {
        Ok(text) if !text.trim().is_empty() => serde_saphyr::from_str(&text)
            .with_context(|| format!("{}: not a kustomization", file.display()))?,
        Ok(_) => serde_json::json!({}),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
        }),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let Some(map) = doc.as_object_mut() else {
        bail!("{}: expected a mapping at the top", file.display());
    };
    let images = map.entry("images").or_insert_with(|| serde_json::json!([]));
    let Some(list) = images.as_array_mut() else {
        bail!("{}: `images` must be a list", file.display());
    };
    list.retain(|i| i["name"] != OPERATOR_IMAGE_NAME);
    list.push(serde_json::json!({
        "name": OPERATOR_IMAGE_NAME,
        "newName": new_name,
        "digest": digest,
    }));
    let text = serde_saphyr::to_string(&doc).context("writing YAML")?;
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    Ok(file)
}

/// The build script of a source checkout: `scripts/build-static.sh` in the current
/// directory or one of its parents, beside a workspace `Cargo.toml`. An installed
/// `authdomain` has no checkout to build from; it is then given `--binary`.
fn build_script() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(|dir| dir.join("scripts/build-static.sh"))
        .find(|script| {
            script.is_file()
                && script
                    .parent()
                    .and_then(Path::parent)
                    .is_some_and(|root| root.join("Cargo.toml").is_file())
        })
}

/// The auth server binary for `arch`: the one given (`--binary`,
/// `AUTHDOMAIN_AUTHSERVER_BINARY`), else built with the checkout's build script when run
/// inside a source checkout.
pub fn authserver_binary(
    given: Option<PathBuf>,
    arch: spec::Architecture,
) -> anyhow::Result<Vec<u8>> {
    program_binary(Program::AuthServer, given, arch)
}

/// The executable of `program` for `arch`: the one given, else built with the checkout's
/// build script.
pub fn program_binary(
    program: Program,
    given: Option<PathBuf>,
    arch: spec::Architecture,
) -> anyhow::Result<Vec<u8>> {
    let (what, flag) = match program {
        Program::AuthServer => (
            "auth server",
            "--binary PATH (or set AUTHDOMAIN_AUTHSERVER_BINARY)",
        ),
        Program::Authorizer => (
            "authorizer",
            "--authorizer-binary PATH (or set AUTHDOMAIN_AUTHORIZER_BINARY)",
        ),
        Program::Operator => (
            "operator",
            "--binary-arm64 / --binary-x86-64 PATH (or set AUTHDOMAIN_OPERATOR_BINARY_ARM64 / _X86_64)",
        ),
    };
    let path = match given {
        Some(p) => p,
        None => {
            let Some(script) = build_script() else {
                bail!(
                    "no {what} binary: pass {flag} to a static Linux {} executable, or run this inside an \
                     AuthDomain source checkout, where scripts/build-static.sh builds one",
                    arch.as_str()
                );
            };
            eprintln!(
                "building the {what} for {} ({})",
                arch.as_str(),
                script.display()
            );
            let out = std::process::Command::new(&script)
                .arg(program.build_name())
                .arg(arch.as_str())
                .stderr(std::process::Stdio::inherit())
                .output()
                .with_context(|| format!("running {}", script.display()))?;
            if !out.status.success() {
                bail!("{} failed", script.display());
            }
            PathBuf::from(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim(),
            )
        }
    };
    std::fs::read(&path).with_context(|| format!("reading the {what} binary {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_target_is_registry_repository_and_tag() {
        let t =
            ImageTarget::parse("registry.example.com/platform/authdomain-operator:1.2").unwrap();
        assert_eq!(t.host, "registry.example.com");
        assert_eq!(t.repository, "platform/authdomain-operator");
        assert_eq!(t.tag, "1.2");
        let t = ImageTarget::parse("127.0.0.1:5000/op").unwrap();
        assert_eq!(
            (t.host.as_str(), t.tag.as_str()),
            ("127.0.0.1:5000", env!("CARGO_PKG_VERSION"))
        );
        for (bad, says) in [
            ("operator", "REGISTRY/REPOSITORY"),
            ("platform/operator", "not a registry host"),
            ("r.example.com/Platform/Op", "lowercase"),
            ("r.example.com/op:-x", "tag"),
            ("r.example.com//op", "repository"),
        ] {
            let e = ImageTarget::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn the_kustomization_gets_the_digest_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("kustomization.yaml"),
            "resources:\n  - ../manifests\nimages:\n  - name: authdomain/operator\n    newTag: old\n  - name: other\n    newTag: \"3\"\n",
        )
        .unwrap();
        let file = set_kustomize_image(dir.path(), "r.example.com/op", "sha256:abc").unwrap();
        let doc: serde_json::Value =
            serde_saphyr::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        assert_eq!(doc["resources"], serde_json::json!(["../manifests"]));
        let images = doc["images"].as_array().unwrap();
        assert_eq!(images.len(), 2);
        assert!(images.iter().any(|i| i["name"] == "other"));
        let ours = images
            .iter()
            .find(|i| i["name"] == OPERATOR_IMAGE_NAME)
            .unwrap();
        assert_eq!(ours["newName"], "r.example.com/op");
        assert_eq!(ours["digest"], "sha256:abc");
        assert!(ours.get("newTag").is_none());
        // A new directory gets a kustomization of its own.
        let empty = tempfile::tempdir().unwrap();
        let file = set_kustomize_image(empty.path(), "r/op", "sha256:d").unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.contains("kind: Kustomization") && text.contains("sha256:d"),
            "{text}"
        );
    }
}
