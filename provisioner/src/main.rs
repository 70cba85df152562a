//! `authdomain`: declare an OAuth 2.0 authorization server on AWS in one file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use provisioner::aws::{Aws, AwsOptions};
use provisioner::plan::Action;
use provisioner::{drift, reconcile, spec};

#[derive(Parser, Debug)]
#[command(
    name = "authdomain",
    version,
    about = "Converge an AuthDomain manifest into AWS"
)]
struct Cli {
    #[command(flatten)]
    aws: AwsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
struct AwsArgs {
    /// AWS region (default: the manifest's `spec.region`).
    #[arg(long, global = true, env = "AWS_REGION")]
    region: Option<String>,
    /// Named profile from the AWS config files.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    profile: Option<String>,
    /// Send every AWS call to this endpoint (an emulator such as moto).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// moto only: the account to act in (`x-moto-account-id`).
    #[arg(long, global = true, env = "AUTHDOMAIN_MOTO_ACCOUNT", hide = true)]
    moto_account: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a manifest: every problem with its field path, line and column.
    Validate {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Print the manifest with every default filled in.
        #[arg(long)]
        show_defaults: bool,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Show what `apply` would change, per resource and field, and why.
    Plan {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Converge AWS to the manifest: show the plan, ask, act in dependency order.
    Apply {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Do not ask for confirmation.
        #[arg(long)]
        auto_approve: bool,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Report where AWS differs from the manifest. Exit 0: in sync, 2: drift, 1: error.
    Drift {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: DriftFormat,
    },
    /// What the deployed domain exposes (endpoints, ARNs); `--output json` for scripts.
    Outputs {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Delete everything tagged for the domain, in reverse dependency order.
    Destroy {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long)]
        auto_approve: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Text,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum DriftFormat {
    Table,
    Json,
    Markdown,
}

fn read(file: &PathBuf) -> anyhow::Result<(String, String)> {
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

fn load(file: &PathBuf) -> anyhow::Result<spec::AuthDomainManifest> {
    let (src, name) = read(file)?;
    spec::load_str(&src, &name)
        .map_err(|d| anyhow::anyhow!("{d}\n{} problem(s) in {}", d.problems.len(), d.file))
}

async fn connect(args: &AwsArgs, m: &spec::AuthDomainManifest) -> Aws {
    Aws::connect(&AwsOptions {
        region: Some(args.region.clone().unwrap_or_else(|| m.spec.region.clone())),
        profile: args.profile.clone(),
        endpoint_url: args.endpoint_url.clone(),
        moto_account: args.moto_account.clone(),
        no_sdk_retries: false,
        static_credentials: None,
    })
    .await
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn confirm(question: &str) -> anyhow::Result<bool> {
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

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Validate {
            file,
            show_defaults,
            output,
        } => {
            let (src, name) = read(&file)?;
            match spec::load_str(&src, &name) {
                Ok(manifest) => {
                    match (output, show_defaults) {
                        (Output::Json, true) => {
                            println!("{}", serde_json::to_string_pretty(&manifest)?)
                        }
                        (Output::Json, false) => {
                            println!(
                                "{}",
                                serde_json::json!({ "file": name, "valid": true, "problems": [] })
                            )
                        }
                        (Output::Text, true) => print!("{}", serde_saphyr::to_string(&manifest)?),
                        (Output::Text, false) => {
                            println!("{name}: valid AuthDomain `{}`", manifest.metadata.name)
                        }
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(diagnostics) => {
                    match output {
                        Output::Json => {
                            let mut v = serde_json::to_value(&diagnostics)?;
                            v["valid"] = false.into();
                            println!("{v}");
                        }
                        Output::Text => {
                            eprintln!("{diagnostics}");
                            eprintln!(
                                "{} problem(s) in {}",
                                diagnostics.problems.len(),
                                diagnostics.file
                            );
                        }
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Plan { file, output } => {
            let m = load(&file)?;
            let aws = connect(&cli.aws, &m).await;
            let (plan, _) = reconcile::plan(&aws, &m).await?;
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&drift::json(&m.metadata.name, &plan))?
                ),
                Output::Text => print!("{}", drift::table(&m.metadata.name, &plan)),
            }
            eprintln!("({} AWS calls)", aws.calls.total());
            Ok(ExitCode::SUCCESS)
        }
        Command::Drift { file, format } => {
            let m = load(&file)?;
            let aws = connect(&cli.aws, &m).await;
            let (plan, _) = reconcile::plan(&aws, &m).await?;
            match format {
                DriftFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&drift::json(&m.metadata.name, &plan))?
                ),
                DriftFormat::Table => print!("{}", drift::table(&m.metadata.name, &plan)),
                DriftFormat::Markdown => print!("{}", drift::markdown(&m.metadata.name, &plan)),
            }
            Ok(if plan.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Apply {
            file,
            auto_approve,
            output,
        } => {
            let m = load(&file)?;
            let aws = connect(&cli.aws, &m).await;
            let (plan, observed) = reconcile::plan(&aws, &m).await?;
            if output == Output::Text {
                print!("{}", drift::table(&m.metadata.name, &plan));
            }
            if plan.is_empty() {
                if output == Output::Json {
                    println!(
                        "{}",
                        serde_json::json!({ "domain": m.metadata.name, "steps": [], "in_sync": true })
                    );
                }
                return Ok(ExitCode::SUCCESS);
            }
            if !auto_approve
                && !confirm(&format!(
                    "Apply {} change(s) to `{}`?",
                    plan.changes.len(),
                    m.metadata.name
                ))?
            {
                eprintln!("nothing changed");
                return Ok(ExitCode::FAILURE);
            }
            let started = Instant::now();
            let result = reconcile::apply(&aws, &m, &plan, &observed, |step| {
                if output == Output::Text {
                    println!(
                        "[{:>6.1}s] {:<8} {} ({})",
                        started.elapsed().as_secs_f64(),
                        step.action.as_str(),
                        step.resource,
                        step.physical_id
                    );
                }
            })
            .await;
            match result {
                Ok(steps) => {
                    if output == Output::Json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(
                                &serde_json::json!({ "domain": m.metadata.name, "steps": steps })
                            )?
                        );
                    } else {
                        println!(
                            "applied {} change(s) in {:.1}s ({} AWS calls)",
                            steps.len(),
                            started.elapsed().as_secs_f64(),
                            aws.calls.total()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    for s in &e.done {
                        eprintln!(
                            "  done before the error: {} {} ({})",
                            s.action.as_str(),
                            s.resource,
                            s.physical_id
                        );
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Outputs { file, output } => {
            let m = load(&file)?;
            let aws = connect(&cli.aws, &m).await;
            let observed = reconcile::observe(&aws, &m).await?;
            let values = reconcile::outputs(&m, &observed);
            match output {
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
        Command::Destroy { file, auto_approve } => {
            let m = load(&file)?;
            if m.spec.deletion_policy == spec::DeletionPolicy::Retain {
                println!(
                    "{}: deletionPolicy is Retain: the network and database are kept",
                    m.metadata.name
                );
                return Ok(ExitCode::SUCCESS);
            }
            let aws = connect(&cli.aws, &m).await;
            let (plan, observed) = reconcile::destroy_plan(&aws, &m).await?;
            print!("{}", drift::table(&m.metadata.name, &plan));
            if plan.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            if !auto_approve
                && !confirm(&format!(
                    "Delete {} resource(s) of `{}`?",
                    plan.count(Action::Delete),
                    m.metadata.name
                ))?
            {
                eprintln!("nothing changed");
                return Ok(ExitCode::FAILURE);
            }
            let started = Instant::now();
            match reconcile::apply(&aws, &m, &plan, &observed, |s| {
                println!(
                    "[{:>6.1}s] delete   {} ({})",
                    started.elapsed().as_secs_f64(),
                    s.resource,
                    s.physical_id
                )
            })
            .await
            {
                Ok(steps) => {
                    println!("deleted {} resource(s)", steps.len());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
