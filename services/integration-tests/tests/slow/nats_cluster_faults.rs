//! A three-node NATS JetStream cluster with the platform's streams at three
//! replicas (R3, as `pf-streams` creates them with `PF_STREAM_REPLICAS=3`),
//! under load from producers that connect with the whole server list
//! (`PF_NATS_URL=nats://n1,nats://n2,nats://n3`), while each node in turn
//! is killed with SIGKILL — the stream's leader first — and started again.
//!
//! After each kill the producers are acknowledged again (the time until
//! the first acknowledgement after the kill is printed), the node rejoins
//! and catches up (the stream reports every replica current), and at the
//! end every event a producer was told was stored is in the stream exactly
//! once. `PF_FAULTS=long` runs more producers and kills every node twice.

#![allow(clippy::unwrap_used, clippy::too_many_lines)] // test code: fail loudly

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use pf_event_log::streams::{BEDS, bed_subject};
use pf_event_log::{Durability, EventPublisher, NatsSettings};
use pf_test_support::NatsCluster;

const SITE: &str = "RWEAA";
const WARD: &str = "AMU";

/// Creates the platform's streams at R3 through `pf-streams`' own code,
/// retrying while the cluster elects its JetStream meta leader.
async fn create_streams(js: &async_nats::jetstream::Context) {
    let config = pf_streams::StreamsConfig {
        durability: Durability {
            replicas: 3,
            ..Durability::default()
        },
        audit: pf_audit::stream::AuditConfig {
            replicas: 3,
            ..Default::default()
        },
        ..Default::default()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match pf_streams::ensure(js, &config).await {
            Ok(()) => return,
            Err(err) if Instant::now() < deadline => {
                eprintln!("cluster not ready yet: {err}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(err) => panic!("cannot create the R3 streams: {err}"),
        }
    }
}

/// The stream's leader and whether every replica is current (caught up).
async fn replication(js: &async_nats::jetstream::Context) -> Option<(String, bool, usize)> {
    let mut stream = js.get_stream(BEDS.name).await.ok()?;
    let info = stream.info().await.ok()?;
    let cluster = info.cluster.clone()?;
    let leader = cluster.leader.clone()?;
    let current = cluster
        .replicas
        .iter()
        .all(|peer| peer.current && !peer.offline && peer.lag.unwrap_or(0) == 0);
    Some((leader, current, cluster.replicas.len()))
}

/// Every event id in the bed stream, with how often it is there. The
/// cluster may still be settling after the last restart (a consumer's
/// creation can time out meanwhile), so a failed read is started again.
async fn stored_ids(js: &async_nats::jetstream::Context) -> HashMap<String, u32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match read_ids(js).await {
            Ok(ids) => return ids,
            Err(err) => {
                assert!(
                    Instant::now() < deadline,
                    "cannot read the bed stream back: {err}"
                );
                eprintln!("reading the bed stream again: {err}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

async fn read_ids(
    js: &async_nats::jetstream::Context,
) -> Result<HashMap<String, u32>, Box<dyn std::error::Error + Send + Sync>> {
    let mut stream = js.get_stream(BEDS.name).await?;
    let last = stream.info().await?.state.last_sequence;
    let mut ids = HashMap::new();
    if last == 0 {
        return Ok(ids);
    }
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await?;
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        let sequence = message.info()?.stream_sequence;
        let envelope = pf_proto::v1::EventEnvelope::decode_checked(&message.payload).unwrap();
        *ids.entry(envelope.event_id).or_insert(0) += 1;
        if sequence >= last {
            break;
        }
    }
    Ok(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_any_cluster_node_loses_no_acknowledged_event() {
    let _turn = crate::one_at_a_time().await;
    let long = std::env::var("PF_FAULTS").as_deref() == Ok("long");
    let (producers, rounds) = if long { (8, 2) } else { (4, 1) };

    let mut cluster = NatsCluster::start(3);
    // The whole server list, as a service's PF_NATS_URL holds it.
    let settings = NatsSettings::anonymous(cluster.url());
    let admin = settings.connect("cluster-faults-admin").await.unwrap();
    let admin_js = async_nats::jetstream::new(admin);
    create_streams(&admin_js).await;

    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let last_ack_ms = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let mut tasks = Vec::new();
    for producer in 0..producers {
        let (settings, acked, last_ack_ms, stop) = (
            settings.clone(),
            acked.clone(),
            last_ack_ms.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let client = settings.connect("cluster-faults-producer").await.unwrap();
            let publisher = EventPublisher::new(async_nats::jetstream::new(client));
            let bed = format!("B{producer:02}");
            let mut version = 0;
            let mut retries = 0u64;
            while !stop.load(Ordering::Relaxed) {
                version += 1;
                let event = crate::kit::bed_flip("cluster-faults", SITE, WARD, &bed, version);
                // Re-send the same envelope until it is acknowledged: its
                // id de-duplicates a re-send that was stored after all.
                loop {
                    match publisher
                        .publish(bed_subject(SITE, WARD, &bed), &event, None)
                        .await
                    {
                        Ok(_) => break,
                        Err(_) => {
                            retries += 1;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                acked.lock().unwrap().push(event.event_id.clone());
                last_ack_ms.store(
                    u64::try_from(epoch.elapsed().as_millis()).unwrap(),
                    Ordering::Relaxed,
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            retries
        }));
    }

    let acks_since = |count: usize| {
        let acked = acked.clone();
        async move {
            let start = acked.lock().unwrap().len();
            let deadline = Instant::now() + Duration::from_secs(60);
            while acked.lock().unwrap().len() < start + count {
                assert!(Instant::now() < deadline, "producers stalled for 60 s");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    acks_since(200).await;

    let mut report = Vec::new();
    for round in 0..rounds {
        // The stream leader's node first, then the others.
        // The stream's leader, once the cluster has elected one.
        let deadline = Instant::now() + Duration::from_secs(60);
        let (leader, replicas) = loop {
            if let Some((leader, _, replicas)) = replication(&admin_js).await {
                break (leader, replicas);
            }
            assert!(Instant::now() < deadline, "the bed stream has no leader");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(
            replicas, 2,
            "the bed stream has three replicas (a leader and two)"
        );
        let first = cluster.index_of(&leader).unwrap();
        let size = cluster.len();
        for index in (0..size).map(|i| (first + i) % size) {
            let before = acked.lock().unwrap().len();
            let killed_at = Instant::now();
            let killed_ms = u64::try_from(epoch.elapsed().as_millis()).unwrap();
            cluster.kill(index);
            // Acknowledged again: the first acknowledgement of an event
            // published after the kill.
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                if acked.lock().unwrap().len() > before + producers
                    && last_ack_ms.load(Ordering::Relaxed) > killed_ms
                {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "no acknowledgement within 60 s of killing {}",
                    cluster.node_name(index)
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let acknowledged_again = killed_at.elapsed();
            acks_since(100).await;

            // The node rejoins and catches up while the load goes on.
            let restarted_at = Instant::now();
            cluster.start_node(index);
            let deadline = Instant::now() + Duration::from_secs(90);
            loop {
                if let Some((_, true, 2)) = replication(&admin_js).await {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{} did not catch up within 90 s",
                    cluster.node_name(index)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let caught_up = restarted_at.elapsed();
            let what = if index == first {
                "stream leader"
            } else {
                "follower"
            };
            report.push(format!(
                "round {round}: killed {} ({what}): acknowledged again after {:.2} s; rejoined and caught up {:.2} s after restart",
                cluster.node_name(index),
                acknowledged_again.as_secs_f64(),
                caught_up.as_secs_f64()
            ));
            acks_since(100).await;
        }
    }

    stop.store(true, Ordering::Relaxed);
    let mut retries = 0;
    for task in tasks {
        retries += task.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    let stored = stored_ids(&admin_js).await;
    let lost: Vec<&String> = acked
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    let doubled = stored.values().filter(|n| **n > 1).count();
    println!(
        "NATS cluster faults ({}):",
        if long { "long" } else { "short" }
    );
    for line in &report {
        println!("  {line}");
    }
    println!(
        "  {} events acknowledged, {} stored, {} re-sends, {} lost, {} stored twice",
        acked.len(),
        stored.len(),
        retries,
        lost.len(),
        doubled
    );
    assert!(lost.is_empty(), "acknowledged events lost: {lost:?}");
    assert_eq!(doubled, 0, "an event is stored more than once");
}
