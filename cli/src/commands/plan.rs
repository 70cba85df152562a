//! `authdomain plan`: what `apply` would change, per resource and field, and why.

use std::path::PathBuf;
use std::process::ExitCode;

use authdomain_core::{cost, drift};
use provisioner::reconcile;

use super::input::{connect, load_for_aws};
use super::{AwsArgs, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(aws_args: &AwsArgs, args: Args) -> anyhow::Result<ExitCode> {
    let m = load_for_aws(&args.file)?;
    let aws = connect(aws_args, &m).await;
    let (plan, observed) = reconcile::plan(&aws, &m).await?;
    // What apply would refuse without --adopt / --remove-held-scopes, named now.
    let refused = authdomain_core::plan::refusals(&plan, &observed, Default::default());
    // The idle cost of what the plan converges to (pure: the core's price table).
    let estimate = cost::estimate(&m, &cost::PriceTable::embedded());
    match args.output {
        Output::Json => {
            let mut v = drift::json(&m.metadata.name, &plan);
            v["estimated_cost"] = serde_json::to_value(&estimate)?;
            v["refusals"] = refused
                .iter()
                .map(|r| serde_json::json!({ "code": r.code(), "message": r.to_string() }))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Output::Text => {
            print!("{}", drift::table(&m.metadata.name, &plan));
            for r in &refused {
                println!("apply would refuse: {r}");
            }
            println!(
                "{}",
                cost::summary(&estimate, &args.file.display().to_string())
            );
        }
    }
    eprintln!("({} AWS calls)", aws.calls.total());
    Ok(ExitCode::SUCCESS)
}
