//! The fault suite: the platform's real binaries (identity, hospital-beds,
//! care-homes, projection, gateway) as child processes against a real
//! `nats-server -js` (file storage) and `redis-server`, under load, while
//! things go wrong:
//!
//! 1. the projection is killed with SIGKILL at random points and restarted;
//! 2. redis-server restarts with its data gone (the projection notices and
//!    replays; a dashboard gets a fresh snapshot by itself);
//! 3. nats-server is killed and restarted on its store (producers retry);
//! 4. duplicates and out-of-order versions are published straight to NATS;
//! 5. stalled websocket clients sit beside a live one;
//! 6. hostile input goes to every public endpoint and to the streams.
//!
//! At the end every event a producer was told was saved (HTTP 2xx) is in
//! the stream exactly once, and `pf-projection check` finds the live state
//! equal to a fresh replay. It prints what it sent, what was acknowledged,
//! applied, lost and duplicated, and how long each recovery took.
//!
//! `scripts/faults` runs it (building the binaries first); `scripts/test`
//! runs the short version. `PF_FAULTS=long` makes it longer and harsher
//! (see `docs/durability.md`). The binaries are found in the Cargo target
//! folder of this test (`PF_FAULTS_BIN_DIR` overrides it).

#![allow(
    clippy::unwrap_used,
    clippy::too_many_lines,
    clippy::too_many_arguments,
    clippy::type_complexity
)] // test code: fail loudly; the hostile cases read best as one table

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use pf_event_log::streams::{BEDS, CARE_HOMES, DEAD_LETTERS, bed_subject};
use pf_integration_tests::binaries::{Ports, Service, bin_dir};
use pf_integration_tests::{ControlRoomClient, TEST_REGISTER, dashboards_dir};
use pf_live_state::{Keys, LiveState};
use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{Actor, BedRef, BedStateChanged, Source};
use pf_test_support::{NatsServer, RedisServer, free_port};
use serde_json::{Value, json};

/// How hard the run is.
#[derive(Debug, Clone, Copy)]
struct Plan {
    name: &'static str,
    /// Bed producers (one HTTP client each, beds of their own).
    producers: usize,
    beds_each: usize,
    /// Pause between one producer's requests.
    pace: Duration,
    /// SIGKILLs of the projection.
    projection_kills: usize,
    /// Redis restarts with the data gone.
    redis_losses: usize,
    /// nats-server kills.
    nats_restarts: usize,
    /// Quiet time under load between faults.
    settle: Duration,
    /// Stalled websocket clients.
    stalled_clients: usize,
}

impl Plan {
    fn from_env() -> Self {
        match std::env::var("PF_FAULTS").as_deref() {
            Ok("long") => Self {
                name: "long",
                producers: 8,
                beds_each: 6,
                pace: Duration::from_millis(5),
                projection_kills: 12,
                redis_losses: 3,
                nats_restarts: 3,
                settle: Duration::from_secs(6),
                stalled_clients: 20,
            },
            _ => Self {
                name: "short",
                producers: 4,
                beds_each: 5,
                pace: Duration::from_millis(20),
                projection_kills: 4,
                redis_losses: 1,
                nats_restarts: 1,
                settle: Duration::from_secs(2),
                stalled_clients: 5,
            },
        }
    }
}

const SITE: &str = "RWEAA";
const WARD: &str = "AMU";
const HOMES: [&str; 3] = ["1-000000001", "1-000000002", "1-000000003"];

/// Counts of the run.
#[derive(Default)]
struct Counts {
    sent: AtomicU64,
    acknowledged: AtomicU64,
    refused: AtomicU64,
    failed: AtomicU64,
}

/// What the producers were told was saved: event id → (entity, version).
type Acked = Arc<Mutex<HashMap<String, (String, u64)>>>;

struct Suite {
    nats: NatsServer,
    redis: RedisServer,
    projection: Service,
    others: Vec<Service>,
    http: reqwest::Client,
    beds_url: String,
    care_homes_url: String,
    gateway_url: String,
    identity_url: String,
    #[allow(dead_code)] // kept for looking at the projection by hand
    projection_url: String,
    publisher_token: String,
    viewer_token: String,
    counts: Arc<Counts>,
    acked: Acked,
    recoveries: Vec<(String, Duration)>,
    /// Logs of the services (kept when the suite fails).
    logs: PathBuf,
}

async fn wait_ready(http: &reqwest::Client, url: &str, what: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{url}/readyz")).send().await
            && r.status().is_success()
        {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{what} did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn fetch_token(http: &reqwest::Client, identity: &str, client: &str, secret: &str) -> String {
    let body = format!("grant_type=client_credentials&client_id={client}&client_secret={secret}");
    let response = http
        .post(format!("{identity}/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert!(status.is_success(), "token for {client}: {answer}");
    answer["access_token"].as_str().unwrap().to_owned()
}

impl Suite {
    async fn start() -> Self {
        let nats = NatsServer::start();
        pf_integration_tests::create_streams(&nats.url()).await;
        let redis = RedisServer::start();
        let logs = std::env::temp_dir().join(format!(
            "pf-fault-suite-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&logs).unwrap();
        println!("service logs in {}", logs.display());
        let register = logs.join("register.json");
        std::fs::write(&register, TEST_REGISTER).unwrap();
        let secret = "fault-suite-demo-secret-0123456789abcdef";
        let ports = Ports::new(&[
            "identity",
            "hospital-beds",
            "care-homes",
            "projection",
            "gateway",
        ]);
        let url = |name: &str| ports.url(name);
        let mut common = ports.environment(nats.url(), redis.url(), &dashboards_dir(), secret);
        common.extend(
            [
                ("PF_CARE_HOME_REGISTER", register.display().to_string()),
                ("PF_WRITES_PER_SECOND", "100000".to_owned()),
                ("PF_REFUSED_PER_SECOND", "100000".to_owned()),
                ("PF_TOKEN_RATE_PER_MINUTE", "100000".to_owned()),
                ("PF_IP_RATE_PER_MINUTE", "100000".to_owned()),
                // Small per-client queues, so that stalled clients meet the limits.
                ("PF_WS_CLIENT_QUEUE", "8".to_owned()),
                ("PF_WS_SEND_TIMEOUT_MS", "1000".to_owned()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v)),
        );
        let bins = bin_dir("PF_FAULTS_BIN_DIR");
        let mut projection = Service::new("projection", &bins, common.clone(), &logs);
        let mut others: Vec<Service> = ["identity", "hospital-beds", "care-homes", "gateway"]
            .into_iter()
            .map(|name| Service::new(name, &bins, common.clone(), &logs))
            .collect();
        projection.start();
        for service in &mut others {
            service.start();
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        for name in ports.services() {
            wait_ready(&http, &url(name), name, Duration::from_secs(60)).await;
        }
        let publisher_token = fetch_token(&http, &url("identity"), "simulator", secret).await;
        let viewer_token = fetch_token(&http, &url("identity"), "loadtest", secret).await;
        Self {
            nats,
            redis,
            projection,
            others,
            beds_url: url("hospital-beds"),
            care_homes_url: url("care-homes"),
            gateway_url: url("gateway"),
            identity_url: url("identity"),
            projection_url: url("projection"),
            http,
            publisher_token,
            viewer_token,
            counts: Arc::default(),
            acked: Arc::default(),
            recoveries: Vec::new(),
            logs,
        }
    }

    fn service(&mut self, name: &str) -> &mut Service {
        self.others.iter_mut().find(|s| s.name == name).unwrap()
    }

    async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(self.nats.url()).await.unwrap())
    }

    async fn live(&self) -> LiveState {
        LiveState::connect(&self.redis.url(), Keys::new("pf:"), Duration::from_secs(10))
            .await
            .unwrap()
    }

    /// Restarts the projection if it stopped by itself (as a process manager would).
    fn supervise(&mut self) -> bool {
        if self.projection.exited() {
            self.projection.kill();
            self.projection.start();
            return true;
        }
        false
    }

    /// The last sequence of each event stream.
    async fn last_sequences(&self) -> Vec<(&'static str, u64)> {
        let js = self.jetstream().await;
        let mut out = Vec::new();
        for (stream, _) in CONSUMERS {
            let mut s = js.get_stream(stream).await.unwrap();
            out.push((stream, s.info().await.unwrap().state.last_sequence));
        }
        out
    }

    /// Waits until the projection acknowledged every event up to `through`.
    async fn wait_applied_through(&mut self, through: &[(&'static str, u64)], within: Duration) {
        let started = Instant::now();
        let js = self.jetstream().await;
        'wait: loop {
            self.supervise();
            assert!(
                started.elapsed() < within,
                "the projection did not catch up within {within:?}:\n{}",
                self.projection.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
            for ((stream, last), (_, consumer)) in through.iter().zip(CONSUMERS) {
                let Ok(s) = js.get_stream(stream).await else {
                    continue 'wait;
                };
                let Ok(mut c) = s
                    .get_consumer::<async_nats::jetstream::consumer::pull::Config>(consumer)
                    .await
                else {
                    continue 'wait;
                };
                match c.info().await {
                    Ok(info) if info.ack_floor.stream_sequence >= *last => {}
                    _ => continue 'wait,
                }
            }
            return;
        }
    }

    /// Runs `pf-projection check`: the live state against a fresh replay.
    fn check(&self) -> (bool, String) {
        let output = self
            .projection
            .run_once(&["check"], &[("RUST_LOG", "warn")]);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }

    fn gateway_rss_kib(&mut self) -> u64 {
        let pid = self.service("gateway").pid().unwrap();
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

const CONSUMERS: [(&str, &str); 2] = [
    (BEDS.name, "projection"),
    (CARE_HOMES.name, "projection-PF_CARE_HOMES"),
];

/// The next state a producer moves a bed to.
fn next_state(state: &str) -> &'static str {
    match state {
        "available" => "occupied",
        "occupied" => "awaiting_clean",
        "awaiting_clean" => "available",
        _ => "available",
    }
}

/// One bed producer: keeps changing its beds through the HTTP API. A 2xx
/// answer is recorded as acknowledged; after any other outcome the bed is
/// read again (the change may or may not have been saved) and the producer
/// goes on from what the service says.
async fn produce_beds(
    http: reqwest::Client,
    beds_url: String,
    token: String,
    beds: Vec<String>,
    pace: Duration,
    counts: Arc<Counts>,
    acked: Acked,
    stop: Arc<AtomicBool>,
) {
    let mut states: HashMap<String, Option<String>> =
        beds.iter().map(|b| (b.clone(), None)).collect();
    let mut turn = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let bed = &beds[turn % beds.len()];
        turn += 1;
        let (path, body) = match states[bed].as_deref() {
            None => (format!("/api/v1/beds/{bed}/open"), json!({})),
            Some(state) => (
                format!("/api/v1/beds/{bed}/state"),
                json!({"state": next_state(state), "reason": "fault suite"}),
            ),
        };
        counts.sent.fetch_add(1, Ordering::Relaxed);
        let answer = http
            .post(format!("{beds_url}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await;
        let resync = match answer {
            Ok(response) if response.status().is_success() => {
                let saved: Value = response.json().await.unwrap_or(Value::Null);
                match (saved["event_id"].as_str(), saved["entity_version"].as_u64()) {
                    (Some(id), Some(version)) => {
                        counts.acknowledged.fetch_add(1, Ordering::Relaxed);
                        acked
                            .lock()
                            .unwrap()
                            .insert(id.to_owned(), (bed.clone(), version));
                        let state = saved["state"].as_str().unwrap_or("available").to_owned();
                        states.insert(bed.clone(), Some(state));
                        false
                    }
                    _ => true,
                }
            }
            Ok(response) if response.status().is_client_error() => {
                counts.refused.fetch_add(1, Ordering::Relaxed);
                true
            }
            _ => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                true
            }
        };
        if resync {
            // What the service says the bed is now.
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if let Ok(response) = http
                    .get(format!("{beds_url}/api/v1/beds/{bed}"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    && response.status().is_success()
                    && let Ok(view) = response.json::<Value>().await
                {
                    let state = if view["open"] == true {
                        Some(view["state"].as_str().unwrap_or("available").to_owned())
                    } else {
                        None
                    };
                    states.insert(bed.clone(), state);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        tokio::time::sleep(pace).await;
    }
}

/// A care-home producer: vacancy reports through the API, each sent again
/// with the same idempotency key until it is answered.
async fn produce_vacancies(
    http: reqwest::Client,
    care_homes_url: String,
    token: String,
    counts: Arc<Counts>,
    acked: Acked,
    stop: Arc<AtomicBool>,
) {
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let home = HOMES[0];
        let key = format!("fault-suite-{n:08}-{}", std::process::id());
        let body = json!({
            "vacancies": {
                "residential": { "vacant": n % 5, "unavailable": 0, "sex": "either" },
                "residential_dementia": { "vacant": n % 3, "sex": "female" }
            },
            "accepting_hospital_discharges": true,
            "note": "fault suite"
        });
        counts.sent.fetch_add(1, Ordering::Relaxed);
        loop {
            let answer = http
                .put(format!(
                    "{care_homes_url}/api/v1/care-homes/{home}/vacancies"
                ))
                .bearer_auth(&token)
                .header("Idempotency-Key", &key)
                .json(&body)
                .send()
                .await;
            match answer {
                Ok(response) if response.status().is_success() => {
                    let saved: Value = response.json().await.unwrap_or(Value::Null);
                    if saved["saved"]["replayed"] != true
                        && let (Some(id), Some(version)) = (
                            saved["saved"]["event_id"].as_str(),
                            saved["saved"]["entity_version"].as_u64(),
                        )
                    {
                        counts.acknowledged.fetch_add(1, Ordering::Relaxed);
                        acked
                            .lock()
                            .unwrap()
                            .insert(id.to_owned(), (home.to_owned(), version));
                    }
                    break;
                }
                Ok(response) if response.status().as_u16() == 422 => {
                    counts.refused.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                _ => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Every event of a stream: (sequence, subject, payload, Nats-Msg-Id).
async fn read_stream(
    js: &async_nats::jetstream::Context,
    stream: &str,
) -> Vec<(u64, String, Vec<u8>)> {
    let mut s = js.get_stream(stream).await.unwrap();
    let last = s.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    if last == 0 {
        return out;
    }
    let consumer = s
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut messages = consumer.messages().await.unwrap();
    while let Some(message) = messages.next().await {
        let message = message.unwrap();
        let sequence = message.info().unwrap().stream_sequence;
        out.push((
            sequence,
            message.subject.to_string(),
            message.payload.to_vec(),
        ));
        if sequence >= last {
            break;
        }
    }
    out
}

fn bed_event(bed: &str, version: u64, previous: i32, state: i32) -> pf_proto::v1::EventEnvelope {
    NewEvent {
        source: Source {
            organisation: SITE.into(),
            service: "fault-suite".into(),
        },
        entity_id: format!("bed/{SITE}/{WARD}/{bed}"),
        entity_version: version,
        occurred_at: None,
        actor: Actor::default(),
        payload: Payload::BedStateChanged(BedStateChanged {
            bed: Some(BedRef {
                site: SITE.into(),
                ward: WARD.into(),
                bed: bed.into(),
            }),
            kind: pf_proto::v1::BedKind::GeneralAcute as i32,
            escalation: false,
            previous_state: previous,
            state,
            reason: "fault suite".into(),
        }),
    }
    .seal(time::OffsetDateTime::now_utc())
}

/// A control-room client; like the page, it tries again while the gateway
/// answers 503 (e.g. its Redis connection is being re-established).
async fn connect(suite: &Suite) -> ControlRoomClient {
    let started = Instant::now();
    loop {
        match ControlRoomClient::try_connect(&suite.gateway_url, Some(&suite.viewer_token), None)
            .await
        {
            Ok(client) => return client,
            Err(503) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(status) => panic!("the gateway refused a control-room client: {status}"),
        }
    }
}

/// A simple pseudo-random sequence (no dependency, reproducible by seed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_accepted_is_lost_or_counted_twice_whatever_fails() {
    let _turn = crate::one_at_a_time().await;
    let plan = Plan::from_env();
    let seed = std::env::var("PF_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
                | 1
        });
    println!("fault suite ({}), seed {seed}", plan.name);
    let mut rng = Rng(seed);
    let run_started = Instant::now();
    let mut suite = Suite::start().await;

    // A dashboard that must keep up, or recover by itself, throughout.
    let mut watcher = connect(&suite).await;
    assert_eq!(watcher.next().await["type"], "snapshot");

    // Load: bed producers through hospital-beds, one care-home producer.
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for p in 0..plan.producers {
        let beds = (0..plan.beds_each)
            .map(|b| format!("{SITE}/{WARD}/B{:02}", 1 + p * plan.beds_each + b))
            .collect();
        load.push(tokio::spawn(produce_beds(
            suite.http.clone(),
            suite.beds_url.clone(),
            suite.publisher_token.clone(),
            beds,
            plan.pace,
            suite.counts.clone(),
            suite.acked.clone(),
            stop.clone(),
        )));
    }
    load.push(tokio::spawn(produce_vacancies(
        suite.http.clone(),
        suite.care_homes_url.clone(),
        suite.publisher_token.clone(),
        suite.counts.clone(),
        suite.acked.clone(),
        stop.clone(),
    )));
    tokio::time::sleep(plan.settle).await;

    // 1. SIGKILL the projection at random points; restart it.
    for kill in 1..=plan.projection_kills {
        tokio::time::sleep(Duration::from_millis(200 + rng.below(1500))).await;
        suite.projection.kill();
        let killed_at = Instant::now();
        let through = suite.last_sequences().await;
        if rng.below(2) == 0 {
            tokio::time::sleep(Duration::from_millis(rng.below(1000))).await;
        }
        suite.projection.start();
        suite
            .wait_applied_through(&through, Duration::from_secs(60))
            .await;
        suite
            .recoveries
            .push((format!("projection SIGKILL {kill}"), killed_at.elapsed()));
    }
    tokio::time::sleep(plan.settle).await;

    // 2. Redis restarts with its data gone, under load.
    for loss in 1..=plan.redis_losses {
        let mut live = suite.live().await;
        let beds_before = live
            .digest()
            .await
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("bed:"))
            .count();
        suite.redis.restart_empty();
        let lost_at = Instant::now();
        // Every bed is back (most of them are only in the replay) …
        let mut live = suite.live().await;
        loop {
            suite.supervise();
            let beds_now = match live.digest().await {
                Ok(digest) => digest.keys().filter(|k| k.starts_with("bed:")).count(),
                Err(_) => 0,
            };
            if beds_now >= beds_before {
                break;
            }
            assert!(
                lost_at.elapsed() < Duration::from_secs(60),
                "Redis not rebuilt ({beds_now} of {beds_before} beds):\n{}",
                suite.projection.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        suite.recoveries.push((
            format!("redis lost its data {loss}: state rebuilt"),
            lost_at.elapsed(),
        ));
        // … and the dashboard got a fresh snapshot without anyone doing anything.
        loop {
            match watcher.next_or_closed().await {
                Ok(message) if message["type"] == "snapshot" => break,
                Ok(_) => {}
                Err(_) => {
                    // The page reconnects by itself; so does this client.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    watcher = connect(&suite).await;
                }
            }
            assert!(
                lost_at.elapsed() < Duration::from_secs(60),
                "dashboard not resynced"
            );
        }
        suite.recoveries.push((
            format!("redis lost its data {loss}: dashboard resynced"),
            lost_at.elapsed(),
        ));
        tokio::time::sleep(plan.settle).await;
    }

    // 3. nats-server killed and restarted on its store; producers retry.
    for restart in 1..=plan.nats_restarts {
        let acknowledged = suite.counts.acknowledged.load(Ordering::Relaxed);
        suite.nats.restart();
        let restarted_at = Instant::now();
        while suite.counts.acknowledged.load(Ordering::Relaxed) <= acknowledged + 5 {
            suite.supervise();
            assert!(
                restarted_at.elapsed() < Duration::from_secs(60),
                "producers did not recover after nats-server restarted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        suite.recoveries.push((
            format!("nats-server restart {restart}: producers saving again"),
            restarted_at.elapsed(),
        ));
        let through = suite.last_sequences().await;
        suite
            .wait_applied_through(&through, Duration::from_secs(60))
            .await;
        suite.recoveries.push((
            format!("nats-server restart {restart}: projection caught up"),
            restarted_at.elapsed(),
        ));
        tokio::time::sleep(plan.settle).await;
    }

    // 5. Stalled websocket clients beside a live one, under load.
    let rss_before = suite.gateway_rss_kib();
    let mut stalled = Vec::new();
    for _ in 0..plan.stalled_clients {
        // Connected, sent a snapshot, then never read again.
        let client = connect(&suite).await;
        stalled.push(client);
    }
    let mut live_client = connect(&suite).await;
    let stall_started = Instant::now();
    let mut received = 0u64;
    let mut rss_peak = rss_before;
    while stall_started.elapsed() < plan.settle * 3 {
        match live_client.next_or_closed().await {
            Ok(_) => received += 1,
            Err(code) => panic!("the live client was dropped ({code:?}) beside stalled ones"),
        }
        rss_peak = rss_peak.max(suite.gateway_rss_kib());
    }
    assert!(received > 1, "the live client kept receiving");
    // The stalled ones were resynced (a snapshot waits for them) or closed with 4008.
    let mut stalled_outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for mut client in stalled {
        // What waited for it: a fresh snapshot (it was resynced), a close with
        // 4008, or, when the socket buffers held everything, contiguous deltas.
        let mut at: Option<u64> = None;
        let outcome = loop {
            match tokio::time::timeout(Duration::from_secs(3), client.next_or_closed()).await {
                Ok(Ok(message)) if message["type"] == "snapshot" => break "resynced".to_owned(),
                Ok(Ok(message)) => {
                    let from = message["from_version"].as_u64();
                    if at.is_some() && from != at {
                        break "gap".to_owned();
                    }
                    at = message["version"].as_u64();
                }
                Ok(Err(code)) => break format!("closed {code:?}"),
                Err(_) => break "buffered, no gap".to_owned(),
            }
        };
        *stalled_outcomes.entry(outcome).or_default() += 1;
    }
    let rss_after = suite.gateway_rss_kib();

    // Stop the load and let everything settle.
    stop.store(true, Ordering::Relaxed);
    for task in load {
        let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
    }
    let through = suite.last_sequences().await;
    suite
        .wait_applied_through(&through, Duration::from_secs(60))
        .await;

    let js = suite.jetstream().await;
    // 4. Duplicates and reordered versions straight to NATS.
    let reorder_bed = "B56";
    let subject = bed_subject(SITE, WARD, reorder_bed);
    const AVAILABLE: i32 = pf_proto::v1::BedState::Available as i32;
    const OCCUPIED: i32 = pf_proto::v1::BedState::Occupied as i32;
    const AWAITING: i32 = pf_proto::v1::BedState::AwaitingClean as i32;
    let v2 = bed_event(reorder_bed, 2, AVAILABLE, OCCUPIED);
    let v3 = bed_event(reorder_bed, 3, OCCUPIED, AWAITING);
    let v4 = bed_event(reorder_bed, 4, AWAITING, AVAILABLE);
    let publisher = pf_event_log::EventPublisher::new(js.clone());
    // Opened through the API (version 1); versions 2 to 4 straight to NATS.
    let (status, answer) = {
        let r = suite
            .http
            .post(format!(
                "{}/api/v1/beds/{SITE}/{WARD}/{reorder_bed}/open",
                suite.beds_url
            ))
            .bearer_auth(&suite.publisher_token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().await.unwrap_or(Value::Null),
        )
    };
    assert_eq!(status, 201, "{answer}");
    let first = publisher.publish(subject.clone(), &v2, None).await.unwrap();
    let again = publisher.publish(subject.clone(), &v2, None).await.unwrap();
    assert!(
        !first.duplicate && again.duplicate,
        "same event id: stored once"
    );
    // Past de-duplication (no message id), and version 4 before version 3.
    for event in [&v2, &v4, &v3] {
        js.publish(subject.clone(), event.to_bytes().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let through = suite.last_sequences().await;
    suite
        .wait_applied_through(&through, Duration::from_secs(30))
        .await;
    let mut live = suite.live().await;
    let digest = live.digest().await.unwrap();
    let reordered = &digest[&format!("bed:{SITE}:{WARD}:{reorder_bed}")];
    assert!(
        reordered.contains("version=4") && reordered.contains("state=available"),
        "applied once, in version order: {reordered}"
    );

    // 6. Hostile input: every public endpoint and the streams; nothing accepted changes.
    first_report_of_a_replayed_key(&suite).await;
    let through = suite.last_sequences().await;
    suite
        .wait_applied_through(&through, Duration::from_secs(30))
        .await;
    let before = live.digest().await.unwrap();
    let bed_sequence_before = through[0].1;
    let hostile = hostile_input(&suite).await;
    let dead_before = js
        .get_stream(DEAD_LETTERS.name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .state
        .messages;
    let garbage: Vec<(String, Vec<u8>)> = vec![
        (bed_subject(SITE, WARD, "B01"), b"not an event".to_vec()),
        (bed_subject(SITE, WARD, "B01"), vec![0xff; 300]),
        (
            bed_subject(SITE, WARD, "B01"),
            bed_event("B01", 1, 0, 99).to_bytes().to_vec(),
        ),
        (
            bed_subject(SITE, WARD, "B02"),
            bed_event("B01", 10_000, AVAILABLE, OCCUPIED)
                .to_bytes()
                .to_vec(),
        ),
        (
            "pf.care-homes.1-000000001".to_owned(),
            bed_event("B01", 10_000, AVAILABLE, OCCUPIED)
                .to_bytes()
                .to_vec(),
        ),
        (
            "pf.care-homes.1-000000002".to_owned(),
            b"{\"json\": true}".to_vec(),
        ),
    ];
    for (subject, payload) in &garbage {
        js.publish(subject.clone(), payload.clone().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let through = suite.last_sequences().await;
    suite
        .wait_applied_through(&through, Duration::from_secs(30))
        .await;
    let dead = js.get_stream(DEAD_LETTERS.name).await.unwrap();
    let dead_after = dead.clone().info().await.unwrap().state.messages;
    assert_eq!(
        dead_after - dead_before,
        garbage.len() as u64,
        "every unusable event is dead-lettered"
    );
    let last_dead = dead.clone().info().await.unwrap().state.last_sequence;
    for sequence in (last_dead + 1 - garbage.len() as u64)..=last_dead {
        let letter = dead.get_raw_message(sequence).await.unwrap();
        let reason = letter
            .headers
            .get(pf_event_log::dead_letter::REASON_HEADER)
            .map(|r| r.to_string())
            .unwrap_or_default();
        assert!(!reason.is_empty(), "dead letter {sequence} has a reason");
    }
    let after = live.digest().await.unwrap();
    assert_eq!(
        pf_live_state::differences(&before, &after),
        Vec::<String>::new(),
        "hostile input changed nothing accepted"
    );
    assert_eq!(
        through[0].1,
        bed_sequence_before + 4,
        "only the raw bed publishes reached the bed stream"
    );

    // The end: every acknowledged event exactly once, the live state equal to a replay.
    let acked = suite.acked.lock().unwrap().clone();
    let mut stored: HashMap<String, u64> = HashMap::new();
    let mut stored_events = 0u64;
    for stream in [BEDS.name, CARE_HOMES.name] {
        for (_, _, payload) in read_stream(&js, stream).await {
            stored_events += 1;
            if let Ok(envelope) = pf_proto::v1::EventEnvelope::decode_checked(&payload) {
                *stored.entry(envelope.event_id).or_default() += 1;
            }
        }
    }
    let lost: Vec<&String> = acked
        .keys()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    let duplicated: Vec<&String> = acked
        .keys()
        .filter(|id| stored.get(*id).copied().unwrap_or(0) > 1)
        .collect();
    // Applied: every bed and home the producers touched is at its newest acknowledged version.
    let mut newest: HashMap<&str, u64> = HashMap::new();
    for (entity, version) in acked.values() {
        let v = newest.entry(entity.as_str()).or_default();
        *v = (*v).max(*version);
    }
    let digest = live.digest().await.unwrap();
    let mut applied = 0u64;
    for (entity, version) in &newest {
        let key = if entity.starts_with("1-") {
            format!("care-home:{entity}")
        } else {
            format!("bed:{}", entity.replace('/', ":"))
        };
        let stored_version = digest.get(&key).and_then(|v| {
            v.split(',')
                .find_map(|f| f.strip_prefix("version="))
                .and_then(|n| n.parse::<u64>().ok())
        });
        if stored_version.is_some_and(|s| s >= *version) {
            applied += acked.values().filter(|(e, _)| e == entity).count() as u64;
        }
    }
    let (consistent, check_output) = suite.check();
    let counts = &suite.counts;
    println!(
        "\n== fault suite ({}) after {:.0?} ==",
        plan.name,
        run_started.elapsed()
    );
    println!(
        "requests sent {}, acknowledged {} (2xx), refused {} (4xx), failed {} (5xx / no answer)",
        counts.sent.load(Ordering::Relaxed),
        counts.acknowledged.load(Ordering::Relaxed),
        counts.refused.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
    );
    println!(
        "events in the streams {stored_events}; acknowledged events applied {applied} of {}; lost {}; duplicated {}",
        acked.len(),
        lost.len(),
        duplicated.len()
    );
    for (what, took) in &suite.recoveries {
        println!("recovery: {what}: {} ms", took.as_millis());
    }
    println!(
        "websocket: live client received {received} messages beside {} stalled ones; stalled: {stalled_outcomes:?}",
        plan.stalled_clients
    );
    println!("gateway RSS: {rss_before} KiB before, peak {rss_peak} KiB, {rss_after} KiB after");
    println!(
        "hostile input: {hostile} requests refused with a reason; {} events dead-lettered",
        garbage.len()
    );
    println!("consistency check: {}", check_output.trim());
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(duplicated.is_empty(), "stored twice: {duplicated:?}");
    assert_eq!(
        applied,
        acked.len() as u64,
        "every acknowledged event is applied"
    );
    assert!(
        consistent,
        "the live state differs from a replay:\n{check_output}"
    );
    assert!(
        stalled_outcomes
            .keys()
            .all(|k| k == "resynced" || k.contains("4008") || k == "buffered, no gap"),
        "stalled clients: {stalled_outcomes:?}"
    );
    let _ = std::fs::remove_dir_all(&suite.logs);
}

const REPLAYED_KEY: &str = "fault-suite-replayed-key";

/// The first, accepted use of an idempotency key that the hostile input replays with another body.
async fn first_report_of_a_replayed_key(suite: &Suite) {
    let first = json!({
        "vacancies": {
            "nursing": { "vacant": 1, "sex": "either" },
            "nursing_dementia": { "vacant": 0, "sex": "either" }
        },
        "accepting_hospital_discharges": true
    });
    let response = suite
        .http
        .put(format!(
            "{}/api/v1/care-homes/{}/vacancies",
            suite.care_homes_url, HOMES[1]
        ))
        .bearer_auth(&suite.publisher_token)
        .header("Idempotency-Key", REPLAYED_KEY)
        .json(&first)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{text}");
}

/// Malformed and hostile requests to every public HTTP endpoint; each must be
/// refused with a 4xx and a JSON reason (or, for the browser form, a page
/// saying why). Returns how many were sent.
async fn hostile_input(suite: &Suite) -> usize {
    let big = "x".repeat(2 * 1024 * 1024);
    let beds = &suite.beds_url;
    let homes = &suite.care_homes_url;
    let token = &suite.publisher_token;
    let home = HOMES[1];
    let long_key = "k".repeat(10_000);
    // (method, url, bearer?, content type, body, extra header)
    let mut cases: Vec<(&str, String, bool, &str, String, Option<(&str, &str)>)> = vec![
        ("POST", format!("{beds}/api/v1/beds/{SITE}/{WARD}/B01/state"), true, "application/json", big.clone(), None),
        ("POST", format!("{beds}/api/v1/beds/{SITE}/{WARD}/B01/state"), true, "application/json", "{\"state\": 7}".into(), None),
        ("POST", format!("{beds}/api/v1/beds/{SITE}/{WARD}/B01/state"), true, "application/json", "{\"state\": \"asleep\"}".into(), None),
        ("POST", format!("{beds}/api/v1/beds/{SITE}/{WARD}/B01/state"), true, "application/json", "\u{0}\u{1}garbage".into(), None),
        ("POST", format!("{beds}/api/v1/beds/{SITE}/{WARD}/B01/state"), true, "text/plain", "state=available".into(), None),
        ("POST", format!("{beds}/api/v1/beds/X%2F..%2F/{WARD}/B01/state"), true, "application/json", "{\"state\":\"available\"}".into(), None),
        ("POST", format!("{beds}/api/v1/beds/{SITE}/{WARD}/B9999999/open"), true, "application/json", "{}".into(), None),
        ("POST", format!("{beds}/api/v1/beds/{SITE}/{WARD}/B01/state"), false, "application/json", "{\"state\":\"available\"}".into(), None),
        ("POST", format!("{beds}/api/v1/beds/{SITE}/{WARD}/B01/state"), false, "application/json", "{\"state\":\"available\"}".into(), Some(("authorization", "Bearer eyJhbGciOiJub25lIn0.e30."))),
        ("PUT", format!("{homes}/api/v1/care-homes/{home}/vacancies"), true, "application/json", big.clone(), Some(("idempotency-key", "fault-suite-hostile-1"))),
        ("PUT", format!("{homes}/api/v1/care-homes/{home}/vacancies"), true, "application/json", "{\"vacancies\": {\"nursing\": {\"vacant\": \"lots\"}}}".into(), Some(("idempotency-key", "fault-suite-hostile-2"))),
        ("PUT", format!("{homes}/api/v1/care-homes/{home}/vacancies"), true, "application/json", "{\"vacancies\": {\"nursing\": {\"vacant\": -1}, \"nursing_dementia\": {\"vacant\": 0}}}".into(), Some(("idempotency-key", "fault-suite-hostile-3"))),
        ("PUT", format!("{homes}/api/v1/care-homes/not-a-cqc-id/vacancies"), true, "application/json", "{}".into(), Some(("idempotency-key", "fault-suite-hostile-4"))),
        ("PUT", format!("{homes}/api/v1/care-homes/{home}/vacancies"), true, "application/json", "[1,2,3]".into(), Some(("idempotency-key", "fault-suite-hostile-5"))),
        ("PUT", format!("{homes}/api/v1/care-homes/{home}/vacancies"), true, "application/json", "{\"vacancies\": {}}".into(), Some(("idempotency-key", long_key.as_str()))),
        ("POST", format!("{homes}/care-homes/{home}"), false, "application/x-www-form-urlencoded", format!("note={big}"), None),
        ("POST", format!("{homes}/care-homes/{home}"), false, "application/x-www-form-urlencoded", "vacant_nursing=lots".into(), None),
        ("POST", format!("{}/oauth/token", suite.identity_url), false, "application/x-www-form-urlencoded", "grant_type=client_credentials&client_id=simulator&client_secret=wrong".into(), None),
        ("POST", format!("{}/oauth/token", suite.identity_url), false, "application/x-www-form-urlencoded", big.clone(), None),
        ("POST", format!("{}/oauth/token", suite.identity_url), false, "application/json", "{\"grant_type\": 5}".into(), None),
        ("GET", format!("{}/api/v1/audit", suite.identity_url), true, "application/json", String::new(), None),
        ("GET", format!("{}/ws/control-room", suite.gateway_url), false, "application/json", String::new(), None),
        ("GET", format!("{}/ws/control-room?since=-1", suite.gateway_url), true, "application/json", String::new(), None),
        ("POST", format!("{}/ws/control-room", suite.gateway_url), true, "application/json", big.clone(), None),
    ];
    let replay_key = REPLAYED_KEY;
    // The key again with another body: refused, the first answer kept.
    let other = "{\"vacancies\": {\"nursing\": {\"vacant\": 9}, \"nursing_dementia\": {\"vacant\": 9}}, \"accepting_hospital_discharges\": false}";
    cases.push((
        "PUT",
        format!("{homes}/api/v1/care-homes/{home}/vacancies"),
        true,
        "application/json",
        other.into(),
        Some(("idempotency-key", replay_key)),
    ));
    let n = cases.len();
    for (method, url, bearer, content_type, body, header) in cases {
        // A 503 (a connection to Redis being re-established after the faults) is tried again.
        let mut attempts = 0;
        let response = loop {
            let mut request = suite
                .http
                .request(method.parse().unwrap(), &url)
                .header("content-type", content_type);
            if bearer {
                request = request.bearer_auth(token);
            }
            if let Some((name, value)) = header {
                request = request.header(name, value);
            }
            if !body.is_empty() {
                request = request.body(body.clone());
            }
            match request.send().await {
                Ok(response) if response.status().as_u16() == 503 && attempts < 10 => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Ok(response) => break Some(response),
                // A server may close the connection on a body it will not read.
                Err(err) if err.is_request() || err.is_body() => break None,
                Err(err) => panic!("{method} {url}: {err}"),
            }
        };
        let Some(response) = response else { continue };
        let status = response.status().as_u16();
        let content = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let text = response.text().await.unwrap_or_default();
        assert!(
            (400..500).contains(&status),
            "{method} {url}: expected a refusal, got {status}: {}",
            &text[..text.len().min(300)]
        );
        if content.contains("json") {
            let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            assert!(
                answer["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{method} {url}: {status} without a reason: {}",
                &text[..text.len().min(300)]
            );
        } else if !url.contains("/ws/") {
            assert!(
                !text.trim().is_empty(),
                "{method} {url}: {status} with an empty answer"
            );
        }
    }
    n
}
