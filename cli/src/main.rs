//! `authdomain`: declare an OAuth 2.0 authorization server on AWS in one file. `main`
//! parses, starts the runtime, and turns the outcome into an exit code (0 success, 1
//! failure, 2 drift or usage); each command lives in its own module under `commands/`.

use std::process::ExitCode;

use clap::Parser as _;

mod commands;
mod dev;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
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
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
