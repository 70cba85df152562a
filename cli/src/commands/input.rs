//! What the commands share: reading a manifest (a file or `-` for standard input),
//! connecting to AWS for it, asking before a change, writing files only the owner reads.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use authdomain_core::spec;
use provisioner::aws::{Aws, AwsOptions};

use super::AwsArgs;

/// The text of `file` and the name to report it by.
pub fn read(file: &PathBuf) -> anyhow::Result<(String, String)> {
    if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .context("reading standard input")?;
        Ok((s, "<stdin>".into()))
    } else {
        let s =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        Ok((s, file.display().to_string()))
    }
}

/// A valid manifest, or every problem in it.
pub fn load(file: &PathBuf) -> anyhow::Result<spec::AuthDomainManifest> {
    load_with(file, spec::load_str)
}

/// A manifest that can be converged on AWS (`plan`, `apply`, `bootstrap`): valid, and
/// without what only `authdomain dev` can read.
pub fn load_for_aws(file: &PathBuf) -> anyhow::Result<spec::AuthDomainManifest> {
    load_with(file, spec::load_str_for_aws)
}

fn load_with(
    file: &PathBuf,
    loader: fn(&str, &str) -> Result<spec::AuthDomainManifest, spec::Diagnostics>,
) -> anyhow::Result<spec::AuthDomainManifest> {
    let (src, name) = read(file)?;
    loader(&src, &name)
        .map_err(|d| anyhow::anyhow!("{d}\n{} problem(s) in {}", d.problems.len(), d.file))
}

/// AWS clients for the manifest's region (unless `--region` says otherwise).
pub async fn connect(args: &AwsArgs, m: &spec::AuthDomainManifest) -> Aws {
    Aws::connect(&AwsOptions {
        region: Some(args.region.clone().unwrap_or_else(|| m.spec.region.clone())),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
        moto_account: args.moto_account.clone(),
        registry_url: args.registry_url.clone(),
        ..AwsOptions::default()
    })
    .await
}

/// AWS clients for `region` (no manifest: `image operator` for an ECR host), the region
/// flag winning.
pub async fn connect_region(args: &AwsArgs, region: &str) -> Aws {
    Aws::connect(&AwsOptions {
        region: Some(args.region.clone().unwrap_or_else(|| region.to_owned())),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
        moto_account: args.moto_account.clone(),
        ..AwsOptions::default()
    })
    .await
}

/// Ask on the terminal; refuses (an error) when there is no terminal to ask on.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to change AWS without --auto-approve: standard input is not a terminal to ask on"
        );
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// Write a file only its owner can read.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// Report an apply that stopped part-way: the error, then what was done before it.
pub fn report_apply_error(e: &provisioner::reconcile::ApplyError, verb: &str) {
    eprintln!("error: {e}");
    for s in &e.done {
        eprintln!(
            "  {verb} before the error: {} {} ({})",
            s.action.as_str(),
            s.resource,
            s.physical_id
        );
    }
}
