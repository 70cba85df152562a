//! `authdomain plan`: what `apply` would change, per resource and field, and why.

use std::path::PathBuf;
use std::process::ExitCode;

use authdomain_core::drift;
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
    let (plan, _) = reconcile::plan(&aws, &m).await?;
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&drift::json(&m.metadata.name, &plan))?
        ),
        Output::Text => print!("{}", drift::table(&m.metadata.name, &plan)),
    }
    eprintln!("({} AWS calls)", aws.calls.total());
    Ok(ExitCode::SUCCESS)
}
