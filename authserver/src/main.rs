//! `authserver`: serve (HTTP or AWS Lambda, chosen from the environment) and operate the
//! AuthDomain auth server from the command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use authserver::keys::{Algorithm, Kek};
use authserver::registry::{ClientInput, ResourceServerInput, ScopeInput};
use authserver::store::{Store, StoreOptions, redact_url};
use authserver::{Authority, Settings};
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "authserver",
    version,
    about = "AuthDomain OAuth 2.0 client-credentials / OIDC server"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    /// Without a command: `serve` (or Lambda mode when AWS_LAMBDA_RUNTIME_API is set).
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Args, Debug, Clone)]
struct Global {
    /// Database: `sqlite://PATH` (embedded default) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "AUTHSERVER_DATABASE_URL",
        default_value = "sqlite://authserver.db",
        global = true
    )]
    database_url: String,
    /// Issuer identifier: the exact public base URL (default: http://<listen address>).
    #[arg(long, env = "AUTHSERVER_ISSUER", global = true)]
    issuer: Option<String>,
    /// Key-encryption key, 32 bytes base64 (e.g. `openssl rand -base64 32`).
    #[arg(long, env = "AUTHSERVER_KEK", hide_env_values = true, global = true)]
    kek: Option<String>,
    /// File holding the key-encryption key (base64). With SQLite and neither option,
    /// `<database>.kek` is used and created on first start.
    #[arg(long, env = "AUTHSERVER_KEK_FILE", global = true)]
    kek_file: Option<PathBuf>,
    /// Access token signing algorithm.
    #[arg(
        long,
        env = "AUTHSERVER_SIGNING_ALG",
        default_value = "RS256",
        global = true
    )]
    signing_alg: Algorithm,
    /// Default access token lifetime in seconds.
    #[arg(
        long,
        env = "AUTHSERVER_TOKEN_TTL",
        default_value_t = 3600,
        global = true
    )]
    token_ttl: i64,
    /// Maximum access token lifetime; retired keys stay published this long.
    #[arg(
        long,
        env = "AUTHSERVER_MAX_TOKEN_TTL",
        default_value_t = 86_400,
        global = true
    )]
    max_token_ttl: i64,
    /// Seconds a client or catalogue read may be served from this instance's cache.
    #[arg(long, env = "AUTHSERVER_CACHE_TTL", default_value_t = 5, global = true)]
    cache_ttl: u64,
    /// Seconds a request keeps retrying an unavailable database before answering 503.
    #[arg(
        long,
        env = "AUTHSERVER_DB_RETRY_SECONDS",
        default_value_t = 20,
        global = true
    )]
    db_retry_seconds: u64,
    /// PostgreSQL: authenticate with IAM database authentication (Aurora); the region comes
    /// from AWS_REGION and the credentials from the environment (the Lambda role's).
    #[arg(long, env = "AUTHSERVER_DATABASE_IAM_AUTH", global = true)]
    database_iam_auth: bool,
    /// Maximum database connections per instance.
    #[arg(
        long,
        env = "AUTHSERVER_DB_MAX_CONNECTIONS",
        default_value_t = 10,
        global = true
    )]
    db_max_connections: u32,
    /// Log format (default: json on Lambda, text elsewhere). Levels via RUST_LOG.
    #[arg(long, env = "AUTHSERVER_LOG_FORMAT", global = true)]
    log_format: Option<LogFormat>,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
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
}

#[derive(Subcommand, Debug)]
enum AdminClientCommand {
    /// Create an admin client and print its credentials (shown once).
    Create {
        #[arg(long, default_value = "admin")]
        name: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ClientsCommand {
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
enum ResourceServersCommand {
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
enum KeysCommand {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let lambda =
        authserver::lambda::detected() && matches!(cli.command, None | Some(Command::Serve { .. }));
    init_logging(&cli, lambda);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, lambda)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cli: &Cli, lambda: bool) {
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

fn resolve_kek(g: &Global) -> anyhow::Result<Kek> {
    if let Some(text) = &g.kek {
        return Kek::from_base64(text).context("AUTHSERVER_KEK");
    }
    if let Some(path) = &g.kek_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the KEK file {}", path.display()))?;
        return Kek::from_base64(&text).with_context(|| format!("the KEK file {}", path.display()));
    }
    if let Some(db_path) = sqlite_file(&g.database_url) {
        let path = PathBuf::from(format!("{}.kek", db_path.display()));
        if !path.exists() {
            write_private(&path, &Kek::generate_base64())?;
            tracing::warn!(path = %path.display(), "created a key-encryption key beside the SQLite database; keep it with the database");
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        return Kek::from_base64(&text).with_context(|| format!("the KEK file {}", path.display()));
    }
    if g.database_url.starts_with("sqlite:") {
        // In-memory database: its keys die with the process, so can the KEK.
        return Ok(Kek::from_base64(&Kek::generate_base64())?);
    }
    bail!(
        "a key-encryption key is required with {}: set AUTHSERVER_KEK or AUTHSERVER_KEK_FILE",
        redact_url(&g.database_url)
    )
}

fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

async fn authority(g: &Global, default_issuer: String) -> anyhow::Result<Arc<Authority>> {
    let mut settings = Settings::new(g.issuer.clone().unwrap_or(default_issuer));
    settings.signing_alg = g.signing_alg;
    settings.default_token_ttl = g.token_ttl;
    settings.max_token_ttl = g.max_token_ttl;
    settings.cache_ttl = Duration::from_secs(g.cache_ttl);
    settings.db_retry_deadline = Duration::from_secs(g.db_retry_seconds);
    settings
        .validate()
        .map_err(anyhow::Error::msg)
        .context("AUTHSERVER_ISSUER / --issuer")?;
    let kek = resolve_kek(g)?;
    let iam_auth_region = if g.database_iam_auth {
        Some(std::env::var("AWS_REGION").context("AUTHSERVER_DATABASE_IAM_AUTH needs AWS_REGION")?)
    } else {
        None
    };
    let options = StoreOptions {
        max_connections: g.db_max_connections,
        iam_auth_region,
        ..StoreOptions::default()
    };
    let store = Store::open(&g.database_url, &options).await?;
    Ok(Arc::new(Authority::new(store, kek, settings)))
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("serialisable")
    );
}

async fn run(cli: Cli, lambda: bool) -> anyhow::Result<()> {
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
        let authority = authority(g, issuer).await?;
        if std::env::var("AUTHSERVER_PREPARE_ON_START").is_ok_and(|v| v == "true") {
            authority.prepare().await?;
        }
        return authserver::lambda::run(authority)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"));
    }
    match command {
        Command::Serve { listen, no_migrate } => serve(g, listen, no_migrate).await,
        Command::Migrate => {
            let a = authority(g, "http://127.0.0.1:8080".into()).await?;
            a.prepare().await?;
            eprintln!(
                "database migrated; signing keys ready ({})",
                a.settings().signing_alg
            );
            Ok(())
        }
        other => {
            let a = authority(g, "http://127.0.0.1:8080".into()).await?;
            a.prepare().await?;
            manage(&a, other).await
        }
    }
}

async fn serve(g: &Global, listen: SocketAddr, no_migrate: bool) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let authority = authority(g, format!("http://{listen}")).await?;
    if !no_migrate {
        authority.prepare().await?;
    }
    // Load keys now so the first request does not pay for it (non-fatal: the database may be resuming).
    if let Err(e) = authority.keyring().await {
        tracing::warn!(error = %e, "signing keys not loaded yet; will retry on first request");
    }
    let metrics = install_metrics();
    let app = authserver::http::router(authority.clone(), metrics);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    tracing::info!(
        listen = %listener.local_addr()?,
        issuer = %authority.settings().issuer,
        database = %redact_url(&g.database_url),
        alg = %authority.settings().signing_alg,
        startup_ms = started.elapsed().as_millis() as u64,
        "authserver listening"
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    authority.store().close().await;
    tracing::info!("authserver stopped");
    Ok(())
}

/// Prometheus recorder with fixed histogram buckets (cheap counters, no per-sample
/// storage) and a periodic upkeep task.
fn install_metrics() -> Option<metrics_exporter_prometheus::PrometheusHandle> {
    const BUCKETS: [f64; 12] = [
        0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
    ];
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .ok()?
        .install_recorder()
        .ok()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Some(handle)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}

async fn manage(a: &Authority, command: Command) -> anyhow::Result<()> {
    match command {
        Command::AdminClient(AdminClientCommand::Create { name, json }) => {
            let c = a.create_admin_client(&name).await?;
            if json {
                print_json(&c);
            } else {
                println!("client_id:     {}", c.client.client_id);
                println!("client_secret: {}", c.client_secret.unwrap_or_default());
                println!("scope:         authdomain:admin (shown once: store the secret now)");
            }
        }
        Command::Clients(ClientsCommand::Create {
            name,
            scopes,
            default_scopes,
            client_id,
            token_ttl,
            auth_method,
            jwks_uri,
            jwks_file,
            json,
        }) => {
            let jwks = match jwks_file {
                Some(p) => Some(
                    serde_json::from_str(
                        &std::fs::read_to_string(&p)
                            .with_context(|| format!("reading {}", p.display()))?,
                    )
                    .with_context(|| format!("{} is not JSON", p.display()))?,
                ),
                None => None,
            };
            let c = a
                .create_client(ClientInput {
                    client_id,
                    name,
                    scopes,
                    default_scopes: (!default_scopes.is_empty()).then_some(default_scopes),
                    token_ttl_seconds: token_ttl,
                    token_endpoint_auth_method: Some(auth_method),
                    jwks,
                    jwks_uri,
                    grant_types: None,
                })
                .await?;
            if json {
                print_json(&c);
            } else {
                println!("client_id:     {}", c.client.client_id);
                if let Some(s) = &c.client_secret {
                    println!("client_secret: {s}   (shown once)");
                }
                println!("scopes:        {}", c.client.scopes.join(" "));
            }
        }
        Command::Clients(ClientsCommand::List { json }) => {
            let clients = a.list_clients().await?;
            if json {
                print_json(&clients);
            } else {
                for c in clients {
                    println!(
                        "{}\t{}\t{}\t{}",
                        c.client_id,
                        c.name,
                        c.token_endpoint_auth_method,
                        c.scopes.join(" ")
                    );
                }
            }
        }
        Command::Clients(ClientsCommand::Delete { client_id }) => {
            a.delete_client(&client_id).await?;
            eprintln!("deleted client {client_id}");
        }
        Command::Clients(ClientsCommand::AddSecret { client_id, json }) => {
            let s = a.add_client_secret(&client_id).await?;
            if json {
                print_json(&s);
            } else {
                println!("secret_id:     {}", s.secret_id);
                println!("client_secret: {}   (shown once)", s.client_secret);
            }
        }
        Command::Clients(ClientsCommand::RevokeSecret {
            client_id,
            secret_id,
        }) => {
            a.revoke_client_secret(&client_id, &secret_id).await?;
            eprintln!("revoked secret {secret_id} of client {client_id}");
        }
        Command::ResourceServers(ResourceServersCommand::Create {
            identifier,
            name,
            scopes,
            json,
        }) => {
            let scopes = scopes
                .iter()
                .map(|s| match s.split_once('=') {
                    Some((n, d)) => ScopeInput {
                        name: n.to_owned(),
                        description: d.to_owned(),
                    },
                    None => ScopeInput {
                        name: s.clone(),
                        description: String::new(),
                    },
                })
                .collect();
            let r = a
                .create_resource_server(ResourceServerInput {
                    identifier,
                    name,
                    scopes,
                })
                .await?;
            if json {
                print_json(&r);
            } else {
                println!(
                    "{}\t{}",
                    r.identifier,
                    r.scopes
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
        }
        Command::ResourceServers(ResourceServersCommand::List { json }) => {
            let list = a.list_resource_servers().await?;
            if json {
                print_json(&list);
            } else {
                for r in list {
                    println!(
                        "{}\t{}",
                        r.identifier,
                        r.scopes
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
            }
        }
        Command::ResourceServers(ResourceServersCommand::Delete { identifier }) => {
            a.delete_resource_server(&identifier).await?;
            eprintln!("deleted resource server {identifier}");
        }
        Command::Keys(KeysCommand::Rotate { force, json }) => {
            let k = a.rotate_signing_keys(force).await?;
            if json {
                print_json(&k);
            } else {
                println!("active key is now {} ({})", k.kid, k.alg);
            }
        }
        Command::Keys(KeysCommand::List { json }) => {
            let keys = a.list_keys().await?;
            if json {
                print_json(&keys);
            } else {
                for k in keys {
                    println!("{}\t{}\t{}", k.kid, k.alg, k.state);
                }
            }
        }
        Command::Serve { .. } | Command::Migrate => unreachable!("handled by run"),
    }
    Ok(())
}
