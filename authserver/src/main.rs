//! `authserver`: serve (HTTP or AWS Lambda, chosen from the environment) and operate the
//! AuthDomain auth server from the command line. `main` parses, starts the runtime, and
//! turns the outcome into an exit code; the commands live in `cli/`.

use std::process::ExitCode;

use clap::Parser as _;

mod cli;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let lambda = cli.lambda_mode();
    cli::init_logging(&cli, lambda);
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
    match runtime.block_on(cli::run(cli, lambda)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
