//! A Redis primary, its replica and Sentinels watching them, on loopback:
//! kill the primary and the Sentinels promote the replica.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::{Process, binary, free_port, wait_until_listening};

/// The name the Sentinels know the primary by.
pub const PRIMARY_NAME: &str = "pf-live";

/// The user the replica copies the primary as (`masteruser`).
const REPLICATION_USER: &str = "pf-replication";
const REPLICATION_PASSWORD: &str = "replication-test-password";
/// The user the Sentinels watch and reconfigure the servers as.
const SENTINEL_USER: &str = "pf-sentinel";
const SENTINEL_PASSWORD: &str = "sentinel-test-password";

/// Two `redis-server`s (a primary and its replica, no persistence) and
/// three Sentinels (quorum 2) on free ports, with ACL users on all of them.
///
/// The caller's users (written by `write_acl`) are loaded on both servers
/// and on the Sentinels, so one user and password reach all of them (the
/// `redis+sentinel://` form of `PF_REDIS_URL`). Beside them the servers get
/// a replication user (the replica authenticates to the primary with it)
/// and a Sentinel user (`sentinel auth-user`) with only the commands those
/// need, as the Redis documentation lists them; the Sentinels talk to
/// each other as that user too (`sentinel sentinel-user`).
pub struct RedisFailover {
    dir: TempDir,
    servers: Vec<(u16, Process)>,
    sentinels: Vec<(u16, Process)>,
    /// `user:password` the caller's ACL names, for the URL and checks.
    credentials: String,
}

impl RedisFailover {
    /// Starts the servers and Sentinels; returns once the Sentinels know
    /// the replica and it is in sync. `user`/`password` must be a user
    /// `write_acl` writes (with `+@all` for the checks here); `default`
    /// should be turned off by it.
    pub fn start(user: &str, password: &str, write_acl: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users.acl");
        write_acl(&users);
        let mut acl = std::fs::read_to_string(&users).unwrap();
        acl.push_str(&format!(
            "\nuser {REPLICATION_USER} on >{REPLICATION_PASSWORD} +psync +replconf +ping\n\
             user {SENTINEL_USER} on >{SENTINEL_PASSWORD} allchannels +multi +slaveof +ping +exec \
             +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill\n"
        ));
        std::fs::write(&users, &acl).unwrap();
        let mut failover = Self {
            dir,
            servers: Vec::new(),
            sentinels: Vec::new(),
            credentials: format!("{user}:{password}"),
        };
        let primary = free_port();
        failover.spawn_server(primary, None);
        failover.spawn_server(free_port(), Some(primary));
        // The Sentinels' users: the caller's (lines starting `user`).
        let sentinel_users: String = acl
            .lines()
            .filter(|line| {
                line.starts_with("user ")
                    && !line.starts_with(&format!("user {REPLICATION_USER} "))
                    && !line.starts_with(&format!("user {SENTINEL_USER} "))
            })
            .map(|line| format!("{line}\n"))
            .collect();
        for _ in 0..3 {
            let port = free_port();
            let dir = failover.dir.path().join(format!("sentinel-{port}"));
            std::fs::create_dir_all(&dir).unwrap();
            let config = dir.join("sentinel.conf");
            std::fs::write(
                &config,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor {PRIMARY_NAME} 127.0.0.1 {primary} 2\n\
                     sentinel auth-user {PRIMARY_NAME} {SENTINEL_USER}\n\
                     sentinel auth-pass {PRIMARY_NAME} {SENTINEL_PASSWORD}\n\
                     sentinel down-after-milliseconds {PRIMARY_NAME} 1000\n\
                     sentinel failover-timeout {PRIMARY_NAME} 5000\n\
                     sentinel sentinel-user {SENTINEL_USER}\n\
                     sentinel sentinel-pass {SENTINEL_PASSWORD}\n\
                     user {SENTINEL_USER} on >{SENTINEL_PASSWORD} +@all\n\
                     {sentinel_users}",
                    dir = dir.display()
                ),
            )
            .unwrap();
            let mut child = Command::new(binary("redis-server"))
                .arg(&config)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("failed to start redis-server --sentinel");
            wait_until_listening(port, &mut child, "redis-server --sentinel");
            failover.sentinels.push((port, Process(Some(child))));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !failover.sentinels_know_a_synced_replica() {
            assert!(
                Instant::now() < deadline,
                "the Sentinels did not see the replica in sync within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        failover
    }

    fn spawn_server(&mut self, port: u16, replica_of: Option<u16>) {
        let dir = self.dir.path().join(format!("redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut command = Command::new(binary("redis-server"));
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .arg("--aclfile")
            .arg(self.dir.path().join("users.acl"))
            .args(["--masteruser", REPLICATION_USER])
            .args(["--masterauth", REPLICATION_PASSWORD]);
        if let Some(primary) = replica_of {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("failed to start redis-server");
        wait_until_listening(port, &mut child, "redis-server");
        self.servers.push((port, Process(Some(child))));
    }

    /// `redis+sentinel://user:password@127.0.0.1:{port},…/pf-live`: every
    /// Sentinel, for `PF_REDIS_URL`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|(port, _)| format!("127.0.0.1:{port}"))
            .collect();
        format!(
            "redis+sentinel://{}@{}/{PRIMARY_NAME}",
            self.credentials,
            hosts.join(",")
        )
    }

    /// The port of the server the Sentinels name as the primary now.
    pub fn primary_port(&self) -> Option<u16> {
        for (port, _) in &self.sentinels {
            let Some(reply) = self.ask(
                *port,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", PRIMARY_NAME],
            ) else {
                continue;
            };
            // *2\r\n$9\r\n127.0.0.1\r\n$5\r\n12345\r\n
            if let Some(port) = reply.lines().nth(4).and_then(|p| p.trim().parse().ok()) {
                return Some(port);
            }
        }
        None
    }

    /// Kills (SIGKILL) the server the Sentinels name as the primary now;
    /// returns its port.
    pub fn kill_primary(&mut self) -> u16 {
        let port = self.primary_port().expect("the Sentinels name no primary");
        for (server_port, process) in &mut self.servers {
            if *server_port == port {
                process.stop();
            }
        }
        port
    }

    /// Whether some Sentinel names a primary other than `port` that says
    /// it is a primary (`ROLE`).
    pub fn promoted_other_than(&self, port: u16) -> bool {
        match self.primary_port() {
            Some(now) if now != port => self
                .ask(now, &["ROLE"])
                .is_some_and(|reply| reply.contains("master")),
            _ => false,
        }
    }

    fn sentinels_know_a_synced_replica(&self) -> bool {
        self.sentinels.iter().all(|(port, _)| {
            self.ask(*port, &["SENTINEL", "REPLICAS", PRIMARY_NAME])
                .is_some_and(|reply| {
                    reply.contains("master-link-status\r\n$2\r\nok")
                        && reply.contains("flags\r\n$5\r\nslave\r\n")
                })
        })
    }

    /// Sends `AUTH` and one command to `port` over plain RESP; the raw
    /// reply to the command, or `None` if the server does not answer.
    fn ask(&self, port: u16, command: &[&str]) -> Option<String> {
        let (user, password) = self.credentials.split_once(':')?;
        let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok()?;
        let encode = |args: &[&str]| {
            let mut out = format!("*{}\r\n", args.len());
            for arg in args {
                out.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
            }
            out
        };
        stream
            .write_all(encode(&["AUTH", user, password]).as_bytes())
            .ok()?;
        stream.write_all(encode(command).as_bytes()).ok()?;
        let mut reply = Vec::new();
        let mut buffer = [0u8; 8192];
        let deadline = Instant::now() + Duration::from_millis(500);
        // AUTH's "+OK\r\n", then the command's reply; read until quiet.
        while Instant::now() < deadline {
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => reply.extend_from_slice(&buffer[..n]),
                Err(_) if !reply.is_empty() => break,
                Err(_) => return None,
            }
        }
        let reply = String::from_utf8_lossy(&reply).into_owned();
        reply.strip_prefix("+OK\r\n").map(str::to_owned)
    }
}
