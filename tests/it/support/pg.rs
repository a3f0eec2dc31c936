//! A real, throw-away PostgreSQL server for the line-database tests: one cluster per test run
//! (`initdb` + `pg_ctl` from `/usr/lib/postgresql/*/bin`, in a temporary folder, on a free
//! local port), and a fresh database per test.
//!
//! The server is stopped and its folder removed when the test process ends, however it ends:
//! a small watchdog shell waits for this process to go and then stops the cluster. When the
//! PostgreSQL binaries are missing they are installed from Debian's `postgresql` package if
//! this runs as root; otherwise the test fails and says what to install (never a silent skip).
//! `initdb` refuses to run as root, so as root the cluster belongs to the `postgres` user.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

struct Cluster {
    port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// The databases [`fresh_db`] made on this thread (a test's), for the test's folder to
    /// check their audit trails when it is removed (`support::TestDir`).
    static MADE_HERE: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The URLs of the databases [`fresh_db`] made on this thread since the last call.
pub fn take_made_here() -> Vec<String> {
    MADE_HERE.with(|m| std::mem::take(&mut *m.borrow_mut()))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The newest `/usr/lib/postgresql/N/bin` holding `initdb`.
fn bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, d)| d)
}

fn install() {
    assert!(
        is_root(),
        "the line-database tests need a PostgreSQL server's binaries (initdb, pg_ctl) under \
         /usr/lib/postgresql/*/bin: install Debian's `postgresql` package \
         (sudo apt-get install -y postgresql) and run the tests again"
    );
    for args in [
        vec!["update", "-qq"],
        vec!["install", "-y", "-qq", "postgresql"],
    ] {
        let ok = Command::new("apt-get")
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "apt-get {} failed: install PostgreSQL by hand",
            args.join(" ")
        );
    }
}

/// A command that runs on the machine's real clock: CI runs the suite under libfaketime (a
/// month end, a year end), which the server and its watchdog must not inherit (the server has
/// its own clock; a faked `sleep` or `pg_ctl -w` never returns).
fn real_clock(mut c: Command) -> Command {
    for var in [
        "LD_PRELOAD",
        "FAKETIME",
        "FAKETIME_DONT_FAKE_MONOTONIC",
        "FAKETIME_NO_CACHE",
    ] {
        c.env_remove(var);
    }
    c
}

/// Run a PostgreSQL program as the cluster's owner.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        real_clock(c)
    } else {
        real_clock(Command::new(program))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The test run's PostgreSQL folder (server data, socket, log), removed when the run ends.
pub fn run_dir() -> PathBuf {
    std::env::temp_dir().join(format!("packwright-pg-{}", std::process::id()))
}

fn start() -> Cluster {
    let bin = match bin_dir() {
        Some(b) => b,
        None => {
            install();
            bin_dir().expect("postgresql installed but no /usr/lib/postgresql/*/bin/initdb")
        }
    };
    let dir = run_dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if is_root() {
        let ok = Command::new("chown")
            .args(["postgres:", &dir.to_string_lossy()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot give {} to the postgres user", dir.display());
    }
    let data = dir.join("data");
    let out = as_owner(&bin.join("initdb"))
        .args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "--locale=C",
            "-E",
            "UTF8",
            "-D",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
        dir.display()
    );
    let out = as_owner(&bin.join("pg_ctl"))
        .arg("-D")
        .arg(&data)
        .args(["-o", &opts, "-l"])
        .arg(dir.join("log"))
        .args(["-w", "start"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("log")).unwrap_or_default()
    );
    // The watchdog: when this test process is gone, stop the server and remove its folder.
    let pg_ctl = bin.join("pg_ctl");
    let stop = if is_root() {
        format!(
            "runuser -u postgres -- {} -D {} -m immediate stop",
            pg_ctl.display(),
            data.display()
        )
    } else {
        format!(
            "{} -D {} -m immediate stop",
            pg_ctl.display(),
            data.display()
        )
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    // Left running on purpose: it outlives this process to clean up after it.
    #[allow(clippy::zombie_processes)]
    real_clock(Command::new("sh"))
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Cluster { port }
}

/// A fresh, empty database on the run's cluster; its URL (`postgres://…`).
pub fn fresh_db() -> String {
    let cluster = CLUSTER.get_or_init(start);
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    // A thread of its own: the blocking client must not run inside a test's tokio runtime.
    let port = cluster.port;
    let n = name.clone();
    std::thread::spawn(move || {
        let mut admin = postgres::Client::connect(
            &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres"),
            postgres::NoTls,
        )
        .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {n}"))
            .unwrap();
    })
    .join()
    .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port);
    MADE_HERE.with(|m| m.borrow_mut().push(url.clone()));
    url
}

/// Where a test's records are: a SQLite file, or a database on the line database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// A new, empty database of this backend for one test (`dir` holds the SQLite file): what
    /// `--db` / `PACKWRIGHT_DB` is given.
    pub fn db(self, dir: &Path) -> PathBuf {
        match self {
            Backend::Sqlite => dir.join("line.db"),
            Backend::Postgres => PathBuf::from(fresh_db()),
        }
    }
}

/// One test body, `fn name(backend: Backend)`, run as two tests: `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident) => {
        mod $name {
            use $crate::support::pg::Backend;
            #[test]
            fn sqlite() {
                super::$name(Backend::Sqlite)
            }
            #[test]
            fn postgres() {
                super::$name(Backend::Postgres)
            }
        }
    };
}

/// The database a test's station uses, chosen by the environment variable
/// `PACKWRIGHT_IT_BACKEND` so that one test body runs on either backend (the modules listed in
/// `tests/it/BOTH_BACKENDS`, which `.ci/run` runs a second time on PostgreSQL):
/// - unset, empty or `sqlite`: the SQLite file `dir/name` (not created here);
/// - `postgres`: a fresh, empty database on the test run's throw-away PostgreSQL cluster
///   ([`fresh_db`]), its `postgres://…` URL as a path (what `--db` / `PACKWRIGHT_DB` take;
///   `name` is then unused).
///
/// Any other value fails the test, naming the accepted values.
pub fn station_db(dir: &Path, name: &str) -> PathBuf {
    match std::env::var("PACKWRIGHT_IT_BACKEND").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => dir.join(name),
        Ok("postgres") => PathBuf::from(fresh_db()),
        Ok(other) => panic!(
            "PACKWRIGHT_IT_BACKEND={other:?} is not a backend: unset it (or set `sqlite`) for \
             SQLite files, or set `postgres` for the test run's PostgreSQL cluster"
        ),
    }
}

/// Where a test's station keeps its outbox (`PACKWRIGHT_OUTBOX`), in the test's folders, never
/// in the user's: on a line database in the test run's PostgreSQL folder (removed with the
/// cluster; records are keyed by the database, so tests do not meet), else beside the file
/// (where none is made).
pub fn outbox_for(db: &Path) -> PathBuf {
    if db.to_string_lossy().starts_with("postgres") {
        run_dir().join("outbox.db")
    } else {
        db.with_extension("outbox.db")
    }
}

/// `tests/it/BOTH_BACKENDS` names real modules, each of which takes its databases from
/// [`station_db`] (a module listed but not switched would run twice on SQLite unnoticed).
#[test]
fn both_backends_lists_the_switched_modules() {
    let it = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let list = std::fs::read_to_string(it.join("BOTH_BACKENDS")).unwrap();
    let modules: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(!modules.is_empty());
    let main = std::fs::read_to_string(it.join("main.rs")).unwrap();
    for m in modules {
        assert!(
            main.contains(&format!("mod {m};")),
            "BOTH_BACKENDS names {m}, which is no module of tests/it/main.rs"
        );
        let text = std::fs::read_to_string(it.join(format!("{m}.rs"))).unwrap();
        assert!(
            text.contains("station_db("),
            "BOTH_BACKENDS names {m}, but tests/it/{m}.rs never calls station_db"
        );
    }
}
