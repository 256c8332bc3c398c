//! The Redis users `scripts/start` configures (`scripts/redis-users.sh`):
//! only the projection writes the live state, the gateway reads it, the
//! services that check sessions touch only sign-in state, care-homes
//! keeps its idempotency keys under `pf-care:`, and the discharges service
//! reads the live state (care homes, discharges, the geo search) without
//! being able to change it.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use pf_hospital_model::{BedKind, BedState};
use pf_integration_tests::redis_users::url_as;
use pf_live_state::{BedUpdate, Keys, LiveState};

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
    let server = pf_integration_tests::redis_users::start();
    let timeout = Duration::from_secs(5);

    let mut projection =
        LiveState::connect(&url_as(&server, "projection"), Keys::default(), timeout)
            .await
            .unwrap();
    projection.apply_beds(&[update()]).await.unwrap();

    let mut gateway = LiveState::connect(&url_as(&server, "gateway"), Keys::default(), timeout)
        .await
        .unwrap();
    let snapshot = gateway.snapshot().await.unwrap();
    assert_eq!(snapshot.version, 1, "the gateway reads the live state");
    assert!(
        gateway.apply_beds(&[update()]).await.is_err(),
        "but cannot write it"
    );

    let mut beds = LiveState::connect(&url_as(&server, "hospital-beds"), Keys::default(), timeout)
        .await
        .unwrap();
    assert!(
        beds.snapshot().await.is_err(),
        "hospital-beds cannot read the live state"
    );

    let client = redis::Client::open(url_as(&server, "gateway")).unwrap();
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

#[tokio::test]
async fn care_homes_keeps_its_keys_and_cannot_touch_the_live_state() {
    let server = pf_integration_tests::redis_users::start();
    let timeout = Duration::from_secs(5);
    let mut projection =
        LiveState::connect(&url_as(&server, "projection"), Keys::default(), timeout)
            .await
            .unwrap();
    projection.apply_beds(&[update()]).await.unwrap();

    let client = redis::Client::open(url_as(&server, "care-homes")).unwrap();
    let mut care = client.get_multiplexed_async_connection().await.unwrap();
    // Its idempotency keys: claim (SET NX PX), read, answer (SETEX), expire, free.
    let claimed: Option<String> = redis::cmd("SET")
        .arg("pf-care:x")
        .arg("claimed")
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query_async(&mut care)
        .await
        .unwrap();
    assert_eq!(claimed.as_deref(), Some("OK"));
    let value: Option<String> = redis::cmd("GET")
        .arg("pf-care:x")
        .query_async(&mut care)
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("claimed"));
    let _: () = redis::cmd("SETEX")
        .arg("pf-care:x")
        .arg(60)
        .arg("{}")
        .query_async(&mut care)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("pf-care:y")
        .arg("1")
        .arg("EX")
        .arg(60)
        .query_async(&mut care)
        .await
        .unwrap();
    let _: i64 = redis::cmd("DEL")
        .arg("pf-care:y")
        .query_async(&mut care)
        .await
        .unwrap();
    // Sessions, as every service that checks them.
    let session: Option<String> = redis::cmd("GETEX")
        .arg("pf-auth:session:nobody")
        .arg("EX")
        .arg(60)
        .query_async(&mut care)
        .await
        .unwrap();
    assert_eq!(session, None);

    // Never the live state, nor anything else.
    let live: redis::RedisResult<Option<String>> = redis::cmd("GET")
        .arg("pf:version")
        .query_async(&mut care)
        .await;
    assert!(live.is_err(), "care-homes cannot read the live state");
    let written: redis::RedisResult<()> = redis::cmd("SET")
        .arg("pf:version")
        .arg("0")
        .query_async(&mut care)
        .await;
    assert!(written.is_err(), "nor write it");
    let deleted: redis::RedisResult<i64> = redis::cmd("DEL")
        .arg("pf:version")
        .query_async(&mut care)
        .await;
    assert!(deleted.is_err(), "nor delete it");
    let other: redis::RedisResult<()> = redis::cmd("SET")
        .arg("elsewhere")
        .arg("1")
        .query_async(&mut care)
        .await;
    assert!(other.is_err(), "nor keys outside its own");
    let flushed: redis::RedisResult<()> = redis::cmd("FLUSHALL").query_async(&mut care).await;
    assert!(flushed.is_err(), "and cannot flush Redis");
    let keys: redis::RedisResult<Vec<String>> =
        redis::cmd("KEYS").arg("*").query_async(&mut care).await;
    assert!(keys.is_err(), "nor list every key");

    let mut gateway = LiveState::connect(&url_as(&server, "gateway"), Keys::default(), timeout)
        .await
        .unwrap();
    assert_eq!(
        gateway.snapshot().await.unwrap().version,
        1,
        "the live state is intact"
    );
}

#[tokio::test]
async fn discharges_reads_the_live_state_but_cannot_write_it() {
    let server = pf_integration_tests::redis_users::start();
    let timeout = Duration::from_secs(5);
    let keys = Keys::default();
    let mut projection = LiveState::connect(&url_as(&server, "projection"), keys.clone(), timeout)
        .await
        .unwrap();
    projection.apply_beds(&[update()]).await.unwrap();
    let operator = redis::Client::open(url_as(&server, "operator")).unwrap();
    let mut operator = operator.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("GEOADD")
        .arg(keys.care_homes_geo())
        .arg(-1.11)
        .arg(52.61)
        .arg("1-000000001")
        .query_async(&mut operator)
        .await
        .unwrap();

    // What the service reads: care homes, discharges, homes near a place.
    let mut discharges = LiveState::connect(&url_as(&server, "discharges"), keys.clone(), timeout)
        .await
        .unwrap();
    let near = discharges
        .care_homes_near(-1.13, 52.63, 25.0)
        .await
        .unwrap();
    assert_eq!(near.len(), 1, "GEOSEARCH is a read: {near:?}");
    assert_eq!(near[0].0, "1-000000001");
    assert!(
        discharges.apply_beds(&[update()]).await.is_err(),
        "it cannot change the live state through the projection's scripts"
    );

    let client = redis::Client::open(url_as(&server, "discharges")).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let version: Option<String> = redis::cmd("GET")
        .arg("pf:version")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(version.as_deref(), Some("1"), "it reads the live state");
    // The indexes and records its list and search read.
    let _: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.care_homes_index())
        .query_async(&mut connection)
        .await
        .unwrap();
    let _: Vec<String> = redis::cmd("SMEMBERS")
        .arg(keys.discharges_index())
        .query_async(&mut connection)
        .await
        .unwrap();
    let record: Option<String> = redis::cmd("HGET")
        .arg(keys.care_home("1-000000001"))
        .arg("record")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(record, None);
    for (what, command) in [
        ("SET", redis::cmd("SET").arg("pf:version").arg("0").clone()),
        ("DEL", redis::cmd("DEL").arg("pf:version").clone()),
        (
            "HSET",
            redis::cmd("HSET")
                .arg("pf:care-home:1-000000001")
                .arg("record")
                .arg("{}")
                .clone(),
        ),
        (
            "GEOADD",
            redis::cmd("GEOADD")
                .arg(keys.care_homes_geo())
                .arg(-1.0)
                .arg(52.0)
                .arg("1-000000999")
                .clone(),
        ),
        (
            "EXPIRE",
            redis::cmd("EXPIRE").arg("pf:version").arg(1).clone(),
        ),
        (
            "SET elsewhere",
            redis::cmd("SET").arg("pf-care:x").arg("1").clone(),
        ),
        ("FLUSHALL", redis::cmd("FLUSHALL").clone()),
    ] {
        let result: redis::RedisResult<redis::Value> = command.query_async(&mut connection).await;
        assert!(result.is_err(), "discharges may not {what}");
    }
    // Sessions, as every service that checks them.
    let session: Option<String> = redis::cmd("GETEX")
        .arg("pf-auth:session:nobody")
        .arg("EX")
        .arg(60)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(session, None);
    let forged: redis::RedisResult<()> = redis::cmd("SET")
        .arg("pf-auth:session:x")
        .arg("{}")
        .arg("EX")
        .arg(60)
        .query_async(&mut connection)
        .await;
    assert!(forged.is_err(), "only identity writes sessions");

    let mut gateway = LiveState::connect(&url_as(&server, "gateway"), keys, timeout)
        .await
        .unwrap();
    assert_eq!(
        gateway.snapshot().await.unwrap().version,
        1,
        "the live state is intact"
    );
}
