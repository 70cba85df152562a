//! `authorizer`: the Lambda authorizer binary. Configuration from `AUTHORIZER_CONFIG`
//! (JSON, see the library); JSON logs; the issuer's keys fetched during init and kept
//! across warm invocations.

use std::process::ExitCode;

use authdomain_authorizer::{Authorizer, Config};
use authdomain_verifier::RemoteSettings;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the authorizer stopped");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let text = std::env::var("AUTHORIZER_CONFIG").map_err(|_| {
        "AUTHORIZER_CONFIG is not set (the authorizer's JSON configuration)".to_owned()
    })?;
    let config = Config::from_json(&text).map_err(|e| e.to_string())?;
    let authorizer =
        Authorizer::new(&config, RemoteSettings::default()).map_err(|e| e.to_string())?;
    // Keys fetched during init: the first request does not wait for them. A failure here
    // is not fatal: requests fetch again (at most every few seconds) and deny meanwhile.
    if let Err(e) = authorizer.keys().refresh().await {
        tracing::warn!(error = %e, "could not fetch the issuer's keys at start-up");
    }
    let authorizer = &authorizer;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        authorizer.handle(&event.payload).await.map_err(|message| {
            // API Gateway answers 401 for the exact message `Unauthorized`; anything else
            // is a failure to decide (500).
            let error_type = if message == "Unauthorized" {
                "Unauthorized"
            } else {
                "AuthorizerError"
            };
            lambda_runtime::Diagnostic {
                error_type: error_type.to_owned(),
                error_message: message,
            }
        })
    }))
    .await
    .map_err(|e| e.to_string())
}
