//! `authdomain token verify | get`: for people debugging tokens. `verify` runs the same
//! verifier resource servers use (authdomain-verifier) and prints the verified claims or
//! the reason for refusal (exit 0 accepted, 1 refused, 2 usage); `get` fetches a token
//! from a domain's token endpoint, with a spec client's credentials from Secrets Manager
//! or with ones given.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use authdomain_verifier::{Config, Verifier};
use clap::Subcommand;

use super::input::{connect, load};
use super::{AwsArgs, Output};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Verify an access token as a resource server would: signature by the issuer's
    /// published keys, `typ`, issuer, audience, times and scopes. Exit 0: accepted, 1:
    /// refused (the reason is printed), 2: usage error.
    Verify {
        /// The issuer (the tokens' `iss`); its keys come from its metadata.
        #[arg(long)]
        issuer: String,
        /// The resource server identifier the token must be for (`aud`).
        #[arg(long)]
        audience: String,
        /// A scope the token must carry (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Clock skew allowed, in seconds.
        #[arg(long, default_value_t = 30)]
        leeway: u64,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
        /// The token, or `-` to read it from standard input.
        token: String,
    },
    /// Get an access token from a domain's token endpoint (client credentials).
    Get {
        /// The domain's manifest: its token endpoint comes from AWS (`authdomain outputs`).
        #[arg(short = 'f', long = "file", required_unless_present = "token_url")]
        file: Option<PathBuf>,
        /// A client of the spec (`spec.clients[].name`): its credentials are read from
        /// Secrets Manager, where bootstrap keeps them.
        #[arg(long, conflicts_with_all = ["client_id", "client_secret"])]
        client: Option<String>,
        #[arg(long, requires = "client_secret")]
        client_id: Option<String>,
        #[arg(
            long,
            env = "AUTHDOMAIN_CLIENT_SECRET",
            hide_env_values = true,
            requires = "client_id"
        )]
        client_secret: Option<String>,
        /// The token endpoint, instead of the one the domain's outputs name.
        #[arg(long)]
        token_url: Option<String>,
        /// Scopes to ask for (default: the client's default scopes).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
}

pub async fn run(aws_args: &AwsArgs, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Verify {
            issuer,
            audience,
            scopes,
            leeway,
            output,
            token,
        } => verify(issuer, audience, scopes, leeway, output, token).await,
        Command::Get {
            file,
            client,
            client_id,
            client_secret,
            token_url,
            scopes,
            output,
        } => {
            let (id, secret, url) =
                credentials(aws_args, file, client, client_id, client_secret, token_url).await?;
            get(&id, &secret, &url, &scopes, output).await
        }
    }
}

async fn verify(
    issuer: String,
    audience: String,
    scopes: Vec<String>,
    leeway: u64,
    output: Output,
    token: String,
) -> anyhow::Result<ExitCode> {
    let token = if token == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the token from standard input")?;
        s.trim().to_owned()
    } else {
        token
    };
    let config = Config::new(issuer, audience).leeway(std::time::Duration::from_secs(leeway));
    let verifier = match Verifier::remote(config) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: --issuer: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    let wanted: Vec<&str> = scopes.iter().map(String::as_str).collect();
    match verifier.verify_for(&token, &wanted).await {
        Ok(t) => {
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "valid": true,
                        "kid": t.key_id,
                        "alg": t.algorithm.as_str(),
                        "claims": t.claims,
                    }))?
                ),
                Output::Text => {
                    println!("valid access token ({} key {})", t.algorithm, t.key_id);
                    println!("  client_id  {}", t.client_id);
                    println!("  subject    {}", t.subject);
                    println!("  audience   {}", t.audience.join(" "));
                    println!("  scope      {}", t.scopes.join(" "));
                    println!("  issued     {} ({})", t.issued_at, ago(t.issued_at));
                    println!("  expires    {} ({})", t.expires_at, ago(t.expires_at));
                    println!("  jti        {}", t.jwt_id);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            match output {
                Output::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "valid": false,
                        "refusal": e.refusal().to_string(),
                        "error": e.error_code(),
                        "reason": e.to_string(),
                        "status": e.status().as_u16(),
                    }))?
                ),
                Output::Text => {
                    println!(
                        "refused ({}, HTTP {}): {e}",
                        e.refusal(),
                        e.status().as_u16()
                    );
                }
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `in 5m` / `3m ago` for a Unix time.
fn ago(t: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let d = t - now;
    let span = |s: i64| match s {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    };
    if d >= 0 {
        format!("in {}", span(d))
    } else {
        format!("{} ago", span(-d))
    }
}

async fn credentials(
    aws_args: &AwsArgs,
    file: Option<PathBuf>,
    client: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    token_url: Option<String>,
) -> anyhow::Result<(String, String, String)> {
    if let (Some(id), Some(secret), Some(url)) = (&client_id, &client_secret, &token_url) {
        return Ok((id.clone(), secret.clone(), url.clone()));
    }
    let Some(file) = file else {
        bail!("--client-id and --client-secret need --token-url or -f FILE");
    };
    let m = load(&file)?;
    let aws = connect(aws_args, &m).await;
    let (id, secret, kept_url) = match (client, client_id, client_secret) {
        (Some(name), _, _) => {
            if !m.spec.clients.iter().any(|c| c.name == name) {
                bail!(
                    "--client {name}: spec.clients of {} has no client named `{name}` (it has: {})",
                    file.display(),
                    m.spec
                        .clients
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            let secret_name =
                provisioner::aws::secrets::client_secret_name(&m.metadata.name, &name);
            let kept = provisioner::aws::secrets::read_json(&aws, &secret_name)
                .await?
                .with_context(|| format!("the credentials of `{name}` ({secret_name}) do not exist: run `authdomain bootstrap`"))?;
            let field = |k: &str| kept[k].as_str().map(str::to_owned);
            (
                field("client_id").with_context(|| format!("{secret_name} has no client_id"))?,
                field("client_secret")
                    .with_context(|| format!("{secret_name} has no client_secret"))?,
                field("token_url"),
            )
        }
        (None, Some(id), Some(secret)) => (id, secret, None),
        _ => bail!("name a client: --client NAME, or --client-id and --client-secret"),
    };
    let url = match token_url.or(kept_url) {
        Some(u) => u,
        None => {
            let observed = provisioner::reconcile::observe(&aws, &m).await?;
            authdomain_core::plan::outputs(&m, &observed)["tokenEndpoint"]
                .as_str()
                .map(str::to_owned)
                .with_context(|| {
                    format!(
                        "`{}` has no HTTP API yet: it has no token endpoint",
                        m.metadata.name
                    )
                })?
        }
    };
    Ok((id, secret, url))
}

async fn get(
    id: &str,
    secret: &str,
    url: &str,
    scopes: &[String],
    output: Output,
) -> anyhow::Result<ExitCode> {
    let mut form = vec![("grant_type", "client_credentials".to_owned())];
    if !scopes.is_empty() {
        form.push(("scope", scopes.join(" ")));
    }
    let response = reqwest::Client::new()
        .post(url)
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("POST {url}: the answer is not JSON"))?;
    if !status.is_success() {
        eprintln!(
            "error: the token endpoint answered {status}: {} ({})",
            body["error"].as_str().unwrap_or("?"),
            body["error_description"].as_str().unwrap_or("")
        );
        return Ok(ExitCode::FAILURE);
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&body)?),
        Output::Text => println!("{}", body["access_token"].as_str().unwrap_or_default()),
    }
    Ok(ExitCode::SUCCESS)
}
