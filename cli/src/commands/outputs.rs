//! `authdomain outputs`: what the deployed domain exposes (endpoints, ARNs).

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
}

pub async fn run(aws_args: &AwsArgs, args: Args) -> anyhow::Result<ExitCode> {
    let m = load(&args.file)?;
    let aws = connect(aws_args, &m).await;
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
