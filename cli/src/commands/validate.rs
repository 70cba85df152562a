//! `authdomain validate`: every problem of a manifest at once, located; or the manifest
//! with every default filled in.

use std::path::PathBuf;
use std::process::ExitCode;

use authdomain_core::spec;

use super::Output;
use super::input::read;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    /// Print the manifest with every default filled in.
    #[arg(long)]
    show_defaults: bool,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (src, name) = read(&args.file)?;
    match spec::load_str(&src, &name) {
        Ok(manifest) => {
            match (args.output, args.show_defaults) {
                (Output::Json, true) => println!("{}", serde_json::to_string_pretty(&manifest)?),
                (Output::Json, false) => println!(
                    "{}",
                    serde_json::json!({ "file": name, "valid": true, "problems": [] })
                ),
                (Output::Text, true) => print!("{}", spec::to_yaml(&manifest)?),
                (Output::Text, false) => {
                    println!("{name}: valid AuthDomain `{}`", manifest.metadata.name)
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diagnostics) => {
            match args.output {
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
