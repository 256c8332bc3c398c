//! The sign-in store against a real redis-server.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use pf_access::{Grant, Principal, Role};
use pf_sign_in::kiosks::kiosk_principal;
use pf_sign_in::{Kiosk, LinkPurpose, SessionLifetime, SessionPolicy, SignInStore};
use pf_test_support::RedisServer;

fn nurse() -> Principal {
    Principal::person("nurse-1", "A Nurse", None)
        .with_grant(Grant::parse(Role::CareHomeEditor, &["1-000000001"]).unwrap())
}

async fn store(redis: &RedisServer, policy: SessionPolicy) -> SignInStore {
    SignInStore::connect(&redis.url(), "test:auth:", policy)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_sign_in_link_works_once_and_only_its_hash_is_stored() {
    let redis = RedisServer::start();
    let store = store(&redis, SessionPolicy::default()).await;
    let token = store.create_link(&nurse()).await.unwrap();
    assert_eq!(store.redeem_link(&token).await.unwrap(), Some(nurse()));
    assert_eq!(store.redeem_link(&token).await.unwrap(), None, "second use");
    assert_eq!(store.redeem_link("made-up").await.unwrap(), None);

    let again = store.create_link(&nurse()).await.unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("test:auth:link:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert!(
        !keys[0].contains(&again),
        "the link token itself is never stored"
    );
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_once_when_revoked() {
    let redis = RedisServer::start();
    let policy = SessionPolicy {
        idle: Duration::from_secs(1),
        ..SessionPolicy::default()
    };
    let store = store(&redis, policy).await;

    let idle = store.create_session(&nurse()).await.unwrap();
    assert_eq!(
        store.session(&idle.id).await.unwrap().map(|s| s.principal),
        Some(nurse())
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(store.session(&idle.id).await.unwrap(), None, "idle timeout");

    let first = store.create_session(&nurse()).await.unwrap();
    let second = store.create_session(&nurse()).await.unwrap();
    assert_ne!(first.id, second.id, "each sign-in gets a new session id");
    assert_ne!(first.csrf_token, second.csrf_token);
    let link = store.create_link(&nurse()).await.unwrap();
    assert_eq!(store.revoke("nurse-1").await.unwrap(), 2);
    assert_eq!(store.session(&first.id).await.unwrap(), None);
    assert_eq!(store.session(&second.id).await.unwrap(), None);
    assert!(store.is_revoked("nurse-1").await.unwrap());
    assert_eq!(
        store.redeem_link(&link).await.unwrap(),
        None,
        "a revoked person's link is void"
    );
    store.reinstate("nurse-1").await.unwrap();
    assert!(!store.is_revoked("nurse-1").await.unwrap());
}

#[tokio::test]
async fn sessions_end_at_the_absolute_timeout_even_when_used() {
    let redis = RedisServer::start();
    let policy = SessionPolicy {
        absolute: Duration::from_secs(1),
        ..SessionPolicy::default()
    };
    let store = store(&redis, policy).await;
    let session = store.create_session(&nurse()).await.unwrap();
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(600)).await;
        if store.session(&session.id).await.unwrap().is_none() {
            return;
        }
    }
    panic!("the session outlived its absolute timeout");
}

#[tokio::test]
async fn a_session_with_its_own_lifetime_outlives_every_readers_policy() {
    let started = time::OffsetDateTime::now_utc().unix_timestamp();
    let redis = RedisServer::start();
    let short = SessionPolicy {
        idle: Duration::from_secs(1),
        absolute: Duration::from_secs(1),
        ..SessionPolicy::default()
    };
    // Made by one service, read by another with the same short policy.
    let maker = store(&redis, short).await;
    let reader = store(&redis, short).await;
    let kiosk = kiosk_principal("wall-1", "Wall 1").unwrap();
    let long = maker
        .create_long_session(&kiosk, SessionLifetime::fixed(Duration::from_secs(3600)))
        .await
        .unwrap();
    let person = maker.create_session(&nurse()).await.unwrap();
    assert!(reader.session(&long.id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(reader.session(&person.id).await.unwrap(), None);
    let read = reader
        .session(&long.id)
        .await
        .unwrap()
        .expect("still signed in");
    assert_eq!(read.principal, kiosk);
    assert_eq!(read.lifetime.map(|l| l.absolute_secs), Some(3600));
    // Reading it renewed its own idle timeout, not the reader's.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(format!("test:auth:session:{}", hashed(&long.id)))
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(ttl > 3000, "{ttl}");
    let used = reader.last_used("kiosk:wall-1").await.unwrap().unwrap();
    // Recorded during this test (a busy machine may take longer than the
    // sleep above, so no fixed margin).
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (started..=now).contains(&used),
        "{started} <= {used} <= {now}"
    );
    assert_eq!(reader.last_used("nobody").await.unwrap(), None);
}

#[tokio::test]
async fn kiosks_are_registered_once_and_revoked_for_good() {
    let redis = RedisServer::start();
    let store = store(&redis, SessionPolicy::default()).await;
    let kiosk = Kiosk::new("wall-1", "Control room wall 1", "admin");
    assert!(store.register_kiosk(&kiosk).await.unwrap());
    let again = Kiosk::new("wall-1", "Another name", "admin");
    assert!(
        !store.register_kiosk(&again).await.unwrap(),
        "the id is taken"
    );
    assert_eq!(store.kiosk("wall-1").await.unwrap(), Some(kiosk.clone()));
    assert_eq!(store.kiosk("wall 2").await.unwrap(), None);

    // A setup link is found only as a setup link.
    let principal = kiosk.principal().unwrap();
    let setup = store
        .create_link_for(LinkPurpose::KioskSetup, &principal)
        .await
        .unwrap();
    assert_eq!(store.redeem_link(&setup).await.unwrap(), None);
    let setup = store
        .create_link_for(LinkPurpose::KioskSetup, &principal)
        .await
        .unwrap();
    let unused = store
        .create_link_for(LinkPurpose::KioskSetup, &principal)
        .await
        .unwrap();
    assert_eq!(
        store
            .redeem_link_for(LinkPurpose::KioskSetup, &setup)
            .await
            .unwrap(),
        Some(principal.clone())
    );
    store.kiosk_set_up("wall-1").await.unwrap();

    assert!(store.revoke_kiosk("wall-1").await.unwrap());
    assert!(!store.revoke_kiosk("wall-9").await.unwrap());
    let listed = store.kiosks().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].set_up_at.is_some() && listed[0].is_revoked());
    // Revoked without end: no expiry on the revocation, the link is void.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg("test:auth:revoked:kiosk:wall-1")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(ttl, -1, "the revocation does not expire");
    assert_eq!(
        store
            .redeem_link_for(LinkPurpose::KioskSetup, &unused)
            .await
            .unwrap(),
        None
    );
}

/// The expiry of `key` as Redis reports it (`-1`: none, `-2`: no such key).
async fn ttl_of(redis: &RedisServer, key: &str) -> i64 {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("TTL")
        .arg(key)
        .query_async(&mut connection)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_revocation_lasts_until_the_person_is_reinstated() {
    let redis = RedisServer::start();
    let second = Duration::from_secs(1);
    let short = SessionPolicy {
        idle: second,
        absolute: second,
        link: second,
    };
    let store = store(&redis, short).await;
    store.create_session(&nurse()).await.unwrap();
    assert_eq!(store.revoke("nurse-1").await.unwrap(), 1);
    assert_eq!(ttl_of(&redis, "test:auth:revoked:nurse-1").await, -1);

    // Every duration of the policy has passed: still revoked.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert!(store.is_revoked("nurse-1").await.unwrap());
    assert_eq!(ttl_of(&redis, "test:auth:revoked:nurse-1").await, -1);
    let link = store.create_link(&nurse()).await.unwrap();
    assert_eq!(store.redeem_link(&link).await.unwrap(), None);

    store.reinstate("nurse-1").await.unwrap();
    assert!(!store.is_revoked("nurse-1").await.unwrap());
    assert_eq!(ttl_of(&redis, "test:auth:revoked:nurse-1").await, -2);
    let link = store.create_link(&nurse()).await.unwrap();
    assert_eq!(store.redeem_link(&link).await.unwrap(), Some(nurse()));
}

#[tokio::test]
async fn a_link_issued_before_a_reinstatement_never_works() {
    let redis = RedisServer::start();
    let store = store(&redis, SessionPolicy::default()).await;
    let before = store.create_link(&nurse()).await.unwrap();
    let other = Principal::person("carer-2", "A Carer", None)
        .with_grant(Grant::parse(Role::CareHomeEditor, &["1-000000001"]).unwrap());
    let someone_elses = store.create_link(&other).await.unwrap();
    store.revoke("nurse-1").await.unwrap();
    let while_revoked = store.create_link(&nurse()).await.unwrap();
    // A session started while the revocation was being made.
    let straggler = store.create_session(&nurse()).await.unwrap();
    store.reinstate("nurse-1").await.unwrap();

    assert_eq!(store.redeem_link(&before).await.unwrap(), None);
    assert_eq!(store.redeem_link(&while_revoked).await.unwrap(), None);
    assert_eq!(store.session(&straggler.id).await.unwrap(), None);
    let after = store.create_link(&nurse()).await.unwrap();
    assert_eq!(store.redeem_link(&after).await.unwrap(), Some(nurse()));
    assert_eq!(
        store.redeem_link(&someone_elses).await.unwrap(),
        Some(other),
        "another person's links are untouched"
    );
    // Revoked again, then reinstated again: still void.
    let twice = store.create_link(&nurse()).await.unwrap();
    store.revoke("nurse-1").await.unwrap();
    store.reinstate("nurse-1").await.unwrap();
    assert_eq!(store.redeem_link(&twice).await.unwrap(), None);
}

#[tokio::test]
async fn a_link_stored_without_its_generation_is_void() {
    use base64::Engine as _;
    use sha2::Digest as _;

    let redis = RedisServer::start();
    let store = store(&redis, SessionPolicy::default()).await;
    let token = "a-link-from-before-generations";
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(token.as_bytes()));
    let client = redis::Client::open(redis.url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("test:auth:link:{hash}"))
        .arg(serde_json::to_string(&nurse()).unwrap())
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(store.redeem_link(token).await.unwrap(), None);
}

#[tokio::test]
async fn a_kiosks_new_setup_link_voids_the_earlier_one() {
    let redis = RedisServer::start();
    let store = store(&redis, SessionPolicy::default()).await;
    let kiosk = Kiosk::new("wall-1", "Control room wall 1", "admin");
    assert!(store.register_kiosk(&kiosk).await.unwrap());
    let principal = kiosk.principal().unwrap();
    let first = store
        .create_link_for(LinkPurpose::KioskSetup, &principal)
        .await
        .unwrap();
    let second = store
        .reissue_link_for(LinkPurpose::KioskSetup, &principal)
        .await
        .unwrap();
    let third = store
        .reissue_link_for(LinkPurpose::KioskSetup, &principal)
        .await
        .unwrap();
    let person = store.create_link(&nurse()).await.unwrap();
    for earlier in [&first, &second] {
        assert_eq!(
            store
                .redeem_link_for(LinkPurpose::KioskSetup, earlier)
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(
        store
            .redeem_link_for(LinkPurpose::KioskSetup, &third)
            .await
            .unwrap(),
        Some(principal)
    );
    assert_eq!(store.redeem_link(&person).await.unwrap(), Some(nurse()));
}

/// A session's key holds the SHA-256 of its id (base64url), never the id.
fn hashed(id: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(id.as_bytes()))
}
