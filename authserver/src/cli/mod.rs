//! The `authserver` command line: arguments (every flag also reads an environment
//! variable), then one module per kind of command: `serve` (HTTP server or Lambda),
//! `manage` (clients, resource servers, keys), and `config` (settings, KEK, database).

mod config;
mod manage;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use authserver::keys::Algorithm;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "authserver",
    version,
    about = "AuthDomain OAuth 2.0 client-credentials / OIDC server"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    /// Without a command: `serve` (or Lambda mode when AWS_LAMBDA_RUNTIME_API is set).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Database: `sqlite://PATH` (embedded default) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "AUTHSERVER_DATABASE_URL",
        default_value = "sqlite://authserver.db",
        global = true
    )]
    pub database_url: String,
    /// Issuer identifier: the exact public base URL (default: http://<listen address>).
    #[arg(long, env = "AUTHSERVER_ISSUER", global = true)]
    pub issuer: Option<String>,
    /// Key-encryption key, 32 bytes base64 (e.g. `openssl rand -base64 32`).
    #[arg(long, env = "AUTHSERVER_KEK", hide_env_values = true, global = true)]
    pub kek: Option<String>,
    /// File holding the key-encryption key (base64). With SQLite and neither option,
    /// `<database>.kek` is used and created on first start.
    #[arg(long, env = "AUTHSERVER_KEK_FILE", global = true)]
    pub kek_file: Option<PathBuf>,
    /// Access token signing algorithm.
    #[arg(
        long,
        env = "AUTHSERVER_SIGNING_ALG",
        default_value = "RS256",
        global = true
    )]
    pub signing_alg: Algorithm,
    /// Default access token lifetime in seconds.
    #[arg(
        long,
        env = "AUTHSERVER_TOKEN_TTL",
        default_value_t = 3600,
        global = true
    )]
    pub token_ttl: i64,
    /// Maximum access token lifetime; retired keys stay published this long.
    #[arg(
        long,
        env = "AUTHSERVER_MAX_TOKEN_TTL",
        default_value_t = 86_400,
        global = true
    )]
    pub max_token_ttl: i64,
    /// Seconds a client or catalogue read may be served from this instance's cache.
    #[arg(long, env = "AUTHSERVER_CACHE_TTL", default_value_t = 5, global = true)]
    pub cache_ttl: u64,
    /// Seconds a request keeps retrying an unavailable database before answering 503.
    #[arg(
        long,
        env = "AUTHSERVER_DB_RETRY_SECONDS",
        default_value_t = 20,
        global = true
    )]
    pub db_retry_seconds: u64,
    /// Server mode behind a reverse proxy: the proxies' addresses or CIDRs (comma
    /// separated). A request from one of them is attributed to the right-most
    /// `X-Forwarded-For` address that is not a trusted proxy; from anyone else, to its TCP
    /// peer. Without it `X-Forwarded-For` is ignored. (On Lambda, API Gateway's `sourceIp`.)
    #[arg(
        long,
        env = "AUTHSERVER_TRUSTED_PROXIES",
        value_delimiter = ',',
        value_parser = parse_net,
        global = true
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// PostgreSQL: authenticate with IAM database authentication (Aurora); the region comes
    /// from AWS_REGION and the credentials from the environment (the Lambda role's).
    #[arg(long, env = "AUTHSERVER_DATABASE_IAM_AUTH", global = true)]
    pub database_iam_auth: bool,
    /// Maximum database connections per instance.
    #[arg(
        long,
        env = "AUTHSERVER_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    pub db_max_connections: u32,
    /// Serve the token path from the published read model at `s3://BUCKET/PREFIX` (in
    /// AWS_REGION, with the environment's credentials) instead of the database, and
    /// publish it after every change. What `authdomain` deploys on Lambda.
    #[arg(long, env = "AUTHSERVER_READ_MODEL", global = true)]
    pub read_model: Option<String>,
    /// Log format (default: json on Lambda, text elsewhere). Levels via RUST_LOG.
    #[arg(long, env = "AUTHSERVER_LOG_FORMAT", global = true)]
    pub log_format: Option<LogFormat>,
    #[command(flatten)]
    pub portal: PortalArgs,
}

/// The self-serve portal (`/portal`): people sign in with an OpenID Connect provider.
#[derive(Args, Debug, Clone, Default)]
pub struct PortalArgs {
    /// The provider's issuer (e.g. https://login.microsoftonline.com/TENANT/v2.0). Register
    /// `<issuer>/portal/callback` as the redirect URI there.
    #[arg(long, env = "AUTHSERVER_PORTAL_ISSUER", global = true)]
    pub portal_issuer: Option<String>,
    /// The portal's client id at the provider.
    #[arg(long, env = "AUTHSERVER_PORTAL_CLIENT_ID", global = true)]
    pub portal_client_id: Option<String>,
    /// A file holding the portal's client secret.
    #[arg(long, env = "AUTHSERVER_PORTAL_CLIENT_SECRET_FILE", global = true)]
    pub portal_client_secret_file: Option<PathBuf>,
    /// A Secrets Manager secret (ARN or name) holding the client secret, read at start with
    /// the environment's AWS credentials (on Lambda, the function's role).
    #[arg(long, env = "AUTHSERVER_PORTAL_CLIENT_SECRET_ARN", global = true)]
    pub portal_client_secret_arn: Option<String>,
    /// Scopes to request, space-separated.
    #[arg(
        long,
        env = "AUTHSERVER_PORTAL_SCOPES",
        default_value = "openid profile email",
        global = true
    )]
    pub portal_scopes: String,
    /// The ID token claim that lists a person's groups.
    #[arg(
        long,
        env = "AUTHSERVER_PORTAL_GROUPS_CLAIM",
        default_value = "groups",
        global = true
    )]
    pub portal_groups_claim: String,
    /// Groups whose members are admins, comma-separated.
    #[arg(
        long,
        env = "AUTHSERVER_PORTAL_ADMIN_GROUPS",
        default_value = "",
        global = true
    )]
    pub portal_admin_groups: String,
    /// Teams and their groups: `payments=payments-devs,payments-ops;search=search-devs`.
    #[arg(
        long,
        env = "AUTHSERVER_PORTAL_TEAMS",
        default_value = "",
        global = true
    )]
    pub portal_teams: String,
    /// How long a portal session lasts, in minutes.
    #[arg(
        long,
        env = "AUTHSERVER_PORTAL_SESSION_MINUTES",
        default_value_t = 480,
        global = true
    )]
    pub portal_session_minutes: u64,
    /// The provider's name on the sign-in button (default: its host).
    #[arg(long, env = "AUTHSERVER_PORTAL_PROVIDER_NAME", global = true)]
    pub portal_provider_name: Option<String>,
    /// The name shown in the portal's header.
    #[arg(
        long,
        env = "AUTHSERVER_PORTAL_DOMAIN_NAME",
        default_value = "AuthDomain",
        global = true
    )]
    pub portal_domain_name: String,
    /// Development sign-in (pick a name and role, no provider): only with a loopback issuer,
    /// and accepted from loopback addresses only.
    #[arg(long, env = "AUTHSERVER_PORTAL_DEV_SIGN_IN", global = true)]
    pub portal_dev_sign_in: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (runs `migrate` first unless --no-migrate).
    Serve {
        #[arg(long, env = "AUTHSERVER_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Do not apply migrations or create missing keys at start.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply database migrations and create missing signing keys.
    Migrate,
    /// Admin clients (holding the `authdomain:admin` scope).
    #[command(subcommand)]
    AdminClient(AdminClientCommand),
    /// OAuth clients.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Resource servers (APIs) and their scopes.
    #[command(subcommand, name = "resource-servers")]
    ResourceServers(ResourceServersCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Publish the read model (AUTHSERVER_READ_MODEL) when it is behind the database, and
    /// print where publication stands as JSON.
    Publish,
}

#[derive(Subcommand, Debug)]
pub enum AdminClientCommand {
    /// Create an admin client and print its credentials (shown once).
    Create {
        #[arg(long, default_value = "admin")]
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientsCommand {
    /// Register a client and print its id and secret (the secret is shown once).
    Create {
        #[arg(long)]
        name: String,
        /// Allowed scope (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Default scope when a request names none (repeatable; default: all allowed).
        #[arg(long = "default-scope")]
        default_scopes: Vec<String>,
        #[arg(long)]
        client_id: Option<String>,
        #[arg(long)]
        token_ttl: Option<i64>,
        #[arg(long, default_value = "client_secret_basic")]
        auth_method: String,
        /// JWKS URI for private_key_jwt.
        #[arg(long)]
        jwks_uri: Option<String>,
        /// File with the client's public JWKS for private_key_jwt.
        #[arg(long)]
        jwks_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Delete {
        client_id: String,
    },
    /// Add a second secret (rotation); both work until one is revoked.
    AddSecret {
        client_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke one of a client's secrets.
    RevokeSecret {
        client_id: String,
        secret_id: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum ResourceServersCommand {
    /// Create a resource server (API) with scopes.
    Create {
        /// Absolute URI; becomes the `aud` of tokens with its scopes.
        #[arg(long)]
        identifier: String,
        #[arg(long)]
        name: Option<String>,
        /// Scope name (repeatable), optionally `name=description`.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// The owning team (its members manage the API in the portal).
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Delete {
        identifier: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Promote the pre-published next key to active; retire the current one.
    Rotate {
        /// Rotate even if the next key was published less than the JWKS cache lifetime ago.
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

impl Cli {
    /// Lambda mode: the runtime API is set and the command serves (or there is none).
    pub fn lambda_mode(&self) -> bool {
        authserver::lambda::detected() && matches!(self.command, None | Some(Command::Serve { .. }))
    }
}

pub fn init_logging(cli: &Cli, lambda: bool) {
    use tracing_subscriber::EnvFilter;
    let serving = lambda || matches!(cli.command, None | Some(Command::Serve { .. }));
    let default = if serving { "info,sqlx=warn" } else { "warn" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let json = cli
        .global
        .log_format
        .map_or(lambda, |f| f == LogFormat::Json);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().with_current_span(false).init();
    } else {
        builder.init();
    }
}

pub async fn run(cli: Cli, lambda: bool) -> anyhow::Result<()> {
    let g = &cli.global;
    let command = cli.command.unwrap_or(Command::Serve {
        listen: "127.0.0.1:8080".parse()?,
        no_migrate: false,
    });
    if lambda {
        let issuer = g
            .issuer
            .clone()
            .context("AUTHSERVER_ISSUER must be set in Lambda mode (the API's public URL)")?;
        let authority = config::authority(g, issuer).await?;
        if std::env::var("AUTHSERVER_PREPARE_ON_START").is_ok_and(|v| v == "true") {
            authority.prepare().await?;
        }
        return authserver::lambda::run(authority)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"));
    }
    match command {
        Command::Serve { listen, no_migrate } => serve::serve(g, listen, no_migrate).await,
        Command::Migrate => {
            let a = config::authority(g, "http://127.0.0.1:8080".into()).await?;
            a.prepare().await?;
            eprintln!(
                "database migrated; signing keys ready ({})",
                a.settings().signing_alg
            );
            Ok(())
        }
        Command::Publish => {
            let a = config::authority(g, "http://127.0.0.1:8080".into()).await?;
            if !a.reads_published() {
                anyhow::bail!(
                    "no read model to publish: set AUTHSERVER_READ_MODEL (s3://BUCKET/PREFIX)"
                );
            }
            a.prepare().await?;
            a.publish_if_behind().await?;
            println!(
                "{}",
                serde_json::to_string_pretty(&a.read_model_status().await?)?
            );
            Ok(())
        }
        other => {
            let a = config::authority(g, "http://127.0.0.1:8080".into()).await?;
            a.prepare().await?;
            manage::run(&a, other).await
        }
    }
}

/// An address (`10.0.0.5`, a /32 or /128) or a CIDR (`10.0.0.0/8`).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}`: expected an IP address or a CIDR such as 10.0.0.0/8"))
}
