//! `authdomain`: declare an OAuth 2.0 authorization server on AWS in one file.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use provisioner::aws::{Aws, AwsOptions};
use provisioner::plan::Action;
use provisioner::{bootstrap, drift, reconcile, spec};

mod cli;
use cli::progress::Progress;

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
    /// Several `-f` files are checked together, the network of all of them with one
    /// describe per resource type.
    Drift {
        #[arg(short = 'f', long = "file", required = true)]
        file: Vec<PathBuf>,
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
    /// Run the domain's auth server on this machine (SQLite, no AWS) with the spec's resource
    /// servers and clients; print their credentials and a curl that gets a token.
    Dev {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Address to listen on (port 0: any free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        /// Also write the issuer and the clients' credentials here as JSON (mode 0600).
        #[arg(long)]
        credentials_file: Option<PathBuf>,
        /// Get one token with the first client that has a secret, print it, and stop.
        #[arg(long)]
        once: bool,
    },
    /// Everything in one command: the image repository, the auth server image (built and
    /// pushed), the rest of the infrastructure, the database's login role, migrations, the
    /// admin client and the spec's resource servers and clients (credentials kept in
    /// Secrets Manager). Running it again changes nothing.
    Bootstrap {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// The auth server executable for the spec's architecture (a static Linux binary).
        /// Default: built from this source checkout with scripts/build-authserver.sh.
        #[arg(long, env = "AUTHDOMAIN_AUTHSERVER_BINARY")]
        binary: Option<PathBuf>,
        #[arg(long)]
        auto_approve: bool,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// The auth server image: assemble it from a binary and push it to the domain's
    /// repository (prints the digest to pin in `spec.image.digest`).
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Delete everything tagged for the domain, in reverse dependency order.
    Destroy {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long)]
        auto_approve: bool,
    },
}

#[derive(Subcommand, Debug)]
enum ImageCommand {
    /// Assemble the image for the spec's architecture and push it (by digest, plus `--tag`).
    /// The repository must exist (`authdomain apply` or `bootstrap` creates it).
    Push {
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        #[arg(long, env = "AUTHDOMAIN_AUTHSERVER_BINARY")]
        binary: Option<PathBuf>,
        /// Also tag it (the repository's tags are immutable).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Assemble the image and print its digest, size and config without pushing.
    Build {
        #[arg(long, value_enum, default_value = "arm64")]
        arch: Arch,
        #[arg(long, env = "AUTHDOMAIN_AUTHSERVER_BINARY")]
        binary: Option<PathBuf>,
        /// Write the image as an OCI image layout directory here (for skopeo, umoci, crane).
        #[arg(long)]
        oci_layout: Option<PathBuf>,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Arch {
    Arm64,
    #[value(name = "x86_64")]
    X86_64,
}

impl From<Arch> for spec::Architecture {
    fn from(a: Arch) -> spec::Architecture {
        match a {
            Arch::Arm64 => spec::Architecture::Arm64,
            Arch::X86_64 => spec::Architecture::X86_64,
        }
    }
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
        registry_url: args.registry_url.clone(),
        ..AwsOptions::default()
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
            let manifests = file.iter().map(load).collect::<anyhow::Result<Vec<_>>>()?;
            // One connection per region; plans come back in the order of the files.
            let mut by_region: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
            for (i, m) in manifests.iter().enumerate() {
                let region = cli
                    .aws
                    .region
                    .clone()
                    .unwrap_or_else(|| m.spec.region.clone());
                by_region.entry(region).or_default().push(i);
            }
            let mut plans: Vec<Option<provisioner::plan::Plan>> = vec![None; manifests.len()];
            for indices in by_region.values() {
                let group: Vec<spec::AuthDomainManifest> =
                    indices.iter().map(|&i| manifests[i].clone()).collect();
                let aws = connect(&cli.aws, &group[0]).await;
                for (&i, plan) in indices
                    .iter()
                    .zip(reconcile::plan_many(&aws, &group).await?)
                {
                    plans[i] = Some(plan);
                }
            }
            let plans: Vec<provisioner::plan::Plan> = plans.into_iter().flatten().collect();
            match format {
                DriftFormat::Json => {
                    let reports: Vec<serde_json::Value> = manifests
                        .iter()
                        .zip(&plans)
                        .map(|(m, p)| drift::json(&m.metadata.name, p))
                        .collect();
                    let value = if reports.len() == 1 {
                        reports.into_iter().next().unwrap_or_default()
                    } else {
                        serde_json::Value::from(reports)
                    };
                    println!("{}", serde_json::to_string_pretty(&value)?);
                }
                DriftFormat::Table => {
                    for (m, p) in manifests.iter().zip(&plans) {
                        print!("{}", drift::table(&m.metadata.name, p));
                    }
                }
                DriftFormat::Markdown => {
                    for (m, p) in manifests.iter().zip(&plans) {
                        print!("{}", drift::markdown(&m.metadata.name, p));
                    }
                }
            }
            Ok(if plans.iter().all(|p| p.is_empty()) {
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
            let (full_plan, observed) = reconcile::plan(&aws, &m).await?;
            if output == Output::Text {
                print!("{}", drift::table(&m.metadata.name, &full_plan));
            }
            // Changes that need a value nothing here can produce (an image not pushed
            // yet) wait; the rest is applied and the command fails naming what waits.
            let facts = reconcile::facts(&aws, &m, &observed);
            let (plan, deferred, missing) = reconcile::defer_unknown(&m, &full_plan, &facts);
            if !deferred.is_empty() {
                eprintln!(
                    "{} change(s) wait for {} and are not applied now: {}",
                    deferred.len(),
                    missing.join(", "),
                    deferred
                        .iter()
                        .map(|c| c.resource.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                if missing.iter().any(|f| f.starts_with("image.")) {
                    eprintln!(
                        "  the image: set spec.image.digest, push spec.image.tag to the repository, \
                         or run `authdomain bootstrap` (it builds and pushes one)"
                    );
                }
            }
            if plan.is_empty() && !deferred.is_empty() {
                return Ok(ExitCode::FAILURE);
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
            let progress = Progress::new(plan.changes.len(), output == Output::Json);
            let result =
                reconcile::apply(&aws, &m, &plan, &observed, |step| progress.step(step)).await;
            progress.finish();
            match result {
                Ok(steps) => {
                    if output == Output::Json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&serde_json::json!({
                                "domain": m.metadata.name,
                                "steps": steps,
                                "deferred": deferred,
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
                        eprintln!(
                            "error: apply is incomplete: {} change(s) still wait for {}",
                            deferred.len(),
                            missing.join(", ")
                        );
                        Ok(ExitCode::FAILURE)
                    }
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
        Command::Dev {
            file,
            listen,
            credentials_file,
            once,
        } => dev(&file, listen, credentials_file, once).await,
        Command::Bootstrap {
            file,
            binary,
            auto_approve,
            output,
        } => {
            let m = load(&file)?;
            let aws = connect(&cli.aws, &m).await;
            run_bootstrap(&aws, &m, binary, auto_approve, output).await
        }
        Command::Image { command } => image_command(&cli.aws, command).await,
        Command::Destroy { file, auto_approve } => {
            let m = load(&file)?;
            if m.spec.deletion_policy == spec::DeletionPolicy::Retain {
                println!(
                    "{}: deletionPolicy is Retain: the function, the API and the role go; the network, \
                     database, KMS key, KEK secret and image repository stay",
                    m.metadata.name
                );
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
            let progress = Progress::new(plan.changes.len(), false);
            let result = reconcile::apply(&aws, &m, &plan, &observed, |s| progress.step(s)).await;
            progress.finish();
            match result {
                Ok(steps) => {
                    println!(
                        "deleted {} resource(s) in {:.1}s",
                        steps.len(),
                        progress.elapsed().as_secs_f64()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    for s in &e.done {
                        eprintln!(
                            "  deleted before the error: {} ({})",
                            s.resource, s.physical_id
                        );
                    }
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

async fn dev(
    file: &PathBuf,
    listen: std::net::SocketAddr,
    credentials_file: Option<PathBuf>,
    once: bool,
) -> anyhow::Result<ExitCode> {
    let m = load(file)?;
    // A fresh database each run, removed on exit: the credentials printed are the only ones.
    let dir = tempfile::Builder::new()
        .prefix("authdomain-dev-")
        .tempdir()
        .context("creating a directory for the local database")?;
    let server = provisioner::dev::start(&m, dir.path(), listen).await?;
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
    if let Some(path) = &credentials_file {
        let doc = serde_json::json!({
            "issuer": server.issuer,
            "token_endpoint": server.token_endpoint,
            "clients": server.clients,
        });
        write_private(path, &serde_json::to_vec_pretty(&doc)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if once {
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

/// Write a file only its owner can read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

/// The auth server binary for `arch`: the one given, else built from this source checkout
/// (the workspace this `authdomain` was compiled from) with scripts/build-authserver.sh.
fn authserver_binary(given: Option<PathBuf>, arch: spec::Architecture) -> anyhow::Result<Vec<u8>> {
    let path = match given {
        Some(p) => p,
        None => {
            let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../scripts/build-authserver.sh");
            if !script.exists() {
                bail!(
                    "no auth server binary: pass --binary PATH (a static Linux {} executable)",
                    arch.as_str()
                );
            }
            eprintln!(
                "building the auth server for {} ({})",
                arch.as_str(),
                script.display()
            );
            let out = std::process::Command::new(&script)
                .arg(arch.as_str())
                .stderr(std::process::Stdio::inherit())
                .output()
                .with_context(|| format!("running {}", script.display()))?;
            if !out.status.success() {
                bail!("{} failed", script.display());
            }
            PathBuf::from(
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim(),
            )
        }
    };
    std::fs::read(&path)
        .with_context(|| format!("reading the auth server binary {}", path.display()))
}

async fn run_bootstrap(
    aws: &Aws,
    m: &spec::AuthDomainManifest,
    binary: Option<PathBuf>,
    auto_approve: bool,
    output: Output,
) -> anyhow::Result<ExitCode> {
    let needs_binary = m.spec.image.digest.is_none() && m.spec.image.tag.is_none();
    let binary = if needs_binary {
        Some(authserver_binary(binary, m.spec.image.architecture)?)
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
    let options = bootstrap::Options {
        binary: binary.as_deref(),
        version: env!("CARGO_PKG_VERSION"),
        timeouts: bootstrap::Timeouts::default(),
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
            eprintln!("error: {e}");
            for s in &e.done {
                eprintln!(
                    "  done before the error: {} {} ({})",
                    s.action.as_str(),
                    s.resource,
                    s.physical_id
                );
            }
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

async fn image_command(args: &AwsArgs, command: ImageCommand) -> anyhow::Result<ExitCode> {
    match command {
        ImageCommand::Build {
            arch,
            binary,
            oci_layout,
        } => {
            let arch = spec::Architecture::from(arch);
            let bytes = authserver_binary(binary, arch)?;
            let image = provisioner::image::assemble(&bytes, arch, env!("CARGO_PKG_VERSION"))?;
            if let Some(dir) = oci_layout {
                provisioner::image::write_oci_layout(&image, &dir)
                    .with_context(|| format!("writing the OCI layout {}", dir.display()))?;
            }
            println!("digest        {}", image.digest);
            println!(
                "architecture  {}",
                provisioner::image::oci_architecture(arch)
            );
            println!(
                "size          {} bytes ({} compressed layer)",
                image.size(),
                image.layer.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        ImageCommand::Push { file, binary, tag } => {
            let m = load(&file)?;
            let aws = connect(args, &m).await;
            let arch = m.spec.image.architecture;
            let bytes = authserver_binary(binary, arch)?;
            let image = provisioner::image::assemble(&bytes, arch, env!("CARGO_PKG_VERSION"))?;
            let repository = provisioner::aws::ecr::repository_name(
                &m.metadata.name,
                m.spec.image.repository.as_deref(),
            );
            let observed =
                provisioner::aws::ecr::observe(&aws, &m.metadata.name, &repository).await?;
            let Some(uri) = observed
                .first()
                .and_then(|o| o.props.get("_uri"))
                .and_then(|v| v.as_str())
            else {
                bail!(
                    "the repository {repository} does not exist (or is not tagged as `{}`'s): \
                     `authdomain apply` or `authdomain bootstrap` creates it",
                    m.metadata.name
                );
            };
            let registry = provisioner::image::registry::Registry::connect(&aws, uri).await?;
            let pushed = registry.push(&repository, &image, tag.as_deref()).await?;
            println!(
                "{} {uri}@{} ({} bytes)",
                if pushed.reused {
                    "already there:"
                } else {
                    "pushed"
                },
                pushed.digest,
                image.size()
            );
            println!("pin it with:\n  image:\n    digest: {}", pushed.digest);
            Ok(ExitCode::SUCCESS)
        }
    }
}
