//! The lease against a real `nats-server -js`: one holder at a time, a
//! standby taking over when the holder lets go, and a holder that finds
//! its key written by someone else stopping its work at once (fencing).

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::Duration;

use async_nats::jetstream;
use pf_lease::{Lease, LeaseTtl};
use pf_test_support::NatsServer;
use tokio_util::sync::CancellationToken;

async fn context(nats: &NatsServer) -> jetstream::Context {
    jetstream::new(async_nats::connect(nats.url()).await.unwrap())
}

async fn lease(context: &jetstream::Context, holder: &str) -> Lease {
    Lease::open(
        context,
        "projection",
        holder.to_owned(),
        &CancellationToken::new(),
    )
    .await
    .unwrap()
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_waits_while_the_lease_is_held_and_takes_it_when_released() {
    let nats = NatsServer::start();
    let context = context(&nats).await;
    pf_lease::ensure_bucket(&context, 1, LeaseTtl(Duration::from_secs(2)))
        .await
        .unwrap();
    // ensure_bucket is idempotent.
    pf_lease::ensure_bucket(&context, 1, LeaseTtl(Duration::from_secs(2)))
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let first = lease(&context, "first").await;
    assert_eq!(first.ttl(), Duration::from_secs(2));
    let held = first.acquire(&shutdown).await.unwrap();
    let token = held.token();

    // The second copy stays on standby for longer than the time to live:
    // the holder keeps renewing.
    let second = lease(&context, "second").await;
    let waiting = tokio::spawn({
        let shutdown = shutdown.clone();
        async move { second.acquire(&shutdown).await }
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(!waiting.is_finished(), "two copies held the lease at once");
    assert!(
        !held.work().is_cancelled(),
        "the holder lost a lease it renewed"
    );
    assert!(held.token() > token, "renewals move the fencing token on");
    let last = held.token();

    // Released: the standby takes over, with a newer token.
    held.release().await;
    let taken = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the standby took over")
        .unwrap()
        .expect("a held lease");
    assert!(taken.token() > last, "the new holder's token is newer");
    taken.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_whose_key_someone_else_wrote_stops_working() {
    let nats = NatsServer::start();
    let context = context(&nats).await;
    pf_lease::ensure_bucket(&context, 1, LeaseTtl(Duration::from_secs(2)))
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let held = lease(&context, "first")
        .await
        .acquire(&shutdown)
        .await
        .unwrap();
    let work = held.work();

    // Another copy writes the key (as one would after the lease lapsed).
    let store = context.get_key_value(pf_lease::BUCKET).await.unwrap();
    store.put("projection", "intruder".into()).await.unwrap();

    tokio::time::timeout(Duration::from_secs(10), work.cancelled())
        .await
        .expect("the holder stopped its work");
    assert!(held.is_lost());
    assert!(
        !shutdown.is_cancelled(),
        "only the work stops, not the process's shutdown"
    );
    // A lost lease is not deleted on release: the key stays the other's.
    held.release().await;
    let entry = store.get("projection").await.unwrap().unwrap();
    assert_eq!(&entry[..], b"intruder");
}
