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
/// creates (`createrole_self_grant` is empty by default): without a grant to the master
/// itself the statement fails with "must be able to SET ROLE".
///
/// That grant is revoked right after, before the role gets `rds_iam`: a master that is a
/// member of a role holding `rds_iam` would hold it too, and RDS then requires IAM
/// authentication for the master ("If the rds_iam role is added to the master user, IAM
/// authentication takes precedence over password authentication"), which would lock out
/// the Data API's secret. Granting and revoking are idempotent (a notice or a warning).
/// <https://www.postgresql.org/docs/16/sql-createdatabase.html>,
/// <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.MasterAccounts.html>,
/// <https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.DBAccounts.html>
pub fn statements() -> Statements {
    statements_for(DATABASE_USER, DATABASE_NAME)
}

/// The day-one statements by purpose.
#[derive(Debug, Clone)]
pub struct Statements {
    pub create_role: String,
    pub grant_to_master: String,
    pub create_database: String,
    pub revoke_from_master: String,
    pub grant_rds_iam: String,
}

impl Statements {
    /// In the order a first run executes them.
    pub fn in_order(&self) -> [&str; 5] {
        [
            &self.create_role,
            &self.grant_to_master,
            &self.create_database,
            &self.revoke_from_master,
            &self.grant_rds_iam,
        ]
    }
}

/// [`statements`] for another role and database name (the tests run them on a shared
/// server). Both are our own constants: never a value from outside.
pub fn statements_for(user: &str, database: &str) -> Statements {
    Statements {
        create_role: format!("CREATE ROLE \"{user}\" WITH LOGIN"),
        grant_to_master: format!("GRANT \"{user}\" TO CURRENT_USER"),
        create_database: format!("CREATE DATABASE \"{database}\" OWNER \"{user}\""),
        revoke_from_master: format!("REVOKE \"{user}\" FROM CURRENT_USER"),
        grant_rds_iam: format!("GRANT rds_iam TO \"{user}\""),
    }
}

/// Create the function's login role (granted `rds_iam`, so it logs in with IAM tokens
/// only) and its database, owned by it, unless they exist.
pub async fn setup(
    aws: &super::Aws,
    cluster_arn: &str,
    secret_arn: &str,
) -> Result<Setup, AwsError> {
    let sql = statements();
    let mut done = Setup::default();
    let role = execute(
        aws,
        cluster_arn,
        secret_arn,
        &format!("SELECT 1 FROM pg_roles WHERE rolname = '{DATABASE_USER}'"),
    )
    .await?;
    if role.is_empty() {
        execute(aws, cluster_arn, secret_arn, &sql.create_role).await?;
        done.created_role = true;
    }
    let database = execute(
        aws,
        cluster_arn,
        secret_arn,
        &format!("SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'"),
    )
    .await?;
    if database.is_empty() {
        execute(aws, cluster_arn, secret_arn, &sql.grant_to_master).await?;
        // CREATE DATABASE cannot run inside a transaction block: its own statement.
        execute(aws, cluster_arn, secret_arn, &sql.create_database).await?;
        done.created_database = true;
    }
    // Every run: a run stopped between the grant and here is repaired by the next one.
    execute(aws, cluster_arn, secret_arn, &sql.revoke_from_master).await?;
    execute(aws, cluster_arn, secret_arn, &sql.grant_rds_iam).await?;
    Ok(done)
}
