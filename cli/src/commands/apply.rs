//! `authdomain apply`: print the plan, ask, act in dependency order (independent branches
//! concurrently); changes waiting for an image nobody has pushed yet are named and wait.

use std::path::PathBuf;
use std::process::ExitCode;

use authdomain_core::drift;
use provisioner::reconcile;

use super::input::{confirm, connect, load_for_aws, report_apply_error};
use super::progress::Progress;
use super::{AwsArgs, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// Do not ask for confirmation.
    #[arg(long)]
    auto_approve: bool,
    #[command(flatten)]
    allow: AllowArgs,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

/// What an apply of registrations may do beyond the default.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct AllowArgs {
    /// Take over registrations whose name the spec uses but that the spec did not create
    /// (made in the portal or through the admin API); never the operator's.
    #[arg(long)]
    adopt: bool,
    /// Remove scopes from a resource server although clients hold them (the server takes
    /// them from those clients too).
    #[arg(long)]
    remove_held_scopes: bool,
}

impl AllowArgs {
    pub fn allow(self) -> authdomain_core::plan::Allow {
        authdomain_core::plan::Allow {
            adopt: self.adopt,
            remove_held_scopes: self.remove_held_scopes,
        }
    }
}

pub async fn run(aws_args: &AwsArgs, args: Args) -> anyhow::Result<ExitCode> {
    let m = load_for_aws(&args.file)?;
    let aws = connect(aws_args, &m).await;
    let reconcile::Prepared {
        full,
        runnable: plan,
        deferred,
        observed,
    } = reconcile::prepare(&aws, &m).await?;
    if args.output == Output::Text {
        print!("{}", drift::table(&m.metadata.name, &full));
    }
    let allow = args.allow.allow();
    let refused = authdomain_core::plan::refusals(&full, &observed, allow);
    if !refused.is_empty() {
        for r in &refused {
            eprintln!("error: refused: {r}");
        }
        return Ok(ExitCode::FAILURE);
    }
    // Changes that need a value nothing here can produce (an image not pushed yet) wait;
    // the rest is applied and the command fails naming what waits.
    if !deferred.is_empty() {
        eprintln!("{}; they are not applied now", deferred.summary());
        if let Some(advice) = deferred.advice() {
            eprintln!("  {advice}");
        }
    }
    if plan.is_empty() && !deferred.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    if plan.is_empty() {
        if args.output == Output::Json {
            println!(
                "{}",
                serde_json::json!({ "domain": m.metadata.name, "steps": [], "in_sync": true })
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.auto_approve
        && !confirm(&format!(
            "Apply {} change(s) to `{}`?",
            plan.changes.len(),
            m.metadata.name
        ))?
    {
        eprintln!("nothing changed");
        return Ok(ExitCode::FAILURE);
    }
    let progress = Progress::new(plan.changes.len(), args.output == Output::Json);
    aws.notices.subscribe(progress.sink());
    let result = reconcile::apply_with(&aws, &m, &plan, &observed, allow, |step| {
        progress.step(step)
    })
    .await;
    progress.finish();
    let steps = match result {
        Ok(steps) => steps,
        Err(e) => {
            report_apply_error(&e, "done");
            return Ok(ExitCode::FAILURE);
        }
    };
    if args.output == Output::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "domain": m.metadata.name,
                "steps": steps,
                "deferred": deferred.changes,
            }))?
        );
    } else {
        println!(
            "applied {} change(s) in {:.1}s ({} AWS calls)",
            steps.len(),
            progress.elapsed().as_secs_f64(),
            aws.calls.total()
        );
    }
    if deferred.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: apply is incomplete: {}", deferred.summary());
        Ok(ExitCode::FAILURE)
    }
}
