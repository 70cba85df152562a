//! The day-one SQL (`aws::rdsdata::statements`) as Aurora's master user runs it: on
//! PostgreSQL 16, as a role with RDS's rights (CREATEROLE, CREATEDB, member of
//! `rds_superuser`), not a superuser. Aurora PostgreSQL 16 refused the earlier statements
//! at `CREATE DATABASE … OWNER` with "must be able to SET ROLE".

use std::process::Command;

use provisioner::aws::rdsdata::statements_for;

/// Each statement on its own, as the Data API runs them (no transaction around them).
fn run_as_master(pg: &authdomain_tests::postgres::TestPostgres, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .args([&pg.admin_url(), "-X", "-v", "ON_ERROR_STOP=1", "-qc", sql])
        .output()
        .expect("running psql");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
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
    for sql in statements_for(&name, &name) {
        run_as_master(pg, &sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    // The role logs in with IAM only, owns its database, and the master can still
    // administer it (read its tables, as the tests and an operator do).
    let check = Command::new("psql")
        .args([
            &pg.admin_url(),
            "-tAc",
            &format!(
                "SELECT pg_has_role('{name}', 'rds_iam', 'member'), \
                 (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{name}')"
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        format!("t|{name}")
    );
    // Granting again is a notice, not an error (a second apply after a partial one).
    let [_, grant_iam, grant_master, _] = statements_for(&name, &name);
    run_as_master(pg, &grant_iam).unwrap();
    run_as_master(pg, &grant_master).unwrap();
}

/// What the earlier statements did (no grant to the master first) fails on PostgreSQL 16
/// exactly as Aurora answered: kept so the test server stays as strict as Aurora.
#[test]
fn postgresql_16_refuses_create_database_owner_without_the_grant() {
    let pg = authdomain_tests::postgres::server();
    let name = format!("dayone_old_{}", std::process::id());
    let [create_role, grant_iam, _, create_database] = statements_for(&name, &name);
    run_as_master(pg, &create_role).unwrap();
    run_as_master(pg, &grant_iam).unwrap();
    let err = run_as_master(pg, &create_database).unwrap_err();
    assert!(
        err.contains(&format!("must be able to SET ROLE \"{name}\"")),
        "{err}"
    );
}
