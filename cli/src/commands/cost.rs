//! `authdomain cost`: what the manifest's domain costs while idle, per million tokens and
//! per non-default option, from the price table committed in the core. No AWS call.

use std::path::PathBuf;
use std::process::ExitCode;

use authdomain_core::cost;

use super::Output;
use super::input::load;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[arg(short = 'f', long = "file")]
    file: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let m = load(&args.file)?;
    let estimate = cost::estimate(&m, &cost::PriceTable::embedded());
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&estimate)?),
        Output::Text => print!("{}", cost::table(&estimate)),
    }
    Ok(ExitCode::SUCCESS)
}
