//! `authdomain destroy`: delete what the domain's `deletionPolicy` lets go, in reverse
//! dependency order.

use std::path::PathBuf;
use std::process::ExitCode;

use authdomain_core::plan::Action;
use authdomain_core::{drift, spec};
use provisioner::reconcile;

use super::AwsArgs;
use super::input::{confirm, connect, load};
use super::progress::Progress;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    #[arg(long)]
    auto_approve: bool,
}

pub async fn run(aws_args: &AwsArgs, args: Args) -> anyhow::Result<ExitCode> {
    let m = load(&args.file)?;
    if m.spec.deletion_policy == spec::DeletionPolicy::Retain {
        println!(
            "{}: deletionPolicy is Retain: the function, the API and the role go; the network, \
             database, KMS key, KEK secret and image repository stay",
            m.metadata.name
        );
    }
    let aws = connect(aws_args, &m).await;
    let (plan, observed) = reconcile::destroy_plan(&aws, &m).await?;
    print!("{}", drift::table(&m.metadata.name, &plan));
    if plan.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if !args.auto_approve
        && !confirm(&format!(
            "Delete {} resource(s) of `{}`?",
            plan.count(Action::Delete),
            m.metadata.name
        ))?
    {
        eprintln!("nothing changed");
        return Ok(ExitCode::FAILURE);
    }
    let progress = Progress::new(plan.changes.len(), false);
    let result = reconcile::apply(&aws, &m, &plan, &observed, |s| progress.step(s)).await;
    progress.finish();
    match result {
        Ok(steps) => {
            println!(
                "deleted {} resource(s) in {:.1}s",
                steps.len(),
                progress.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            for s in &e.done {
                eprintln!(
                    "  deleted before the error: {} ({})",
                    s.resource, s.physical_id
                );
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
