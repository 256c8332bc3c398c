//! `pf-bench`: the platform's event path beside a bare ceiling of the same
//! parts, in one run on one machine.
//!
//! The bare program does only what our parts must do, with no business
//! logic: JetStream publish with a de-duplication id, a durable pull
//! consumer, pipelined Redis writes (one `HSET` per event, one round trip
//! per batch, one cumulative ack per batch). The platform then does the same
//! work its own way: events sealed and encoded as a producer does, published
//! into `PF_BEDS`; the real `pf-projection` binary (a process of its own)
//! draining that backlog into Redis; and a replay of the whole stream into
//! an empty Redis. Each figure is printed with its ratio to the ceiling, and
//! the durability settings it ran under come first.
//!
//! It starts its own `nats-server -js` and `redis-server` (nothing else may
//! run on them), so it needs no running platform. A benchmark, not a test:
//! it asserts nothing about speed.
//!
//! ```sh
//! cargo build --release -p pf-loadtest -p pf-projection
//! ./target/release/pf-bench --events 1000000
//! ./target/release/pf-bench --events 200000 --fsync-always --redis-aof
//! ```

use std::future::IntoFuture as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::context::{Context, ContextBuilder};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream;
use bytes::Bytes;
use clap::Parser;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use pf_loadtest::beds::BedCycle;
use time::OffsetDateTime;

/// The replay runs in this process: the same allocator as `pf-projection`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(about = "Measures the event path (publish, apply, replay) beside a bare ceiling")]
struct Args {
    /// Events per phase.
    #[arg(long, default_value_t = 200_000)]
    events: u64,
    /// Wards the events are spread over.
    #[arg(long, default_value_t = 100)]
    wards: u32,
    /// Wards per site (sites `LT0001`, `LT0002`, …). England's acute bed
    /// base is about 100,000 beds on 1,500 sites: `--wards 4500
    /// --wards-per-site 3 --beds 22`.
    #[arg(long, default_value_t = 10)]
    wards_per_site: u32,
    /// Beds per ward.
    #[arg(long, default_value_t = 50)]
    beds: u32,
    /// Publish acks outstanding at once.
    #[arg(long, default_value_t = 1024)]
    in_flight: usize,
    /// Events per batch for the bare consumer (the projection uses its own
    /// `PF_PROJECTION_BATCH`, default 500).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Run nats-server with `sync_interval: always` (an fsync per write).
    #[arg(long)]
    fsync_always: bool,
    /// Run Redis with the append-only file on (`appendfsync everysec`).
    #[arg(long)]
    redis_aof: bool,
    /// Where `pf-projection` is (default: beside this program).
    #[arg(long)]
    projection: Option<PathBuf>,
}

/// The bare stream: same storage and de-duplication as `PF_BEDS`.
const BARE_STREAM: &str = "BARE_BEDS";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let projection = match &args.projection {
        Some(path) => path.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("the folder of this program")?
            .join("pf-projection"),
    };
    if !projection.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p pf-projection`, or pass --projection",
            projection.display()
        );
    }

    let fsync_always = args.fsync_always;
    if fsync_always {
        let version = Command::new("nats-server")
            .arg("--version")
            .output()
            .context("running nats-server --version")?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let minor = version
            .rsplit('v')
            .next()
            .and_then(|v| v.split('.').nth(1))
            .and_then(|m| m.parse::<u32>().ok());
        if version.contains(" v2.") && minor.is_some_and(|m| m < 10) {
            bail!(
                "--fsync-always needs nats-server 2.10 or later (jetstream sync_interval); this is {version}"
            );
        }
    }
    let nats = pf_test_support::NatsServer::start_configured(|config, port, store| {
        let sync = if fsync_always {
            ", sync_interval: always"
        } else {
            ""
        };
        let text = format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: \"{}\", max_file_store: 1T{sync} }}\n",
            store.display()
        );
        std::fs::write(config, text).expect("cannot write the nats-server configuration");
    });
    let redis_server = pf_test_support::RedisServer::start();
    let redis_client = redis::Client::open(redis_server.url())?;
    let mut redis = redis_client.get_multiplexed_async_connection().await?;
    if args.redis_aof {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendonly")
            .arg("yes")
            .query_async(&mut redis)
            .await?;
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("appendfsync")
            .arg("everysec")
            .query_async(&mut redis)
            .await?;
    }

    let client = async_nats::connect(nats.url()).await?;
    let js = ContextBuilder::new()
        .timeout(Duration::from_secs(10))
        .max_ack_inflight(args.in_flight.max(1))
        .build(client);
    // Every stream and the lease bucket, as `pf-streams` creates them at install.
    pf_streams::ensure(&js, &pf_streams::StreamsConfig::default())
        .await
        .context("creating the platform's streams")?;
    let beds_config = js
        .get_stream(pf_event_log::streams::BEDS.name)
        .await?
        .info()
        .await?
        .config
        .clone();
    js.create_stream(stream::Config {
        name: BARE_STREAM.into(),
        subjects: vec!["bare.>".into()],
        storage: beds_config.storage,
        num_replicas: beds_config.num_replicas,
        duplicate_window: beds_config.duplicate_window,
        ..Default::default()
    })
    .await
    .context("creating the bare stream")?;

    let aof: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .query_async(&mut redis)
        .await?;
    let fsync: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendfsync")
        .query_async(&mut redis)
        .await?;
    println!(
        "measured with: nats-server {}, streams R{} {:?} storage, JetStream fsync {}; Redis appendonly {} (appendfsync {}), no RDB saves; {} CPUs",
        js.client().server_info().version,
        beds_config.num_replicas,
        beds_config.storage,
        if fsync_always {
            "on every write (sync_interval: always)"
        } else {
            "left to the server (2 min on 2.10+, the OS's flush on 2.9; a killed process loses nothing, a power cut may)"
        },
        aof.get(1).map_or("?", String::as_str),
        fsync.get(1).map_or("?", String::as_str),
        std::thread::available_parallelism().map_or(0, usize::from),
    );
    println!(
        "events: {} per phase, over {} beds: {} wards of {} beds on {} sites",
        args.events,
        u64::from(args.wards) * u64::from(args.beds),
        args.wards,
        args.beds,
        args.wards.div_ceil(args.wards_per_site.max(1))
    );

    let mut wards = Wards::new(args.wards, args.wards_per_site, args.beds);
    let bare_events: Vec<(String, String, Bytes)> = (0..args.events)
        .map(|_| {
            let planned = wards.next_event();
            let envelope = planned.event.seal(OffsetDateTime::now_utc());
            (
                format!("bare.{}", planned.subject),
                envelope.event_id.clone(),
                Bytes::from(envelope.to_bytes()),
            )
        })
        .collect();

    // 1. Publish + ack.
    eprintln!("pf-bench: publish (bare)…");
    let bare_publish = publish(&js, args.in_flight, bare_events.into_iter()).await?;
    let mut wards = Wards::new(args.wards, args.wards_per_site, args.beds);
    let platform_publish = publish(
        &js,
        args.in_flight,
        (0..args.events).map(|_| {
            let planned = wards.next_event();
            let envelope = planned.event.seal(OffsetDateTime::now_utc());
            (
                planned.subject,
                envelope.event_id.clone(),
                Bytes::from(envelope.to_bytes()),
            )
        }),
    )
    .await?;
    let mut table = Table::default();
    table.row(
        "publish + ack",
        args.events,
        bare_publish,
        Some(platform_publish),
    );

    // 2. Apply a backlog to Redis.
    eprintln!("pf-bench: apply (bare, then the projection)…");
    let redis_before = redis_cpu(&mut redis).await?;
    let bare_apply = bare_apply(&js, &mut redis, args.events, args.batch).await?;
    let redis_bare = redis_cpu(&mut redis).await? - redis_before;
    let redis_before = redis_cpu(&mut redis).await?;
    let (platform_apply, projection_cpu) = platform_apply(
        &js,
        &nats.url(),
        &redis_server.url(),
        &projection,
        args.events,
    )
    .await?;
    let redis_platform = redis_cpu(&mut redis).await? - redis_before;
    table.row(
        "apply to Redis",
        args.events,
        bare_apply,
        Some(platform_apply),
    );

    // 3. Replay the whole stream into an empty Redis.
    eprintln!("pf-bench: replay…");
    let _: () = redis::cmd("FLUSHALL").query_async(&mut redis).await?;
    let mut live = pf_live_state::LiveState::connect(
        &redis_server.url(),
        pf_live_state::Keys::new("pf:"),
        Duration::from_secs(30),
    )
    .await
    .context("connecting the replay to Redis")?;
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut redis)
        .await?;
    let started = Instant::now();
    let (redis_before, own_before) = (redis_cpu(&mut redis).await?, process_cpu("self"));
    let report = pf_projection::replay::rebuild(&js, &mut live, 500)
        .await
        .context("replaying")?;
    let replay = started.elapsed();
    let redis_replay = redis_cpu(&mut redis).await? - redis_before;
    let memory: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut redis)
        .await?;
    let used_memory = memory
        .lines()
        .find_map(|line| line.strip_prefix("used_memory_human:"))
        .unwrap_or("?")
        .trim()
        .to_owned();
    if std::env::var_os("PF_BENCH_REDIS_STATS").is_some() {
        let stats: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(&mut redis)
            .await?;
        eprintln!("{stats}");
    }
    let replay_cpu = process_cpu("self") - own_before;
    if report.events != args.events || report.unusable != 0 {
        bail!(
            "the replay read {report:?}, expected {} usable events",
            args.events
        );
    }
    table.row(
        "replay into empty Redis",
        args.events,
        bare_apply,
        Some(replay),
    );
    println!("{table}");
    println!(
        "Redis after the replay: {used_memory} (the live state of every bed, the change log, the history)"
    );
    let per_event = |seconds: f64| seconds * 1e6 / args.events as f64;
    println!("where the time went (CPU µs per event):");
    println!("  bare apply:     Redis {:.1}", per_event(redis_bare));
    println!(
        "  platform apply: Redis {:.1}, pf-projection {:.1}",
        per_event(redis_platform),
        per_event(projection_cpu)
    );
    println!(
        "  replay:         Redis {:.1}, replay (in this process) {:.1}",
        per_event(redis_replay),
        per_event(replay_cpu)
    );
    Ok(())
}

/// Redis's CPU time so far (user + system), in seconds.
async fn redis_cpu(redis: &mut redis::aio::MultiplexedConnection) -> anyhow::Result<f64> {
    let info: String = redis::cmd("INFO").arg("cpu").query_async(redis).await?;
    Ok(info
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            matches!(name, "used_cpu_user" | "used_cpu_sys")
                .then(|| value.trim().parse::<f64>().ok())?
        })
        .sum())
}

/// A process's CPU time so far (user + system) from `/proc/{pid}/stat`, in
/// seconds (Linux's 100 ticks a second); 0 where it cannot be read.
fn process_cpu(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command name (which may hold spaces) in brackets.
    let Some((_, after)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Events spread over many wards: sites `LT0001`…, `per_site` wards each.
struct Wards {
    cycles: Vec<BedCycle>,
    next: usize,
}

impl Wards {
    fn new(wards: u32, per_site: u32, beds: u32) -> Self {
        let per_site = per_site.max(1);
        let cycles = (0..wards.max(1))
            .map(|w| {
                BedCycle::new(
                    &format!("LT{:04}", w / per_site + 1),
                    &format!("W{:02}", w % per_site),
                    beds,
                )
            })
            .collect();
        Self { cycles, next: 0 }
    }

    fn next_event(&mut self) -> pf_loadtest::beds::Planned {
        let index = self.next;
        self.next = (self.next + 1) % self.cycles.len();
        self.cycles[index].next_event()
    }
}

/// Publishes every event with its id as `Nats-Msg-Id`, `in_flight` acks
/// outstanding at once; the time from the first publish to the last ack.
async fn publish(
    js: &Context,
    in_flight: usize,
    events: impl Iterator<Item = (String, String, Bytes)>,
) -> anyhow::Result<Duration> {
    let mut pending = FuturesUnordered::new();
    let started = Instant::now();
    let mut stored = 0u64;
    for (subject, id, payload) in events {
        while pending.len() >= in_flight {
            if let Some(ack) = pending.next().await {
                check_ack(ack)?;
                stored += 1;
            }
        }
        let message = PublishMessage::build().message_id(&id).payload(payload);
        let ack = js
            .send_publish(subject, message)
            .await
            .context("publishing")?;
        pending.push(ack.into_future());
    }
    while let Some(ack) = pending.next().await {
        check_ack(ack)?;
        stored += 1;
    }
    let elapsed = started.elapsed();
    tracing::debug!(stored, "published");
    Ok(elapsed)
}

fn check_ack(
    ack: Result<
        async_nats::jetstream::publish::PublishAck,
        async_nats::jetstream::context::PublishError,
    >,
) -> anyhow::Result<()> {
    let ack = ack.context("a publish was not acknowledged")?;
    if ack.duplicate {
        bail!("JetStream took an event as a duplicate: the benchmark's ids collide");
    }
    Ok(())
}

/// The bare apply: a durable pull consumer, one pipelined `HSET` per event
/// and one round trip per batch, one cumulative ack per batch.
async fn bare_apply(
    js: &Context,
    redis: &mut redis::aio::MultiplexedConnection,
    events: u64,
    batch: usize,
) -> anyhow::Result<Duration> {
    let stream = js.get_stream(BARE_STREAM).await?;
    let consumer = stream
        .get_or_create_consumer(
            "bare",
            pull::Config {
                durable_name: Some("bare".into()),
                ack_policy: AckPolicy::All,
                deliver_policy: DeliverPolicy::All,
                max_ack_pending: 20_000,
                ..Default::default()
            },
        )
        .await?;
    let started = Instant::now();
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(batch)
        .messages()
        .await?
        .ready_chunks(batch);
    let mut applied = 0u64;
    while applied < events {
        let Some(chunk) = messages.next().await else {
            bail!("the bare consumer stopped");
        };
        let mut pipe = redis::pipe();
        let mut last = None;
        for message in chunk {
            let message = message.map_err(|e| anyhow::anyhow!("bare consumer: {e}"))?;
            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            pipe.cmd("HSET")
                .arg(format!("bare:{}", message.subject))
                .arg("sequence")
                .arg(sequence)
                .arg("event")
                .arg(message.payload.as_ref())
                .ignore();
            applied += 1;
            last = Some(message);
        }
        let _: () = pipe.query_async(redis).await?;
        tracing::debug!(applied, "bare batch applied");
        if let Some(last) = last {
            last.ack()
                .await
                .map_err(|e| anyhow::anyhow!("bare ack: {e}"))?;
        }
    }
    Ok(started.elapsed())
}

/// Starts `pf-projection` on the backlog in `PF_BEDS` and times it from the
/// moment its consumer exists until every event is acknowledged.
async fn platform_apply(
    js: &Context,
    nats_url: &str,
    redis_url: &str,
    projection: &PathBuf,
    events: u64,
) -> anyhow::Result<(Duration, f64)> {
    let port = pf_test_support::free_port();
    let mut child = Running(
        Command::new(projection)
            .env("PF_NATS_URL", nats_url)
            .env("PF_REDIS_URL", redis_url)
            .env("PF_PROJECTION_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "RUST_LOG",
                std::env::var("PF_BENCH_PROJECTION_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(if std::env::var_os("PF_BENCH_PROJECTION_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .context("starting pf-projection")?,
    );
    let stream = js.get_stream(pf_event_log::streams::BEDS.name).await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut started = None;
    loop {
        if let Some(status) = child.0.try_wait()? {
            bail!("pf-projection stopped: {status}");
        }
        if Instant::now() > deadline {
            bail!("pf-projection did not apply the backlog in 10 minutes");
        }
        if let Ok(info) = stream.consumer_info("projection").await {
            let at = *started.get_or_insert_with(Instant::now);
            if info.ack_floor.stream_sequence >= events && info.num_pending == 0 {
                let cpu = process_cpu(&child.0.id().to_string());
                return Ok((at.elapsed(), cpu));
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A child process, killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The figures, printed as a table.
#[derive(Default)]
struct Table {
    rows: Vec<(String, f64, Option<f64>)>,
}

impl Table {
    fn row(&mut self, name: &str, events: u64, bare: Duration, platform: Option<Duration>) {
        let rate = |d: Duration| events as f64 / d.as_secs_f64().max(1e-9);
        self.rows
            .push((name.to_owned(), rate(bare), platform.map(rate)));
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{:<26} {:>16} {:>16} {:>6}",
            "", "bare events/s", "platform ev/s", "ratio"
        )?;
        for (name, bare, platform) in &self.rows {
            match platform {
                Some(p) => writeln!(f, "{name:<26} {bare:>16.0} {p:>16.0} {:>6.2}", p / bare)?,
                None => writeln!(f, "{name:<26} {bare:>16.0} {:>16} {:>6}", "", "")?,
            }
        }
        Ok(())
    }
}
