//! `authdomain dev`: the domain's auth server on this machine (SQLite, no AWS), its
//! clients' credentials printed with a curl that gets a token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use super::input::{load, write_private};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// Address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Also write the issuer and the clients' credentials here as JSON (mode 0600).
    #[arg(long)]
    credentials_file: Option<PathBuf>,
    /// Get one token with the first client that has a secret, print it, and stop.
    #[arg(long)]
    once: bool,
    /// How people sign in to the portal: `dev` (pick a name and role; loopback only) or
    /// `provider` (the spec's `portal` identity provider, secret from `clientSecret.file`).
    #[arg(long, value_enum, default_value = "dev")]
    sign_in: SignInMode,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum SignInMode {
    Dev,
    Provider,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let m = load(&args.file)?;
    // A fresh database each run, removed on exit: the credentials printed are the only ones.
    let dir = tempfile::Builder::new()
        .prefix("authdomain-dev-")
        .tempdir()
        .context("creating a directory for the local database")?;
    let sign_in = match args.sign_in {
        SignInMode::Dev => crate::dev::DevSignIn::Development,
        SignInMode::Provider => crate::dev::DevSignIn::Provider {
            manifest_dir: args
                .file
                .parent()
                .map(std::path::Path::to_path_buf)
                .unwrap_or_default(),
        },
    };
    let server = crate::dev::start(&m, dir.path(), args.listen, &sign_in).await?;
    println!(
        "AuthDomain `{}` running locally (SQLite, no AWS)",
        m.metadata.name
    );
    println!("  issuer          {}", server.issuer);
    println!("  token endpoint  {}", server.token_endpoint);
    println!(
        "  discovery       {}/.well-known/openid-configuration",
        server.issuer
    );
    println!(
        "  portal          {}  ({})",
        server.portal,
        match args.sign_in {
            SignInMode::Dev => "development sign-in: loopback only",
            SignInMode::Provider => "sign-in with the spec's identity provider",
        }
    );
    if server.clients.is_empty() {
        println!("  (the spec has no clients: add some under spec.clients)");
    }
    for c in &server.clients {
        println!(
            "  client {:<14} client_id={}  {}  scopes: {}",
            c.name,
            c.client_id,
            c.client_secret
                .as_deref()
                .map(|s| format!("client_secret={s}"))
                .unwrap_or_else(|| format!("({}: no secret)", c.auth_method)),
            c.scopes.join(" ")
        );
    }
    let first = server
        .clients
        .iter()
        .find(|c| c.client_secret.is_some())
        .cloned();
    if let Some(curl) = first.as_ref().and_then(|c| server.curl(c)) {
        println!("Get a token:\n  {curl}");
    }
    if let Some(path) = &args.credentials_file {
        let doc = serde_json::json!({
            "issuer": server.issuer,
            "token_endpoint": server.token_endpoint,
            "clients": server.clients,
        });
        write_private(path, &serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.once {
        let Some(client) = first else {
            bail!("--once needs a client with a secret in spec.clients");
        };
        let token_endpoint = server.token_endpoint.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(async {
            stopped.await.ok();
        }));
        let mut form = vec![("grant_type", "client_credentials".to_owned())];
        if !client.scopes.is_empty() {
            form.push(("scope", client.scopes.join(" ")));
        }
        let response = reqwest::Client::new()
            .post(&token_endpoint)
            .basic_auth(&client.client_id, client.client_secret.as_deref())
            .form(&form)
            .send()
            .await
            .context("requesting a token")?;
        let status = response.status();
        let body = response.text().await?;
        stop.send(()).ok();
        serving.await??;
        if !status.is_success() {
            bail!("the token endpoint answered {status}: {body}");
        }
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Press Ctrl-C to stop (the local database is thrown away).");
    server
        .serve(async {
            tokio::signal::ctrl_c().await.ok();
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}
