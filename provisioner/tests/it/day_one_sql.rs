//! The day-one SQL (`aws::rdsdata::statements`) as Aurora's master user runs it: on
//! PostgreSQL 16, as a role with RDS's rights (CREATEROLE, CREATEDB, member of
//! `rds_superuser`), not a superuser. Aurora PostgreSQL 16 refused the earlier statements
//! at `CREATE DATABASE … OWNER` with "must be able to SET ROLE"; the grant that fixes it
//! must not leave the master holding `rds_iam` (RDS would then require IAM authentication
//! for the master).

use provisioner::aws::rdsdata::statements_for;

/// Each statement on its own, as the Data API runs them (no transaction around them).
fn run_as_master(pg: &authdomain_tests::postgres::TestPostgres, sql: &str) -> Result<(), String> {
    pg.psql(&pg.admin_url(), sql).map(|_| ())
}

fn query_as_master(pg: &authdomain_tests::postgres::TestPostgres, sql: &str) -> String {
    pg.psql(&pg.admin_url(), sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[test]
fn the_day_one_sql_runs_as_an_rds_master_user_on_postgresql_16() {
    let pg = authdomain_tests::postgres::server();
    assert_eq!(
        pg.master_rights(),
        (false, true, true),
        "the master is RDS's"
    );
    let name = format!("dayone_{}", std::process::id());
    let sql = statements_for(&name, &name);
    for statement in sql.in_order() {
        run_as_master(pg, statement).unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    // The role logs in with IAM only and owns its database ...
    assert_eq!(
        query_as_master(
            pg,
            &format!(
                "SELECT pg_has_role('{name}', 'rds_iam', 'member'), \
                 (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}')"
            )
        ),
        format!("t|{name}")
    );
    // ... and the master holds neither rds_iam nor the role's rights (it keeps the ADMIN
    // OPTION PostgreSQL 16 gives a role's creator, as for every role AWS's own procedure
    // creates).
    assert_eq!(
        query_as_master(
            pg,
            &format!(
                "SELECT pg_has_role(current_user, 'rds_iam', 'USAGE'), \
                 pg_has_role(current_user, 'rds_iam', 'SET'), \
                 pg_has_role(current_user, '{name}', 'USAGE')"
            )
        ),
        "f|f|f"
    );
    // A second run (after a partial one) changes nothing and fails nowhere.
    run_as_master(pg, &sql.revoke_from_master).unwrap();
    run_as_master(pg, &sql.grant_rds_iam).unwrap();
}

/// What the earlier statements did (no grant to the master first) fails on PostgreSQL 16
/// exactly as Aurora answered: kept so the test server stays as strict as Aurora.
#[test]
fn postgresql_16_refuses_create_database_owner_without_the_grant() {
    let pg = authdomain_tests::postgres::server();
    let name = format!("dayone_old_{}", std::process::id());
    let sql = statements_for(&name, &name);
    run_as_master(pg, &sql.create_role).unwrap();
    run_as_master(pg, &sql.grant_rds_iam).unwrap();
    let err = run_as_master(pg, &sql.create_database).unwrap_err();
    assert!(
        err.contains(&format!("must be able to SET ROLE \"{name}\"")),
        "{err}"
    );
}
