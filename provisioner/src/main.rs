//! `authdomain`: declare an OAuth 2.0 authorization server on AWS in one file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use provisioner::spec;

#[derive(Parser, Debug)]
#[command(
    name = "authdomain",
    version,
    about = "Converge an AuthDomain manifest into AWS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a manifest: every problem with its field path, line and column.
    Validate {
        /// The AuthDomain manifest (`-` for standard input).
        #[arg(short = 'f', long = "file")]
        file: PathBuf,
        /// Print the manifest with every default filled in.
        #[arg(long)]
        show_defaults: bool,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    Text,
    Json,
}

fn read(file: &PathBuf) -> anyhow::Result<(String, String)> {
    use anyhow::Context as _;
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
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
                        (Output::Json, false) => println!(
                            "{}",
                            serde_json::json!({ "file": name, "valid": true, "problems": [] })
                        ),
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
    }
}
