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
    /// How long to wait, in minutes, for Lambda to release a deleted function's network
    /// interfaces (AWS takes up to 20 to 40 minutes; they keep the security group and
    /// subnets from being deleted). At the bound destroy stops and says so; running it
    /// again continues.
    #[arg(long, value_name = "MINUTES", default_value_t = 45)]
    interface_wait: u64,
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
    let mut aws = connect(aws_args, &m).await;
    aws.patience.network_interfaces = std::time::Duration::from_secs(args.interface_wait * 60);
    let (plan, observed, kept) = reconcile::destroy_plan_kept(&aws, &m).await?;
    print!("{}", drift::table(&m.metadata.name, &plan));
    for k in &kept {
        println!("  kept: {}: {}", k.resource, k.reason);
    }
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
    aws.notices.subscribe(progress.sink());
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
