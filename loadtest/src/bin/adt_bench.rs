//! `pf-adt-bench`: the ADT feed's speed, measured the way an integration
//! engine uses it. MLLP allows one message in flight per connection (the
//! sender waits for each ACK), so it reports both the ACK latency on each
//! connection (send → ACK, stored in JetStream first) and the messages per
//! second across all connections.
//!
//! It starts its own `nats-server -js` and `redis-server` (like the tests),
//! creates the streams, opens the beds of one LLR site by publishing their
//! `BedOpened` events, runs the feed service in this process and drives
//! `--connections` MLLP connections, each admitting and discharging patients
//! on its own beds (A01 then A03, cycling). A benchmark, not a test: it
//! asserts nothing about speed.
//!
//! ```sh
//! cargo build --release -p pf-loadtest --bin pf-adt-bench
//! ./target/release/pf-adt-bench --connections 1 --messages 2000
//! ./target/release/pf-adt-bench --connections 10 --messages 2000
//! ```

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use pf_hospital_model::Catalogue;
use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{Actor, ActorKind, BedOpened, Source};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

#[derive(Parser, Debug)]
#[command(
    about = "Measures the ADT feed: ACK latency per MLLP connection and messages/s across connections"
)]
struct Args {
    /// MLLP connections sending at once (each waits for its ACK).
    #[arg(long, default_value_t = 10)]
    connections: usize,
    /// Messages per connection.
    #[arg(long, default_value_t = 1000)]
    messages: usize,
    /// Beds per connection (of the site's beds).
    #[arg(long, default_value_t = 8)]
    beds: usize,
    /// Catalogue site whose beds are used.
    #[arg(long, default_value = "RWEAA")]
    site: String,
}

const FEEDS: &str = r#"{ "feeds": [ { "name": "bench", "sending_application": "BENCH", "sending_facility": "BENCH",
  "organisation": "RWE", "locations": [ { "site": "RWEAA", "facility": "RWEAA" } ] } ] }"#;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let catalogue = Catalogue::llr().context("the LLR catalogue")?;
    let beds: Vec<_> = catalogue
        .beds()
        .into_iter()
        .filter(|b| b.address.site.as_str() == args.site && !b.escalation)
        .collect();
    if beds.len() < args.connections * args.beds {
        bail!(
            "site {} has {} beds, {} needed",
            args.site,
            beds.len(),
            args.connections * args.beds
        );
    }
    let nats = pf_test_support::NatsServer::start();
    let redis = pf_test_support::RedisServer::start();
    let client = async_nats::connect(nats.url()).await?;
    let jetstream = async_nats::jetstream::new(client);
    pf_event_log::streams::ensure(&jetstream, pf_event_log::Durability::default())
        .await
        .context("creating the streams")?;
    let settings = pf_loadtest::publisher::stream_settings(&jetstream).await?;
    let publisher = pf_event_log::EventPublisher::new(jetstream.clone());
    let actor = Actor {
        id: "adt-bench".into(),
        organisation: "RWE".into(),
        kind: ActorKind::Machine as i32,
    };
    for bed in &beds[..args.connections * args.beds] {
        let event = NewEvent {
            source: Source {
                organisation: bed.address.site.to_string(),
                service: "adt-bench".into(),
            },
            entity_id: bed.address.entity_id(),
            entity_version: 1,
            occurred_at: Some(time::OffsetDateTime::now_utc() - time::Duration::hours(1)),
            actor: actor.clone(),
            payload: Payload::BedOpened(BedOpened {
                bed: Some(bed.address.to_proto()),
                kind: bed.kind.to_proto() as i32,
                escalation: false,
                reason: "benchmark".into(),
            }),
        }
        .seal(time::OffsetDateTime::now_utc());
        let subject = pf_event_log::streams::bed_subject(
            bed.address.site.as_str(),
            bed.address.ward.as_str(),
            bed.address.bed.as_str(),
        );
        publisher
            .publish(subject, &event, Some(0))
            .await
            .context("opening a bed")?;
    }

    let dir = std::env::temp_dir().join(format!("pf-adt-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let feeds = dir.join("feeds.json");
    std::fs::write(&feeds, FEEDS)?;
    let mut config = pf_adt_feed::AdtConfig::local(&nats.url(), &redis.url(), feeds);
    config.max_connections = args.connections + 4;
    let http = TcpListener::bind("127.0.0.1:0").await?;
    let mllp = TcpListener::bind("127.0.0.1:0").await?;
    let mllp_addr = mllp.local_addr()?;
    let shutdown = CancellationToken::new();
    let service = tokio::spawn(pf_adt_feed::run(
        http,
        mllp,
        config,
        catalogue.clone(),
        shutdown.clone(),
    ));
    // Ready when it answers on MLLP.
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(mllp_addr).await.is_err() {
        if Instant::now() > deadline {
            bail!("the feed did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..args.connections {
        let mine: Vec<_> = beds[c * args.beds..(c + 1) * args.beds].to_vec();
        let messages = args.messages;
        tasks.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(mllp_addr).await?;
            stream.set_nodelay(true)?;
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut refused = 0u64;
            let base = time::OffsetDateTime::now_utc();
            for i in 0..messages {
                let bed = &mine[(i / 2) % mine.len()];
                let trigger = if i % 2 == 0 { "A01" } else { "A03" };
                let at = base + time::Duration::milliseconds(i as i64 * 10);
                let stamp = at.format(time::macros::format_description!(
                    "[year][month][day][hour][minute][second].[subsecond digits:3]+0000"
                ))?;
                let message = format!(
                    "MSH|^~\\&|BENCH|BENCH|PF|PF|{stamp}||ADT^{trigger}|C{c}M{i}|P|2.5\rEVN|{trigger}|{stamp}\rPID|1||P{c}-{i}^^^RWE^MR\rPV1|1|I|{}^^{}^RWEAA||||||||||||||||V{c}-{}\r",
                    bed.address.ward, bed.address.bed, i / 2
                );
                let sent = Instant::now();
                let mut frame = Vec::with_capacity(message.len() + 3);
                frame.push(0x0b);
                frame.extend_from_slice(message.as_bytes());
                frame.extend_from_slice(&[0x1c, 0x0d]);
                stream.write_all(&frame).await?;
                let mut answer = Vec::with_capacity(256);
                let mut chunk = [0u8; 512];
                while !answer.ends_with(&[0x1c, 0x0d]) {
                    let n = stream.read(&mut chunk).await?;
                    if n == 0 {
                        bail!("the feed closed the connection");
                    }
                    answer.extend_from_slice(&chunk[..n]);
                }
                histogram.record(sent.elapsed().as_micros().max(1) as u64)?;
                if !answer.windows(7).any(|w| w == b"\rMSA|AA") {
                    refused += 1;
                }
            }
            anyhow::Ok((histogram, refused))
        }));
    }
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut refused = 0;
    for task in tasks {
        let (histogram, r) = task.await??;
        all.add(&histogram)?;
        refused += r;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = args.connections * args.messages;
    println!(
        "measured with: nats-server {}, PF_BEDS R{} ({} storage, no fsync setting), Redis without persistence",
        settings.nats_server, settings.replicas, settings.storage
    );
    println!("connections: {}", args.connections);
    println!("messages: {total} ({} not AA)", refused);
    println!("throughput: {:.0} messages/s", total as f64 / elapsed);
    println!(
        "ACK latency ms: p50 {:.2}, p95 {:.2}, p99 {:.2}, max {:.2}",
        all.value_at_quantile(0.50) as f64 / 1000.0,
        all.value_at_quantile(0.95) as f64 / 1000.0,
        all.value_at_quantile(0.99) as f64 / 1000.0,
        all.max() as f64 / 1000.0
    );
    shutdown.cancel();
    let _ = service.await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
