//! A real PostgreSQL server for tests: `initdb` + `postgres` on a loopback port in a
//! temporary directory, started once per test process and stopped when that process
//! exits (a watchdog shell waits for the test process and then stops the server).
//!
//! As strict as Aurora: PostgreSQL 16 (the default engine's major; scripts/postgres.sh
//! installs it), and the tests connect as `master`, a role with the RDS master user's
//! rights: LOGIN, CREATEROLE and CREATEDB, a member of `rds_superuser`, not a superuser
//! (<https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.MasterAccounts.html>).
//! `rds_iam` exists, with `rds_superuser` holding ADMIN OPTION on it, as on Aurora. The
//! bootstrap superuser `postgres` only sets that up.
//!
//! Set `AUTHDOMAIN_TEST_POSTGRES_URL` (a URL without database name, of a role like
//! `master` above) to use an existing server instead; `AUTHDOMAIN_PG_BIN` to pick the
//! server binaries.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::net::{free_port, wait_for_port};

/// The oldest major the tests run on (the default Aurora engine is 16.4).
pub const MIN_MAJOR: u32 = 16;
/// The role the tests (and the day-one SQL) run as: RDS's master user's rights.
pub const MASTER: &str = "master";

#[derive(Debug)]
pub struct TestPostgres {
    /// `postgres://master@127.0.0.1:PORT`
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
                 scripts/postgres.sh installs PostgreSQL {MIN_MAJOR} (scripts/test-deps.sh runs it), \
                 or set AUTHDOMAIN_TEST_POSTGRES_URL."
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

/// The server binaries: `AUTHDOMAIN_PG_BIN`, else what scripts/postgres.sh installed
/// (the newest), else Debian's newest under /usr/lib/postgresql (accepted only if it is
/// `MIN_MAJOR` or later, see [`major`]).
fn find_bin_dir() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("AUTHDOMAIN_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let cache = std::env::var_os("AUTHDOMAIN_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/authdomain")));
    let installed = cache.and_then(|c| {
        // Versions `16.14.0-beta.17`: compared numerically, a leftover `*.new` of an
        // interrupted install ignored.
        let version = |p: &Path| -> Option<Vec<u64>> {
            let name = p.file_name()?.to_str()?;
            name.split(['.', '-'])
                .filter(|part| !part.is_empty() && *part != "beta")
                .map(|part| part.parse().ok())
                .collect()
        };
        let mut dirs: Vec<(Vec<u64>, PathBuf)> = std::fs::read_dir(c.join("postgres"))
            .ok()?
            .filter_map(|e| {
                let path = e.ok()?.path();
                Some((version(&path)?, path.join("native/bin")))
            })
            .filter(|(_, b)| b.join("postgres").exists())
            .collect();
        dirs.sort();
        dirs.pop().map(|(_, b)| b)
    });
    if installed.is_some() {
        return installed;
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

/// The major version of the server in `bin` (`postgres (PostgreSQL) 16.14` -> 16).
fn major(bin: &Path) -> Result<u32, String> {
    let out = Command::new(bin.join("postgres"))
        .arg("--version")
        .output()
        .map_err(|e| format!("running {}/postgres --version: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.rsplit(' ')
        .next()
        .and_then(|v| v.trim().split('.').next()?.parse().ok())
        .ok_or_else(|| format!("cannot read a version from {text:?}"))
}

/// A client program: from the server's bin dir when it has one (Debian's does; the npm
/// package has only the server), else from PATH.
fn client(bin: Option<&Path>, name: &str) -> PathBuf {
    bin.map(|b| b.join(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
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

/// The unprivileged user the server runs as when we are root (PostgreSQL refuses root):
/// `nobody` exists everywhere, unlike a `postgres` user.
const SERVER_USER: &str = "nobody";

/// Build a command that runs as [`SERVER_USER`] when we are root.
fn as_server_user(program: &Path, root: bool) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.arg("-u").arg(SERVER_USER).arg("--").arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Under root, the server's user may not reach the binaries (under /root, mode 0700, say):
/// then a copy of the installation (bin, lib and share side by side, as its RUNPATH
/// wants) in the test's directory.
fn reachable(bin: &Path, root: bool, dir: &Path) -> Result<PathBuf, String> {
    if !root {
        return Ok(bin.to_owned());
    }
    let usable = Command::new("runuser")
        .args(["-u", SERVER_USER, "--", "test", "-x"])
        .arg(bin.join("postgres"))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if usable {
        return Ok(bin.to_owned());
    }
    let install = bin.parent().ok_or("a bin dir has a parent")?;
    let copy = dir.join("pg");
    let status = Command::new("cp")
        .arg("-a")
        .arg(install)
        .arg(&copy)
        .status()
        .map_err(|e| format!("copying {}: {e}", install.display()))?;
    if !status.success() {
        return Err(format!("copying {} failed", install.display()));
    }
    Ok(copy.join("bin"))
}

fn start() -> Result<TestPostgres, String> {
    let bin = find_bin_dir()
        .ok_or("no PostgreSQL server binaries (scripts/postgres.sh installs them)")?;
    let found = major(&bin)?;
    if found < MIN_MAJOR {
        return Err(format!(
            "{} is PostgreSQL {found}; the tests need {MIN_MAJOR} or later, as strict as Aurora's \
             default engine (scripts/postgres.sh installs it)",
            bin.display()
        ));
    }
    let root = running_as_root();
    let dir = tempfile::Builder::new()
        .prefix("authdomain-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?
        .keep();
    let bin = reachable(&bin, root, &dir)?;
    let data = dir.join("data");
    std::fs::create_dir(&data).map_err(|e| e.to_string())?;
    // The socket's directory; the log is written by the (root) shell.
    let run = dir.join("run");
    std::fs::create_dir(&run).map_err(|e| e.to_string())?;
    if root {
        // The server's user gets the data and socket directories only: the test directory
        // and the copied binaries in it stay root's (readable), so it cannot replace what
        // root runs.
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let status = Command::new("chown")
            .arg("-R")
            .arg(format!("{SERVER_USER}:"))
            .arg(&data)
            .arg(&run)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("chown of the data directory to `nobody` failed".into());
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
        "{runas} {postgres} -D {data} -p {port} -k {run} -c listen_addresses=127.0.0.1 -c fsync=off \
         -c synchronous_commit=off -c full_page_writes=off -c max_connections=300 -c shared_buffers=64MB \
         > {dir}/postgres.log 2>&1 & pg=$!; \
         while kill -0 {parent} 2>/dev/null && kill -0 $pg 2>/dev/null; do sleep 0.5; done; \
         kill -INT \"$(head -1 {data}/postmaster.pid 2>/dev/null)\" 2>/dev/null; kill -INT $pg 2>/dev/null; \
         wait $pg; rm -rf {dir}",
        runas = if root { "runuser -u nobody --" } else { "" },
        postgres = bin.join("postgres").display(),
        data = data.display(),
        dir = dir.display(),
        run = run.display(),
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
    // The port opens slightly before the server accepts logins: the first statement is
    // retried for a while.
    let superuser = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let mut last = String::new();
    for _ in 0..300 {
        let out = Command::new(client(Some(&bin), "psql"))
            .args([&superuser, "-v", "ON_ERROR_STOP=1", "-qc", AURORA_ROLES])
            .output()
            .map_err(|e| format!("running psql: {e}"))?;
        if out.status.success() {
            return Ok(TestPostgres {
                base_url: format!("postgres://{MASTER}@127.0.0.1:{port}"),
                bin_dir: Some(bin),
                port,
            });
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!("setting up the master role failed: {last}"))
}

/// The roles Aurora has and the master user: `rds_superuser` (the master's group, which
/// may grant `rds_iam` but does not hold it: a master holding `rds_iam` must log in with
/// IAM, and RDS's master logs in with its password), `rds_iam`, and `master`.
const AURORA_ROLES: &str = "CREATE ROLE rds_superuser NOLOGIN; \
     CREATE ROLE rds_iam NOLOGIN; \
     GRANT rds_iam TO rds_superuser WITH ADMIN TRUE, INHERIT FALSE, SET FALSE; \
     CREATE ROLE master WITH LOGIN CREATEROLE CREATEDB NOSUPERUSER IN ROLE rds_superuser;";

impl TestPostgres {
    pub fn port(&self) -> u16 {
        self.port
    }

    /// libpq key-value connection string of the master, no database named (what
    /// the AWS emulator's Data API runs statements with).
    pub fn conninfo(&self) -> String {
        format!("host=127.0.0.1 port={} user={MASTER}", self.port)
    }

    /// `psql -X -v ON_ERROR_STOP=1 -tAc SQL` at `url` (one statement string, no
    /// transaction around it, as the Data API runs one): its output, or its error text.
    pub fn psql(&self, url: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(client(self.bin_dir.as_deref(), "psql"))
            .args([url, "-X", "-v", "ON_ERROR_STOP=1", "-tAc", sql])
            .output()
            .map_err(|e| format!("running psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// URL of database `db` as the bootstrap superuser, for a test's own inspection and
    /// set-up only (simulating what an older release left, say): nothing the product runs
    /// connects as it.
    pub fn superuser_url_for_inspection(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// URL of the `postgres` maintenance database.
    pub fn admin_url(&self) -> String {
        format!("{}/postgres", self.base_url)
    }

    /// The admin role's rights as the tests see them: `(superuser, createrole, createdb)`
    /// of the role the URLs name.
    pub fn master_rights(&self) -> (bool, bool, bool) {
        let out = Command::new(client(self.bin_dir.as_deref(), "psql"))
            .args([
                &self.admin_url(),
                "-tAc",
                "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user",
            ])
            .output()
            .expect("running psql");
        let text = String::from_utf8_lossy(&out.stdout);
        let flags: Vec<bool> = text.trim().split('|').map(|f| f == "t").collect();
        assert_eq!(
            flags.len(),
            3,
            "psql: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (flags[0], flags[1], flags[2])
    }

    /// Create a fresh, empty database and return its URL.
    pub fn create_database(&self, prefix: &str) -> String {
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new(client(self.bin_dir.as_deref(), "createdb"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                MASTER,
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
        assert!(a.starts_with("postgres://master@127.0.0.1:"));
        // RDS's master: creates roles and databases, is no superuser.
        assert_eq!(pg.master_rights(), (false, true, true));
    }
}
