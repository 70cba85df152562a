//! Day-one database setup through the RDS Data API, with the RDS-managed master secret:
//! the login role the function connects as (IAM authentication, `rds_iam`) and its
//! database. The Data API needs no network path into the VPC (the cluster sits in
//! isolated subnets) and costs nothing idle. Every statement is idempotent or guarded.

use aws_sdk_rdsdata::types::Field;

use super::{AwsError, aws_error};
use authdomain_core::plan::names::{DATABASE_NAME, DATABASE_USER};

/// One statement, retried while Aurora resumes from a pause (`DatabaseResumingException`,
/// about 15 s) and while the Data API is still being enabled.
async fn execute(
    aws: &super::Aws,
    cluster_arn: &str,
    secret_arn: &str,
    sql: &str,
) -> Result<Vec<Vec<Field>>, AwsError> {
    let out = super::with_propagation(aws, || async {
        aws.rdsdata
            .execute_statement()
            .resource_arn(cluster_arn)
            .secret_arn(secret_arn)
            .database("postgres")
            .sql(sql)
            .send()
            .await
            .map_err(|e| {
                let mut e = aws_error("run SQL on", "db-cluster/main", e);
                // A paused cluster resuming (about 15 s), and BadRequestException
                // "HttpEndpoint is not enabled for cluster …" for a while after the
                // cluster (or EnableHttpEndpoint) said it was: retried by elapsed time.
                if e.code == "DatabaseResumingException"
                    || (e.code == "BadRequestException"
                        && e.message.contains("HttpEndpoint is not enabled"))
                {
                    e.class = super::ErrorClass::Propagating;
                }
                e
            })
    })
    .await?;
    Ok(out.records().to_vec())
}

/// What the setup did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Setup {
    pub created_role: bool,
    pub created_database: bool,
}

/// The statements of the setup, in order, for a role and database that do not exist yet.
///
/// The master user is not a superuser (RDS gives it `rds_superuser`, CREATEROLE and
/// CREATEDB). From PostgreSQL 16 on, `CREATE DATABASE … OWNER r` needs the creator to be
/// able to `SET ROLE r`, and a CREATEROLE user gets only ADMIN OPTION on the roles it
/// creates (`createrole_self_grant` is empty by default): without the grant to the master
/// itself the statement fails with "must be able to SET ROLE". Granting an existing
/// membership again is a notice, not an error.
/// <https://www.postgresql.org/docs/16/sql-createdatabase.html>,
/// <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.MasterAccounts.html>
pub fn statements() -> [String; 4] {
    statements_for(DATABASE_USER, DATABASE_NAME)
}

/// [`statements`] for another role and database name (the tests run them on a shared
/// server). Both are our own constants: never a value from outside.
pub fn statements_for(user: &str, database: &str) -> [String; 4] {
    [
        format!("CREATE ROLE \"{user}\" WITH LOGIN"),
        format!("GRANT rds_iam TO \"{user}\""),
        format!("GRANT \"{user}\" TO CURRENT_USER"),
        format!("CREATE DATABASE \"{database}\" OWNER \"{user}\""),
    ]
}

/// Create the function's login role (granted `rds_iam`, so it logs in with IAM tokens
/// only) and its database, owned by it, unless they exist.
pub async fn setup(
    aws: &super::Aws,
    cluster_arn: &str,
    secret_arn: &str,
) -> Result<Setup, AwsError> {
    let [create_role, grant, grant_to_master, create_database] = statements();
    let mut done = Setup::default();
    let role = execute(
        aws,
        cluster_arn,
        secret_arn,
        &format!("SELECT 1 FROM pg_roles WHERE rolname = '{DATABASE_USER}'"),
    )
    .await?;
    if role.is_empty() {
        execute(aws, cluster_arn, secret_arn, &create_role).await?;
        done.created_role = true;
    }
    // Granting again is a no-op.
    execute(aws, cluster_arn, secret_arn, &grant).await?;
    let database = execute(
        aws,
        cluster_arn,
        secret_arn,
        &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"),
    )
    .await?;
    if database.is_empty() {
        execute(aws, cluster_arn, secret_arn, &grant_to_master).await?;
        // CREATE DATABASE cannot run inside a transaction block: its own statement.
        execute(aws, cluster_arn, secret_arn, &create_database).await?;
        done.created_database = true;
    }
    Ok(done)
}
