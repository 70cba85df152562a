//! A real PostgreSQL server for tests: `initdb` + `postgres` on a loopback port in a
//! temporary directory, started once per test process and stopped when that process
//! exits (a watchdog shell waits for the test process and then stops the server).
//!
//! Set `AUTHDOMAIN_TEST_POSTGRES_URL` (a superuser URL without database name) to use an
//! existing server instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::net::{free_port, wait_for_port};

#[derive(Debug)]
pub struct TestPostgres {
    /// `postgres://postgres@127.0.0.1:PORT`
    base_url: String,
    bin_dir: Option<PathBuf>,
    port: u16,
}

static SERVER: OnceLock<TestPostgres> = OnceLock::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The shared server of this test process, started on first use.
pub fn server() -> &'static TestPostgres {
    SERVER.get_or_init(|| match std::env::var("AUTHDOMAIN_TEST_POSTGRES_URL") {
        Ok(url) => {
            let port = url::port_of(&url).unwrap_or(5432);
            TestPostgres { base_url: url.trim_end_matches('/').to_owned(), bin_dir: find_bin_dir(), port }
        }
        Err(_) => start().unwrap_or_else(|e| {
            panic!(
                "PostgreSQL could not be started for the tests: {e}\n\
                 Install it (Debian: `apt-get install postgresql`) or set AUTHDOMAIN_TEST_POSTGRES_URL."
            )
        }),
    })
}

mod url {
    pub fn port_of(url: &str) -> Option<u16> {
        let after_at = url.rsplit('@').next()?;
        let host_port = after_at.split('/').next()?;
        host_port.rsplit_once(':')?.1.parse().ok()
    }
}

/// Debian installs server binaries under /usr/lib/postgresql/<major>/bin; prefer the newest.
fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("AUTHDOMAIN_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").exists().then_some((major, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, p)| p)
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Build a command that runs as the `postgres` user when we are root (PostgreSQL refuses root).
fn as_server_user(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.arg("-u").arg("postgres").arg("--").arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start() -> Result<TestPostgres, String> {
    let bin =
        find_bin_dir().ok_or("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")?;
    let root = running_as_root();
    let dir = tempfile::Builder::new()
        .prefix("authdomain-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let data = dir.join("data");
    std::fs::create_dir(&data).map_err(|e| e.to_string())?;
    if root {
        let status = Command::new("chown")
            .arg("-R")
            .arg("postgres:postgres")
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(
                "chown of the data directory to `postgres` failed (is there a postgres user?)"
                    .into(),
            );
        }
    }
    let out = as_server_user(&bin.join("initdb"), root)
        .args([
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])
        .output()
        .map_err(|e| format!("running initdb: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = free_port();
    // The watchdog: start postgres, wait for the test process to exit, then stop it (by the
    // postmaster's pid: `runuser` does not pass signals on) and remove the directory.
    let script = format!(
        "{runas} {postgres} -D {data} -p {port} -k {dir} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB \
         > {dir}/postgres.log 2>&1 & pg=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.5; done; \
         kill -INT \"$(head -1 {data}/postmaster.pid 2>/dev/null)\" 2>/dev/null; kill -INT $pg 2>/dev/null; \
         wait $pg; rm -rf {dir}",
        runas = if root { "runuser -u postgres --" } else { "" },
        postgres = bin.join("postgres").display(),
        data = data.display(),
        dir = dir.display(),
        parent = std::process::id(),
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting postgres: {e}"))?;
    let addr = format!("127.0.0.1:{port}").parse().expect("address");
    if !wait_for_port(addr, Duration::from_secs(30)) {
        let log = std::fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
        return Err(format!(
            "postgres did not accept connections on port {port} within 30 s:\n{log}"
        ));
    }
    // The port opens slightly before the server accepts logins.
    for _ in 0..300 {
        let ok = Command::new(bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(TestPostgres {
        base_url: format!("postgres://postgres@127.0.0.1:{port}"),
        bin_dir: Some(bin),
        port,
    })
}

impl TestPostgres {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of the `postgres` maintenance database.
    pub fn admin_url(&self) -> String {
        format!("{}/postgres", self.base_url)
    }

    /// Make this server look like Aurora to the day-one SQL: Aurora has the `rds_iam` role
    /// built in, plain PostgreSQL needs it created.
    pub fn ensure_rds_iam_role(&self) {
        let psql = Command::new("psql")
            .args([
                &self.admin_url(),
                "-c",
                "DO $$ BEGIN CREATE ROLE rds_iam; EXCEPTION WHEN duplicate_object THEN NULL; END $$",
            ])
            .output()
            .expect("running psql");
        assert!(
            psql.status.success(),
            "creating the rds_iam role: {}",
            String::from_utf8_lossy(&psql.stderr)
        );
    }

    /// Create a fresh, empty database and return its URL.
    pub fn create_database(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let createdb = self
            .bin_dir
            .as_ref()
            .map(|b| b.join("createdb"))
            .unwrap_or_else(|| PathBuf::from("createdb"));
        let out = Command::new(createdb)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                &name,
            ])
            .output()
            .expect("running createdb");
        assert!(
            out.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("{}/{name}", self.base_url)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn starts_and_creates_databases() {
        let pg = super::server();
        let a = pg.create_database("harness");
        let b = pg.create_database("harness");
        assert_ne!(a, b);
        assert!(a.starts_with("postgres://postgres@127.0.0.1:"));
    }
}
