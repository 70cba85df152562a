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

/// Credentials of `role` in `account` of the moto server, as the environment variables
/// Lambda gives a function.
async fn role_credentials(account: &str, role: &str) -> Result<Vec<(String, String)>, String> {
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-1"))
        .endpoint_url(crate::moto::server().endpoint())
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "testing", "testing", None, None, "static",
        ))
        .load()
        .await;
    let account = account.to_owned();
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&sdk)
            .interceptor(MotoAccount(account))
            .build(),
    );
    let assumed = sts
        .assume_role()
        .role_arn(role)
        .role_session_name("function")
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    let c = assumed.credentials().ok_or("no credentials")?;
    Ok(vec![
        ("AWS_ACCESS_KEY_ID".into(), c.access_key_id().to_owned()),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            c.secret_access_key().to_owned(),
        ),
        ("AWS_SESSION_TOKEN".into(), c.session_token().to_owned()),
    ])
}

/// Adds moto's account header to every request.
#[derive(Debug)]
struct MotoAccount(String);

impl aws_sdk_sts::config::Intercept for MotoAccount {
    fn name(&self) -> &'static str {
        "moto-account"
    }

    fn modify_before_signing(
        &self,
        context: &mut aws_sdk_sts::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _rc: &aws_sdk_sts::config::RuntimeComponents,
        _cfg: &mut aws_sdk_sts::config::ConfigBag,
    ) -> Result<(), aws_sdk_sts::error::BoxError> {
        context
            .request_mut()
            .headers_mut()
            .insert("x-moto-account-id", self.0.clone());
        Ok(())
    }
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
/// on the function in AWS (moto), the credentials of the function's role (assumed in the
/// function's account, as Lambda does, so moto serves the account's resources to them),
/// and one difference: a local PostgreSQL on `pg_port` instead of Aurora with IAM tokens.
/// Its standard error is the test's.
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
        let role = config.role().unwrap_or_default().to_owned();
        let account = role.split(':').nth(4).unwrap_or_default().to_owned();
        let credentials = runtime
            .block_on(role_credentials(&account, &role))
            .expect("assuming the function's role in moto");
        env.extend(credentials);
        env.insert(
            "AWS_ENDPOINT_URL".into(),
            crate::moto::server().endpoint().to_owned(),
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
