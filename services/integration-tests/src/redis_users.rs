//! A redis-server with the users `scripts/start` configures
//! (`scripts/redis-users.sh`), for tests of what each service may do.

use std::path::Path;
use std::process::Command;

use pf_test_support::RedisServer;

/// Starts redis-server with the platform's Redis users and their passwords
/// (under the server's folder, `secrets/redis-{user}`).
pub fn start() -> RedisServer {
    RedisServer::start_with_acl(write_acl)
}

fn write_acl(path: &Path) {
    let var = path
        .parent()
        .expect("the ACL file is in the server's folder");
    std::fs::create_dir_all(var.join("secrets")).expect("make the secrets folder");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new("bash")
        .arg("-c")
        .arg(r#". scripts/redis-users.sh && write_redis_acl "$1""#)
        .arg("bash")
        .arg(path)
        .current_dir(repo)
        .env("VAR", var)
        .status()
        .expect("run bash");
    assert!(status.success(), "scripts/redis-users.sh failed");
}

/// The URL of `server` signed in as the Redis user `user`.
pub fn url_as(server: &RedisServer, user: &str) -> String {
    let password =
        std::fs::read_to_string(server.dir().join("secrets").join(format!("redis-{user}")))
            .unwrap_or_else(|e| panic!("no password for Redis user {user}: {e}"));
    server
        .url()
        .replace("redis://", &format!("redis://{user}:{}@", password.trim()))
}
