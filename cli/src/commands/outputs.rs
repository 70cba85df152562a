//! `authdomain outputs`: what the deployed domain exposes (endpoints, ARNs, where the
//! kept credentials are); `--reveal NAME` prints one client's kept credentials.

use std::path::PathBuf;
use std::process::ExitCode;

use provisioner::reconcile;

use super::input::{connect, load};
use super::{AwsArgs, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// Print the kept credentials (client_id, client_secret, token_url, issuer, scope) of
    /// this spec client, or of `admin`: a secret, printed only when asked.
    #[arg(long, value_name = "CLIENT")]
    reveal: Option<String>,
}

pub async fn run(aws_args: &AwsArgs, args: Args) -> anyhow::Result<ExitCode> {
    let m = load(&args.file)?;
    let aws = connect(aws_args, &m).await;
    if let Some(name) = &args.reveal {
        let domain = &m.metadata.name;
        if name != "admin" && !m.spec.clients.iter().any(|c| &c.name == name) {
            anyhow::bail!(
                "--reveal {name}: expected `admin` or the name of one of the manifest's \
                 spec.clients"
            );
        }
        let secret = if name == "admin" {
            provisioner::aws::secrets::admin_secret_name(domain)
        } else {
            provisioner::aws::secrets::client_secret_name(domain, name)
        };
        let Some(value) = provisioner::aws::secrets::read_json(&aws, &secret).await? else {
            anyhow::bail!(
                "no credentials are kept at {secret}: `{name}` is not a client the spec created \
                 (an adopted client's secret was shown once, to whoever made it), or it was deleted"
            );
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(ExitCode::SUCCESS);
    }
    let observed = reconcile::observe(&aws, &m).await?;
    let values = authdomain_core::plan::outputs(&m, &observed);
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&values)?),
        Output::Text => {
            for (k, v) in values.as_object().into_iter().flatten() {
                println!(
                    "{k:<22} {}",
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
