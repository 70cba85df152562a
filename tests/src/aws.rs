//! The provisioner's AWS clients pointed at the test moto server, and the launcher that
//! runs a domain's function as Lambda would: the real auth server binary with the
//! environment the provisioner gave the function.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;

use provisioner::aws::{Aws, AwsOptions};

/// AWS clients for `account` of the shared moto server in `region`, SDK retries off (a
/// missing operation fails fast), images pushed to and read from `registry`.
pub async fn moto(account: &str, region: &str, registry: &str) -> Aws {
    Aws::connect(&AwsOptions {
        region: Some(region.into()),
        endpoint_url: Some(crate::moto::server().endpoint().to_owned()),
        moto_account: Some(account.to_owned()),
        no_sdk_retries: true,
        static_credentials: Some(("testing".into(), "testing".into())),
        registry_url: Some(registry.to_owned()),
        ..Default::default()
    })
    .await
}

/// How the function's binary runs here.
#[derive(Debug, Clone)]
pub enum FunctionBinary {
    /// The x86_64 build, natively.
    Native(PathBuf),
    /// The arm64 build, under `qemu-aarch64-static` (Debian's qemu-user-static).
    Arm64UnderQemu(PathBuf),
}

/// Runs a domain's function as Lambda would: `binary`, with the environment configured
/// on the function in AWS (moto) and one difference, a local PostgreSQL on `pg_port`
/// instead of Aurora with IAM tokens. Its standard error is the test's.
pub fn function_launcher(
    aws: Aws,
    binary: FunctionBinary,
    pg_port: u16,
) -> crate::lambda::Launcher {
    let runtime = tokio::runtime::Handle::current();
    Arc::new(move |name: &str, runtime_api: &str| {
        let config = runtime
            .block_on(
                aws.lambda
                    .get_function_configuration()
                    .function_name(name)
                    .send(),
            )
            .expect("reading the function's configuration from moto");
        let mut env = config
            .environment()
            .and_then(|e| e.variables())
            .cloned()
            .unwrap_or_default();
        env.insert(
            "AUTHSERVER_DATABASE_URL".into(),
            format!("postgres://authserver@127.0.0.1:{pg_port}/authserver"),
        );
        env.remove("AUTHSERVER_DATABASE_IAM_AUTH");
        let mut command = match &binary {
            FunctionBinary::Native(path) => Command::new(path),
            FunctionBinary::Arm64UnderQemu(path) => {
                let mut c = Command::new("/usr/bin/qemu-aarch64-static");
                c.arg(path);
                c
            }
        };
        command
            .env_clear()
            .envs(env)
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_REGION", "eu-west-1")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting the function ({binary:?}): {e}"))
    })
}
