//! Real servers for tests: `nats-server -js` and `redis-server`, each on a
//! free loopback port with its data in a temporary folder, killed and
//! cleaned up when dropped. Never mocks.
//!
//! # Layout
//! - [`NatsServer`]: a JetStream-enabled NATS server; can be restarted on
//!   the same port and store.
//! - [`NatsCluster`] (`cluster`): a JetStream cluster of several
//!   `nats-server` nodes routed to each other, for replicated (R3) streams;
//!   a node can be killed and started again.
//! - [`RedisServer`]: a Redis server without persistence.
//! - [`RedisFailover`] (`sentinel`): a Redis primary, its replica and three
//!   Sentinels, with ACL users on all of them; the primary can be killed.
//! - [`free_port`]: a port nothing listens on.
//!
//! The binaries are found on `PATH` (or in `/usr/sbin`, `/usr/bin`); the
//! test command installs them from the system's packages when missing.
#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)] // a test server that cannot start should fail the test loudly

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tempfile::TempDir;

mod cluster;
mod sentinel;
pub use cluster::NatsCluster;
pub use sentinel::{PRIMARY_NAME, RedisFailover};

/// Ports this process has handed out: tests run in parallel threads, and
/// the system may offer a just-released port again before the server it was
/// meant for has bound it.
static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());

/// A port on 127.0.0.1 that nothing listens on right now and that this
/// process has not handed out before.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free port on 127.0.0.1");
        let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
        if handed_out.insert(port) {
            return port;
        }
    }
}

fn binary(name: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain([
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/bin",
    ]) {
        let candidate = Path::new(dir).join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("{name} is not installed; run the README's test command, which installs it")
}

fn wait_until_listening(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Something listens; make sure it is this server, not one that
            // another process started on the same port while this one failed.
            std::thread::sleep(Duration::from_millis(30));
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{what} exited during start-up with {status} (port {port} taken?)");
            }
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited during start-up with {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{what} did not listen on port {port} within 15 s");
}

/// A server process, killed (SIGKILL) when stopped or dropped.
#[derive(Default)]
struct Process(Option<Child>);

impl Process {
    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The `jetstream` block of a test server's configuration: file storage in
/// `store`, and room to reserve.
///
/// JetStream reserves a stream's `max_bytes` against the server's
/// `max_file_store`, which is 75% of the free disk unless set. The tests
/// create the audit trail at its production bound (20 GiB), so on a machine
/// with less than about 27 GB free every test would fail to create it; the
/// tests store a few megabytes, so the reservation is lifted here.
pub fn jetstream_block(store: &Path) -> String {
    format!(
        "jetstream {{ store_dir: \"{}\", max_file_store: 1T }}",
        store.display()
    )
}

/// A `nats-server -js` with file storage in a temporary folder.
pub struct NatsServer {
    child: Process,
    port: u16,
    store: TempDir,
    config: Option<PathBuf>,
}

impl NatsServer {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        let store = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut server = Self {
            child: Process::default(),
            port,
            store,
            config: None,
        };
        server.spawn();
        server
    }

    /// Starts a server from a configuration file that `write_config`
    /// writes, given the path to write, the port and the store folder
    /// (e.g. one with users and permissions).
    pub fn start_configured(write_config: impl FnOnce(&Path, u16, &Path)) -> Self {
        let store = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = store.path().join("nats.conf");
        write_config(&config, port, &store.path().join("jetstream"));
        let mut server = Self {
            child: Process::default(),
            port,
            store,
            config: Some(config),
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let mut command = Command::new(binary("nats-server"));
        match &self.config {
            Some(config) => command.arg("-c").arg(config),
            None => {
                let config = self.store.path().join("nats.conf");
                std::fs::write(
                    &config,
                    format!(
                        "listen: 127.0.0.1:{}\n{}\n",
                        self.port,
                        jetstream_block(self.store.path())
                    ),
                )
                .expect("cannot write the nats-server configuration");
                command.arg("-c").arg(config)
            }
        };
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to start nats-server");
        wait_until_listening(self.port, &mut child, "nats-server");
        self.child = Process(Some(child));
    }

    /// `nats://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The folder of the configuration file, for a configured server.
    pub fn config_dir(&self) -> Option<&Path> {
        self.config.as_deref().and_then(Path::parent)
    }

    /// Kills the server (SIGKILL) and starts it again on the same port and
    /// store: what JetStream acknowledged must still be there.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills the server.
    pub fn stop(&mut self) {
        self.child.stop();
    }
}

/// A `redis-server` with no persistence, on a free port.
pub struct RedisServer {
    child: Process,
    port: u16,
    dir: TempDir,
    acl_file: Option<PathBuf>,
}

impl RedisServer {
    /// Starts a server on a free port.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut server = Self {
            child: Process::default(),
            port,
            dir,
            acl_file: None,
        };
        server.spawn();
        server
    }

    /// Starts a server whose users come from an ACL file that `write_acl`
    /// writes at the given path (its folder is the server's own).
    pub fn start_with_acl(write_acl: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let acl_file = dir.path().join("users.acl");
        write_acl(&acl_file);
        let mut server = Self {
            child: Process::default(),
            port: free_port(),
            dir,
            acl_file: Some(acl_file),
        };
        server.spawn();
        server
    }

    /// The server's own folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn spawn(&mut self) {
        let mut command = Command::new(binary("redis-server"));
        if let Some(acl_file) = &self.acl_file {
            command.arg("--aclfile").arg(acl_file);
        }
        let mut child = command
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to start redis-server");
        wait_until_listening(self.port, &mut child, "redis-server");
        self.child = Process(Some(child));
    }

    /// `redis://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server and starts an empty one on the same port.
    pub fn restart_empty(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Kills the server.
    pub fn stop(&mut self) {
        self.child.stop();
    }
}
