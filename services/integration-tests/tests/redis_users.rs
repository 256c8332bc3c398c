//! The Redis users `scripts/start` configures (`scripts/redis-users.sh`):
//! only the projection writes the live state, the gateway reads it, and the
//! services that check sessions touch only sign-in state.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use pf_hospital_model::{BedKind, BedState};
use pf_live_state::{BedUpdate, Keys, LiveState};
use pf_test_support::RedisServer;

fn write_acl(path: &Path) {
    let var = path.parent().unwrap();
    std::fs::create_dir_all(var.join("secrets")).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new("bash")
        .arg("-c")
        .arg(r#". scripts/redis-users.sh && write_redis_acl "$1""#)
        .arg("bash")
        .arg(path)
        .current_dir(repo)
        .env("VAR", var)
        .status()
        .unwrap();
    assert!(status.success(), "scripts/redis-users.sh failed");
}

fn url(server: &RedisServer, user: &str) -> String {
    let password =
        std::fs::read_to_string(server.dir().join("secrets").join(format!("redis-{user}")))
            .unwrap();
    server
        .url()
        .replace("redis://", &format!("redis://{user}:{}@", password.trim()))
}

fn update() -> BedUpdate {
    BedUpdate {
        event_id: "01900000-0000-7000-8000-000000000001".into(),
        event_type: "bed.opened".into(),
        entity_version: 1,
        site: "RWEAA".into(),
        ward: "WD1".into(),
        bed: "B01".into(),
        open: true,
        state: Some(BedState::Available),
        kind: BedKind::GeneralAcute,
        escalation: false,
        reason: String::new(),
        occurred_at_ms: 0,
    }
}

#[tokio::test]
async fn only_the_projection_writes_the_live_state() {
    let server = RedisServer::start_with_acl(write_acl);
    let timeout = Duration::from_secs(5);

    let mut projection = LiveState::connect(&url(&server, "projection"), Keys::default(), timeout)
        .await
        .unwrap();
    projection.apply_beds(&[update()]).await.unwrap();

    let mut gateway = LiveState::connect(&url(&server, "gateway"), Keys::default(), timeout)
        .await
        .unwrap();
    let snapshot = gateway.snapshot().await.unwrap();
    assert_eq!(snapshot.version, 1, "the gateway reads the live state");
    assert!(
        gateway.apply_beds(&[update()]).await.is_err(),
        "but cannot write it"
    );

    let mut beds = LiveState::connect(&url(&server, "hospital-beds"), Keys::default(), timeout)
        .await
        .unwrap();
    assert!(
        beds.snapshot().await.is_err(),
        "hospital-beds cannot read the live state"
    );

    let client = redis::Client::open(url(&server, "gateway")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let flushed: redis::RedisResult<()> = redis::cmd("FLUSHALL").query_async(&mut connection).await;
    assert!(flushed.is_err(), "no service may flush Redis");
    let anonymous = redis::Client::open(server.url()).unwrap();
    let mut connection = anonymous.get_multiplexed_async_connection().await.unwrap();
    let read: redis::RedisResult<Option<String>> = redis::cmd("GET")
        .arg("pf:version")
        .query_async(&mut connection)
        .await;
    assert!(read.is_err(), "the default user is off");
}
