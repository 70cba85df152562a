//! `authdomain clients|apis|keys`: administration of a deployed domain. Reads come from the
//! read model the function publishes to S3 (no invocation, so the database stays asleep);
//! changes are management events on the function (`lambda:InvokeFunction`, which IAM
//! guards), the channel `apply` and the operator use. Registrations the manifest or the
//! operator manage are changed there, not here.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use authdomain_api::{ClientInput, ManagementEvent};
use authdomain_read_model::Snapshot;
use provisioner::aws::{Aws, function, registrations};
use serde_json::{Value, json};

use super::input::{connect, load};
use super::{AwsArgs, Output};

/// Which domain, and how to print.
#[derive(clap::Args, Debug)]
pub struct Target {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

#[derive(clap::Subcommand, Debug)]
pub enum Clients {
    /// Every registered client (never a secret), from the published read model.
    List(Target),
    /// Register a client; its secret is printed once.
    Create {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        name: String,
        /// A scope it may request (repeat for several).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Token lifetime in seconds (default: the domain's).
        #[arg(long)]
        token_ttl: Option<i64>,
        /// The team that owns it (a key of spec.portal.teams).
        #[arg(long)]
        team: Option<String>,
    },
    /// Delete a client: its secrets stop working within the read model's bound (about
    /// 5 s). Refused for clients the manifest or the operator manage.
    Delete {
        #[command(flatten)]
        target: Target,
        client_id: String,
    },
}

#[derive(clap::Subcommand, Debug)]
pub enum Apis {
    /// Every resource server and its scopes, from the published read model.
    List(Target),
}

#[derive(clap::Subcommand, Debug)]
pub enum Keys {
    /// The signing keys and their states (public parts only), from the published read model.
    List(Target),
    /// Rotate the signing keys (next → active → retired); `--force` even when not due.
    Rotate {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        force: bool,
    },
}

/// The domain's AWS clients and name.
async fn domain(aws_args: &AwsArgs, target: &Target) -> anyhow::Result<(Aws, String)> {
    let m = load(&target.file)?;
    let aws = connect(aws_args, &m).await;
    Ok((aws, m.metadata.name))
}

/// What the domain's function last published.
async fn snapshot(aws: &Aws, domain: &str) -> anyhow::Result<Snapshot> {
    match registrations::published(aws, domain).await? {
        Some(s) => Ok(s),
        None => bail!(
            "`{domain}` has no published read model yet (no function, or a database nobody \
             prepared): run `authdomain bootstrap` first"
        ),
    }
}

/// Print `rows` as JSON, or as tab-separated `columns` for people.
fn print(output: Output, rows: &[Value], columns: &[&str]) {
    match output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("JSON values")
        ),
        Output::Text => {
            println!("{}", columns.join("\t").to_uppercase());
            for r in rows {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|c| match &r[*c] {
                        Value::Null => "-".to_owned(),
                        Value::String(s) => s.clone(),
                        Value::Array(a) => a
                            .iter()
                            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                            .collect::<Vec<_>>()
                            .join(" "),
                        v => v.to_string(),
                    })
                    .collect();
                println!("{}", cells.join("\t"));
            }
        }
    }
}

pub async fn clients(aws_args: &AwsArgs, command: Clients) -> anyhow::Result<ExitCode> {
    match command {
        Clients::List(target) => {
            let (aws, name) = domain(aws_args, &target).await?;
            let rows: Vec<Value> = snapshot(&aws, &name)
                .await?
                .clients
                .iter()
                .map(|c| {
                    json!({
                        "client_id": c.id, "name": c.name, "auth_method": c.method,
                        "scopes": c.scopes, "token_ttl_seconds": c.ttl, "team": c.team,
                        "managed_by": c.managed_by,
                    })
                })
                .collect();
            print(
                target.output,
                &rows,
                &["client_id", "name", "scopes", "managed_by"],
            );
        }
        Clients::Create {
            target,
            name,
            scopes,
            token_ttl,
            team,
        } => {
            let (aws, domain_name) = domain(aws_args, &target).await?;
            let event = ManagementEvent::CreateClient {
                client: ClientInput {
                    name,
                    scopes,
                    token_ttl_seconds: token_ttl,
                    team,
                    ..ClientInput::default()
                },
            };
            let created = function::invoke_management(&aws, &domain_name, &event).await?;
            match target.output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&created)?),
                Output::Text => {
                    println!(
                        "client_id      {}",
                        created["client_id"].as_str().unwrap_or("-")
                    );
                    if let Some(secret) = created["client_secret"].as_str() {
                        println!("client_secret  {secret}");
                        eprintln!("the secret is shown once: keep it now");
                    }
                }
            }
        }
        Clients::Delete { target, client_id } => {
            let (aws, name) = domain(aws_args, &target).await?;
            let held = snapshot(&aws, &name).await?;
            let Some(c) = held.clients.iter().find(|c| c.id == client_id) else {
                bail!("`{name}` has no client `{client_id}` (its published read model)");
            };
            if let Some(owner) = &c.managed_by {
                bail!(
                    "client `{client_id}` ({}) is managed by {owner}: change it there (a \
                     manifest's client goes when removed from spec.clients and applied)",
                    c.name
                );
            }
            function::invoke_management(
                &aws,
                &name,
                &ManagementEvent::DeleteClient {
                    client_id: client_id.clone(),
                },
            )
            .await?;
            if target.output == Output::Json {
                println!("{}", json!({ "deleted": client_id }));
            } else {
                println!("client {client_id} deleted");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn apis(aws_args: &AwsArgs, command: Apis) -> anyhow::Result<ExitCode> {
    let Apis::List(target) = command;
    let (aws, name) = domain(aws_args, &target).await?;
    let rows: Vec<Value> = snapshot(&aws, &name)
        .await?
        .resource_servers
        .iter()
        .map(|r| {
            json!({
                "identifier": r.identifier, "name": r.name,
                "scopes": r.scopes.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                "scope_descriptions": r.scopes.iter().map(|(n, d)| json!({"name": n, "description": d})).collect::<Vec<_>>(),
                "team": r.team, "managed_by": r.managed_by,
            })
        })
        .collect();
    print(
        target.output,
        &rows,
        &["identifier", "name", "scopes", "managed_by"],
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn keys(aws_args: &AwsArgs, command: Keys) -> anyhow::Result<ExitCode> {
    match command {
        Keys::List(target) => {
            let (aws, name) = domain(aws_args, &target).await?;
            let rows: Vec<Value> = snapshot(&aws, &name)
                .await?
                .keys
                .iter()
                .map(|k| {
                    json!({
                        "kid": k.kid, "alg": k.alg, "state": k.state, "created_at": k.created,
                        "activated_at": k.activated, "retired_at": k.retired, "expires_at": k.expires,
                    })
                })
                .collect();
            print(target.output, &rows, &["kid", "alg", "state", "created_at"]);
        }
        Keys::Rotate { target, force } => {
            let (aws, name) = domain(aws_args, &target).await?;
            let result =
                function::invoke_management(&aws, &name, &ManagementEvent::RotateKeys { force })
                    .await?;
            println!("{}", serde_json::to_string_pretty(&result)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
