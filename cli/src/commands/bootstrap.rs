//! `authdomain bootstrap`: a whole domain in one command (image, infrastructure, database
//! role, migrations, admin client, seeded clients), each step looking before it acts.

use std::path::PathBuf;
use std::process::ExitCode;

use authdomain_core::drift;
use provisioner::{bootstrap, reconcile};

use provisioner::image::Program;

use super::image::{authserver_binary, program_binary};
use super::input::{confirm, connect, load_for_aws, report_apply_error};
use super::progress::Progress;
use super::{AwsArgs, Output};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// The auth server executable for the spec's architecture (a static Linux binary).
    /// Default: built with scripts/build-authserver.sh when run inside a source checkout.
    #[arg(long, env = "AUTHDOMAIN_AUTHSERVER_BINARY")]
    binary: Option<PathBuf>,
    /// The Lambda authorizer executable (a static Linux binary), for specs with a
    /// `mode: lambda` protected API. Default: built like the auth server.
    #[arg(long, env = "AUTHDOMAIN_AUTHORIZER_BINARY")]
    authorizer_binary: Option<PathBuf>,
    #[arg(long)]
    auto_approve: bool,
    #[command(flatten)]
    allow: super::apply::AllowArgs,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub async fn run(aws_args: &AwsArgs, args: Args) -> anyhow::Result<ExitCode> {
    let Args {
        file,
        binary,
        authorizer_binary,
        auto_approve,
        allow,
        output,
    } = args;
    let m = &load_for_aws(&file)?;
    let aws = &connect(aws_args, m).await;
    let needs_binary = m.spec.image.digest.is_none() && m.spec.image.tag.is_none();
    let binary = if needs_binary {
        Some(authserver_binary(binary, m.spec.image.architecture)?)
    } else {
        None
    };
    let authorizer_binary = if m.spec.wants_authorizer() && m.spec.authorizer.digest.is_none() {
        Some(program_binary(
            Program::Authorizer,
            authorizer_binary,
            m.spec.image.architecture,
        )?)
    } else {
        None
    };
    let (plan, _) = reconcile::plan(aws, m).await?;
    if output == Output::Text {
        print!("{}", drift::table(&m.metadata.name, &plan));
    }
    if !plan.is_empty()
        && !auto_approve
        && !confirm(&format!(
            "Bootstrap `{}` ({} infrastructure change(s), then the database and the auth server's clients)?",
            m.metadata.name,
            plan.changes.len()
        ))?
    {
        eprintln!("nothing changed");
        return Ok(ExitCode::FAILURE);
    }
    let progress = Progress::new(0, output == Output::Json);
    aws.notices.subscribe(progress.sink());
    let options = bootstrap::Options {
        binary: binary.as_deref(),
        authorizer_binary: authorizer_binary.as_deref(),
        version: env!("CARGO_PKG_VERSION"),
        timeouts: bootstrap::Timeouts::default(),
        allow: allow.allow(),
    };
    let result = bootstrap::run(aws, m, &options, |p| match p {
        bootstrap::Progress::Phase(phase) => progress.note(&format!("== {phase}")),
        bootstrap::Progress::Step(step) => progress.step(step),
        bootstrap::Progress::Did(what) => progress.note(&what),
    })
    .await;
    progress.finish();
    let outcome = match result {
        Ok(o) => o,
        Err(bootstrap::BootstrapError::Apply(e)) => {
            report_apply_error(&e, "done");
            eprintln!("re-running `authdomain bootstrap` continues from here");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("re-running `authdomain bootstrap` continues from here");
            return Ok(ExitCode::FAILURE);
        }
    };
    if output == Output::Json {
        let mut v = serde_json::to_value(&outcome)?;
        v["changed"] = outcome.changed().into();
        v["aws_calls"] = aws.calls.total().into();
        v["aws_mutating_calls"] = aws.calls.mutating().into();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} `{}` in {:.1}s ({} AWS calls)",
        if outcome.changed() {
            "bootstrapped"
        } else {
            "already bootstrapped, nothing changed:"
        },
        outcome.domain,
        progress.elapsed().as_secs_f64(),
        aws.calls.total()
    );
    println!("  issuer          {}", outcome.issuer);
    println!("  token endpoint  {}", outcome.token_endpoint);
    println!("  image           {}", outcome.image);
    println!(
        "  admin client    Secrets Manager secret {}",
        outcome.admin_secret
    );
    for (client, secret) in &outcome.client_secrets {
        println!("  client {client:<8} Secrets Manager secret {secret}");
    }
    println!("Read the admin credentials (client_id, client_secret, token_url) with:");
    println!(
        "  aws secretsmanager get-secret-value --region {} --secret-id {} --query SecretString --output text",
        aws.region, outcome.admin_secret
    );
    println!("and get a token:");
    println!(
        "  curl -u \"$CLIENT_ID:$CLIENT_SECRET\" -d grant_type=client_credentials {}",
        outcome.token_endpoint
    );
    Ok(ExitCode::SUCCESS)
}
