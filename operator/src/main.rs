//! `authdomain-operator`: the AuthDomain and OAuthClient controllers, behind leader
//! election, with metrics and health endpoints, structured logs and graceful shutdown.
// The reconcile future nests the provisioner's waits (apply → service → poll): its
// layout is deeper than rustc's default query depth of 128.
#![recursion_limit = "256"]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use operator::controllers::{self, Config, Context};
use operator::leader;
use operator::telemetry::{self, Metrics};

#[derive(Parser, Debug)]
#[command(
    name = "authdomain-operator",
    version,
    about = "Serve AuthDomain and OAuthClient resources"
)]
struct Args {
    /// The operator's namespace: AWS credentials Secrets and the leader Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "authdomain-system")]
    namespace: String,
    /// This replica's name in the leader Lease.
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Run without leader election (one replica only).
    #[arg(long)]
    no_leader_election: bool,
    /// Between drift checks of a domain (`30m`, `1h`, `45s`); jittered by up to 10%.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    drift_interval: Duration,
    /// Requests per second to each AWS service, across all domains.
    #[arg(long, default_value_t = 5.0)]
    aws_requests_per_second: f64,
    /// Serve /metrics, /healthz and /readyz here.
    #[arg(long, default_value = "0.0.0.0:8080")]
    metrics_addr: SocketAddr,
    /// Reach a domain's auth server at URL instead of its issuer: `DOMAIN=URL`
    /// (repeatable), for a private route to the API.
    #[arg(long = "auth-server-url", value_parser = parse_pair)]
    auth_server_urls: Vec<(String, String)>,
    /// Send every AWS call to this endpoint (an emulator such as moto).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    endpoint_url: Option<String>,
    /// moto only: the account to act in.
    #[arg(long, env = "AUTHDOMAIN_MOTO_ACCOUNT", hide = true)]
    moto_account: Option<String>,
    /// Read images at this OCI registry instead of the ECR repository's host.
    #[arg(long, env = "AUTHDOMAIN_REGISTRY_URL")]
    registry_url: Option<String>,
    /// `json` (default) or `text`.
    #[arg(long, env = "AUTHDOMAIN_LOG_FORMAT", default_value = "json")]
    log_format: String,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}`: expected a number and a unit (s, m, h)"))?;
    match unit {
        "s" => Ok(Duration::from_secs(n)),
        "m" | "" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("`{s}`: the unit must be s, m or h")),
    }
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| format!("`{s}`: expected DOMAIN=URL"))
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn,aws=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_format == "text" {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
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
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "the operator stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let client = kube::Client::try_default().await?;
    let metrics = Metrics::install();
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("authdomain-operator-{}", std::process::id()));
    let config = Config {
        namespace: args.namespace.clone(),
        drift_interval: args.drift_interval,
        aws_endpoint_url: args.endpoint_url.clone(),
        moto_account: args.moto_account.clone(),
        registry_url: args.registry_url.clone(),
        rate_limits: provisioner::aws::RateLimits::new(args.aws_requests_per_second),
        auth_server_urls: args
            .auth_server_urls
            .iter()
            .cloned()
            .collect::<BTreeMap<_, _>>(),
    };
    let ctx = Arc::new(Context::new(
        client.clone(),
        config,
        metrics.clone(),
        &identity,
    ));

    // Shutdown fans out to the controllers and the health server.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing reconciles in flight");
        let _ = stop_tx.send(true);
    });
    let health = tokio::spawn(telemetry::serve(
        args.metrics_addr,
        metrics.clone(),
        stopped(),
    ));

    let lease = leader::Settings::new(&args.namespace, &identity);
    let mut leading = if args.no_leader_election {
        tokio::sync::watch::channel(true).1
    } else {
        leader::spawn(client.clone(), lease.clone())
    };
    metrics.set_ready(true);
    tracing::info!(%identity, leader_election = !args.no_leader_election, "waiting to lead");
    tokio::select! {
        r = leading.wait_for(|l| *l) => { r?; }
        _ = stopped() => {
            let _ = health.await;
            return Ok(ExitCode::SUCCESS);
        }
    }
    metrics.set_leader(true);
    tracing::info!("running the AuthDomain and OAuthClient controllers");
    let lost = {
        let mut l = leading.clone();
        async move {
            let _ = l.wait_for(|l| !*l).await;
        }
    };
    let stop = {
        let s = stopped();
        async move {
            tokio::select! {
                _ = s => false,
                _ = lost => true,
            }
        }
    };
    let (stop_controllers, controllers_stopped) = tokio::sync::watch::channel(false);
    let until = move || {
        let mut rx = controllers_stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let domains = tokio::spawn(controllers::authdomain::run(ctx.clone(), until()));
    let clients = tokio::spawn(controllers::oauthclient::run(ctx.clone(), until()));
    let lost_leadership = stop.await;
    let _ = stop_controllers.send(true);
    let _ = domains.await;
    let _ = clients.await;
    metrics.set_leader(false);
    if lost_leadership {
        // Another replica may be acting already: stop now, the Deployment restarts us.
        tracing::error!("leadership lost; exiting");
        return Ok(ExitCode::FAILURE);
    }
    if !args.no_leader_election {
        let api = kube::Api::namespaced(client, &args.namespace);
        leader::release(&api, &lease).await;
    }
    let _ = health.await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}
