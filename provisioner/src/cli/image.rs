//! `authdomain image build | push`: the auth server image assembled from a binary, and
//! where the binary comes from.

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
}

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
                .arg(program.binary_name())
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
