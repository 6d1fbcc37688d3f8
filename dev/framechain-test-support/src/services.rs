//! Real Redis and PostgreSQL servers for the centre's tests: each on a
//! loopback port of its own, in a temporary folder of its own, stopped and
//! removed when dropped. No mocks: these are Debian's `redis-server` and
//! PostgreSQL 15 (`scripts/setup.sh` installs both).
//!
//! Fault tests stop a server and start it again on the same port and data
//! ([`RedisServer::stop`], [`RedisServer::start_again`], and the same on
//! [`Postgres`]), or kill it outright ([`RedisServer::kill`]).
//!
//! As root, PostgreSQL runs as the `postgres` user (`runuser`), and its
//! socket and log live inside its data folder.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer after it is started.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// A free loopback port: bound, read and released. Another process could
/// take it in between; on a test machine that race is rare enough.
pub fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind a loopback port")
}

/// A fresh folder under the system's temporary folder, removed by the
/// owner's `Drop`.
pub fn temp_folder(prefix: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create a temporary folder");
    dir
}

/// A `redis-server` of the test's own, with append-only persistence in a
/// temporary folder, on `127.0.0.1` and a free port.
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    ///
    /// # Panics
    /// When `redis-server` is not installed or does not answer in time.
    pub fn start() -> RedisServer {
        let mut server = RedisServer {
            port: free_loopback_port(),
            dir: temp_folder("framechain-redis"),
            child: None,
        };
        server.start_again();
        server
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Starts the server again (after [`stop`](Self::stop) or
    /// [`kill`](Self::kill)) on the same port and data folder; no-op when it
    /// runs.
    pub fn start_again(&mut self) {
        if self.child.is_some() {
            return;
        }
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
                "--logfile",
            ])
            .arg(self.dir.join("redis.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/setup.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        while !self.answers_ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer within {READY_WITHIN:?}; log: {}",
                self.port,
                self.dir.join("redis.log").display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server cleanly (`SIGTERM`, which writes the append-only
    /// file) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            let _ = child.wait();
        }
    }

    /// Kills the server (`SIGKILL`) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn answers_ping(&self) -> bool {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL 15 cluster of the test's own: `initdb` into a temporary
/// folder, `pg_ctl start` on `127.0.0.1` and a free port, a database
/// `framechain` and a superuser `framechain` (password `framechain`).
pub struct Postgres {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    running: bool,
}

/// The superuser's name and password in a test cluster.
pub const POSTGRES_USER: &str = "framechain";

impl Postgres {
    /// Creates and starts a cluster and waits until it takes connections.
    ///
    /// # Panics
    /// When PostgreSQL 15 is not installed or does not start in time.
    pub fn start() -> Postgres {
        let bin = postgres_bin();
        let dir = temp_folder("framechain-postgres");
        let data = dir.join("data");
        let password_file = dir.join("password");
        std::fs::write(&password_file, POSTGRES_USER).expect("write the password file");
        let as_root = is_root();
        if as_root {
            chown_postgres(&dir);
        }
        let mut initdb = as_postgres(as_root, &bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args(["-U", POSTGRES_USER, "--auth=scram-sha-256", "--pwfile"])
            .arg(&password_file)
            .args(["-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]);
        run_quietly(&mut initdb, "initdb");
        let mut postgres = Postgres {
            port: free_loopback_port(),
            dir,
            bin,
            running: false,
        };
        postgres.start_again();
        let mut create = Command::new(postgres.bin.join("createdb"));
        create
            .args(["-h", "127.0.0.1", "-p"])
            .arg(postgres.port.to_string())
            .args(["-U", POSTGRES_USER, "framechain"])
            .env("PGPASSWORD", POSTGRES_USER);
        run_quietly(&mut create, "createdb");
        postgres
    }

    /// `postgres://framechain:framechain@127.0.0.1:PORT/framechain`: the
    /// superuser's URL.
    pub fn url(&self) -> String {
        self.url_for(POSTGRES_USER, POSTGRES_USER)
    }

    /// The URL of the `framechain` database for another user.
    pub fn url_for(&self, user: &str, password: &str) -> String {
        format!(
            "postgres://{user}:{password}@127.0.0.1:{}/framechain",
            self.port
        )
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs SQL with `psql` as the superuser (for tests that tamper with
    /// rows behind the centre's back), and returns its output.
    ///
    /// # Panics
    /// When `psql` fails.
    pub fn psql(&self, sql: &str) -> String {
        let output = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p"])
            .arg(self.port.to_string())
            .args([
                "-U",
                POSTGRES_USER,
                "-d",
                "framechain",
                "-v",
                "ON_ERROR_STOP=1",
            ])
            .args(["-At", "-c", sql])
            .env("PGPASSWORD", POSTGRES_USER)
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs `sql` as [`Postgres::psql`] does, with the triggers that keep
    /// the audit trail append-only switched off for it
    /// (`session_replication_role = replica`): tampering with rows behind
    /// everyone's back, as a test of `audit verify` must.
    ///
    /// # Panics
    /// When `psql` fails.
    pub fn tamper(&self, sql: &str) -> String {
        self.psql(&format!("SET session_replication_role = replica; {sql}"))
    }

    /// Starts the cluster again after [`stop`](Self::stop), on the same
    /// port and data; no-op when it runs.
    pub fn start_again(&mut self) {
        if self.running {
            return;
        }
        let data = self.dir.join("data");
        let mut start = as_postgres(is_root(), &self.bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(data.join("server.log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                self.port,
                data.display()
            ))
            .args(["-w", "-t", "30", "start"]);
        run_quietly(&mut start, "pg_ctl start");
        self.running = true;
    }

    /// Stops the cluster (`pg_ctl stop -m fast`: running transactions are
    /// rolled back) and waits until it is down.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let mut stop = as_postgres(is_root(), &self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "stop"]);
        run_quietly(&mut stop, "pg_ctl stop");
        self.running = false;
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let mut stop = as_postgres(is_root(), &self.bin.join("pg_ctl"));
            stop.arg("-D")
                .arg(self.dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = stop.status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// PostgreSQL 15's programs (`initdb`, `pg_ctl`, `psql`, `createdb`).
fn postgres_bin() -> PathBuf {
    let debian = Path::new("/usr/lib/postgresql/15/bin");
    assert!(
        debian.join("initdb").exists(),
        "PostgreSQL 15 is not installed at {} (scripts/setup.sh installs it)",
        debian.display()
    );
    debian.to_path_buf()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

fn chown_postgres(dir: &Path) {
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .status()
        .expect("run chown");
    assert!(status.success(), "chown postgres {} failed", dir.display());
}

/// `program`, run as the `postgres` user when we are root (PostgreSQL
/// refuses to run as root).
fn as_postgres(as_root: bool, program: &Path) -> Command {
    if as_root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run_quietly(command: &mut Command, what: &str) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|error| panic!("cannot run {what}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status();
}
