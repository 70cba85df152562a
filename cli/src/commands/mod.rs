//! The `authdomain` command line: the arguments shared by every command (how to reach
//! AWS), one module per command, and `input` for what they share (reading manifests,
//! connecting, asking before changing anything).

mod admin;
mod apply;
mod bootstrap;
mod cost;
mod destroy;
mod dev;
mod drift;
mod image;
mod input;
mod outputs;
mod plan;
pub mod progress;
mod token;
mod validate;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "authdomain",
    version,
    about = "Converge an AuthDomain manifest into AWS"
)]
pub struct Cli {
    #[command(flatten)]
    aws: AwsArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct AwsArgs {
    /// AWS region (default: the manifest's `spec.region`).
    #[arg(long, global = true, env = "AWS_REGION")]
    region: Option<String>,
    /// Named profile from the AWS config files.
    #[arg(long, global = true, env = "AWS_PROFILE")]
    profile: Option<String>,
    /// Send every AWS call to this endpoint (an emulator such as moto).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// Push and read images at this OCI registry instead of the ECR repository's host
    /// (`http://127.0.0.1:5000` for a local registry; a mirror). ECR's token still
    /// authenticates.
    #[arg(long, global = true, env = "AUTHDOMAIN_REGISTRY_URL")]
    registry_url: Option<String>,
    /// moto only: the account to act in (`x-moto-account-id`).
    #[arg(long, global = true, env = "AUTHDOMAIN_MOTO_ACCOUNT", hide = true)]
    moto_account: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a manifest: every problem with its field path, line and column.
    Validate(validate::Args),
    /// Show what `apply` would change, per resource and field, and why.
    Plan(plan::Args),
    /// Estimate what the domain costs: itemised while idle, per million tokens, and what
    /// each non-default option adds, from the committed price table (no AWS call).
    Cost(cost::Args),
    /// Converge AWS to the manifest: show the plan, ask, act in dependency order.
    Apply(apply::Args),
    /// Report where AWS differs from the manifest. Exit 0: in sync, 2: drift, 1: error.
    /// Several `-f` files are checked together, the network of all of them with one
    /// describe per resource type.
    Drift(drift::Args),
    /// What the deployed domain exposes (endpoints, ARNs); `--output json` for scripts.
    Outputs(outputs::Args),
    /// Run the domain's auth server on this machine (SQLite, no AWS) with the spec's resource
    /// servers and clients; print their credentials and a curl that gets a token.
    Dev(dev::Args),
    /// Everything in one command: the image repository, the auth server image (built and
    /// pushed), the rest of the infrastructure, the database's login role, migrations, the
    /// admin client and the spec's resource servers and clients (credentials kept in
    /// Secrets Manager). Running it again changes nothing.
    Bootstrap(bootstrap::Args),
    /// The auth server image: assemble it from a binary and push it to the domain's
    /// repository (prints the digest to pin in `spec.image.digest`).
    Image {
        #[command(subcommand)]
        command: image::Command,
    },
    /// Delete everything tagged for the domain, in reverse dependency order.
    Destroy(destroy::Args),
    /// The deployed domain's clients: list (from the published read model: the database
    /// stays asleep), create, delete.
    Clients {
        #[command(subcommand)]
        command: admin::Clients,
    },
    /// The deployed domain's resource servers (APIs) and their scopes.
    Apis {
        #[command(subcommand)]
        command: admin::Apis,
    },
    /// The deployed domain's signing keys: list, rotate.
    Keys {
        #[command(subcommand)]
        command: admin::Keys,
    },
    /// Access tokens, for people debugging them: `verify` one as a resource server
    /// would, `get` one from a domain.
    Token {
        #[command(subcommand)]
        command: token::Command,
    },
}

/// Text for people, JSON for scripts.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Text,
    Json,
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let aws = &cli.aws;
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Plan(args) => plan::run(aws, args).await,
        Command::Cost(args) => cost::run(args),
        Command::Apply(args) => apply::run(aws, args).await,
        Command::Drift(args) => drift::run(aws, args).await,
        Command::Outputs(args) => outputs::run(aws, args).await,
        Command::Dev(args) => dev::run(args).await,
        Command::Bootstrap(args) => bootstrap::run(aws, args).await,
        Command::Image { command } => image::run(aws, command).await,
        Command::Destroy(args) => destroy::run(aws, args).await,
        Command::Token { command } => token::run(aws, command).await,
        Command::Clients { command } => admin::clients(aws, command).await,
        Command::Apis { command } => admin::apis(aws, command).await,
        Command::Keys { command } => admin::keys(aws, command).await,
    }
}
