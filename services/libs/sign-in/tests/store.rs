//! The sign-in store against a real redis-server.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use pf_access::{Grant, Principal, Role};
use pf_sign_in::{SessionPolicy, SignInStore};
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
