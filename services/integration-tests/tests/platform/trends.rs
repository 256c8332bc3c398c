//! Occupancy history against real servers: bed events published straight
//! into JetStream with chosen `occurred_at` times (nine and ten days ago, a
//! week ago, yesterday, two hours ago, now, and one arriving late), folded
//! by the real projection into a real Redis, read back as the gateway reads
//! it and shaped into the wall's trends.

#![allow(clippy::unwrap_used)] // test code: a failure should stop the test loudly

use std::time::{Duration, Instant};

use pf_event_log::streams::{BEDS, bed_subject};
use pf_integration_tests::redis_users::url_as;
use pf_live_state::{LiveState, TrendHistory, TrendPoint};
use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{Actor, BedKind, BedOpened, BedRef, BedState, BedStateChanged, Source};
use pf_test_support::{NatsServer, RedisServer};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

const BUCKET: i64 = 300;
const DAY: i64 = 86_400;

/// NATS, Redis and the projection (default history settings: 5 minutes, 8 days).
struct Servers {
    nats: NatsServer,
    redis: RedisServer,
    shutdown: CancellationToken,
}

impl Servers {
    async fn start() -> Self {
        let nats = NatsServer::start();
        pf_integration_tests::create_streams(&nats.url()).await;
        let redis = RedisServer::start();
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = pf_projection::ProjectionConfig::local(&nats.url(), &redis.url());
        tokio::spawn(pf_projection::run(
            listener,
            config,
            false,
            shutdown.clone(),
        ));
        let servers = Self {
            nats,
            redis,
            shutdown,
        };
        // The projection creates the streams; wait for them.
        let js = servers.jetstream().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        while js.get_stream(BEDS.name).await.is_err() {
            assert!(Instant::now() < deadline, "the projection did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        servers
    }

    async fn jetstream(&self) -> async_nats::jetstream::Context {
        async_nats::jetstream::new(async_nats::connect(self.nats.url()).await.unwrap())
    }

    /// A publisher of bed events to this server.
    async fn beds(&self) -> Beds {
        Beds {
            js: self.jetstream().await,
            versions: Default::default(),
        }
    }

    async fn live(&self) -> LiveState {
        LiveState::connect(
            &self.redis.url(),
            pf_live_state::Keys::default(),
            Duration::from_secs(10),
        )
        .await
        .unwrap()
    }

    /// Waits until Redis holds every bed event published so far.
    async fn wait_until_applied(&self) {
        let js = self.jetstream().await;
        let mut live = self.live().await;
        let last = js
            .get_stream(BEDS.name)
            .await
            .unwrap()
            .info()
            .await
            .unwrap()
            .state
            .last_sequence;
        let deadline = Instant::now() + Duration::from_secs(60);
        while live.applied_through(BEDS.name).await.unwrap().unwrap_or(0) < last {
            assert!(Instant::now() < deadline, "the projection did not catch up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Publishes bed events in order, keeping each bed's version.
struct Beds {
    js: async_nats::jetstream::Context,
    versions: std::collections::HashMap<String, u64>,
}

impl Beds {
    /// Publishes one event of `site/ward/bed` that happened at `at` (Unix s):
    /// opened, or moved to `state`.
    async fn publish(&mut self, bed: &str, state: Option<BedState>, at: i64) {
        let mut parts = bed.split('/');
        let (site, ward, code) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let version = self.versions.entry(bed.to_owned()).or_default();
        *version += 1;
        let reference = Some(BedRef {
            site: site.into(),
            ward: ward.into(),
            bed: code.into(),
        });
        let kind = BedKind::GeneralAcute as i32;
        let payload = match state {
            None => Payload::BedOpened(BedOpened {
                bed: reference,
                kind,
                escalation: false,
                reason: "trend test".into(),
            }),
            Some(state) => Payload::BedStateChanged(BedStateChanged {
                bed: reference,
                kind,
                escalation: false,
                previous_state: 0,
                state: state as i32,
                reason: "trend test".into(),
            }),
        };
        let event = NewEvent {
            source: Source {
                organisation: site.into(),
                service: "trend-test".into(),
            },
            entity_id: format!("bed/{site}/{ward}/{code}"),
            entity_version: *version,
            occurred_at: Some(OffsetDateTime::from_unix_timestamp(at).unwrap()),
            actor: Actor::default(),
            payload,
        }
        .seal(OffsetDateTime::now_utc());
        self.js
            .publish(bed_subject(site, ward, code), event.to_bytes().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    async fn open(&mut self, beds: &[String], at: i64) {
        for bed in beds {
            self.publish(bed, None, at).await;
        }
    }

    async fn set(&mut self, beds: &[String], state: BedState, at: i64) {
        for bed in beds {
            self.publish(bed, Some(state), at).await;
        }
    }
}

fn beds(prefix: &str, numbers: std::ops::RangeInclusive<u32>) -> Vec<String> {
    numbers.map(|n| format!("{prefix}{n:02}")).collect()
}

fn bucket(at: i64) -> i64 {
    at.div_euclid(BUCKET) * BUCKET
}

fn point(at: i64, occupied: i64, usable: i64) -> TrendPoint {
    TrendPoint {
        at: bucket(at),
        occupied,
        usable,
    }
}

/// The value in force at `at`: the newest point at or before it.
fn at(points: &[TrendPoint], at: i64) -> Option<(i64, i64)> {
    points
        .iter()
        .rev()
        .find(|p| p.at <= at)
        .map(|p| (p.occupied, p.usable))
}

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Publishes the scenario; returns `now` (the time of the "now" events).
async fn publish_scenario(servers: &Servers) -> i64 {
    let now = unix_now();
    let mut events = servers.beds().await;
    let lri = beds("RWEAA/WD15/B", 1..=10);
    let gh = beds("RWEAK/CCU/C", 1..=4);
    // Ten days ago: 10 beds, 1 occupied. Nine days ago: 2 occupied.
    events.open(&lri, now - 10 * DAY).await;
    events
        .set(&lri[0..1], BedState::Occupied, now - 10 * DAY)
        .await;
    events
        .set(&lri[1..2], BedState::Occupied, now - 9 * DAY)
        .await;
    // A week ago, two hours before this time: 6 occupied; an hour after this time: 7.
    events
        .set(&lri[2..6], BedState::Occupied, now - 7 * DAY - 2 * 3600)
        .await;
    events
        .set(&lri[6..7], BedState::Occupied, now - 7 * DAY + 3600)
        .await;
    // Yesterday, Glenfield: 4 beds, 1 occupied.
    events.open(&gh, now - DAY).await;
    events.set(&gh[0..1], BedState::Occupied, now - DAY).await;
    // Two hours ago: one bed closed (9 usable), one more occupied: 8 of 9.
    events
        .set(&lri[9..10], BedState::Closed, now - 2 * 3600)
        .await;
    events
        .set(&lri[7..8], BedState::Occupied, now - 2 * 3600)
        .await;
    // Now: 9 of 9. A discharge cleaned at once changes nothing occupied: no entry.
    events.set(&lri[8..9], BedState::Occupied, now).await;
    events.set(&gh[3..4], BedState::Reserved, now).await;
    // Late: a Glenfield admission three hours ago, published after "now".
    events
        .set(&gh[1..2], BedState::Occupied, now - 3 * 3600)
        .await;
    now
}

fn expected(now: i64) -> TrendHistory {
    let lri = vec![
        // Ten days ago is past the retention: trimmed when a bucket more than
        // eight days later was started. Nine days ago stays: the value in force
        // when the retention window opens.
        point(now - 9 * DAY, 2, 10),
        point(now - 7 * DAY - 2 * 3600, 6, 10),
        point(now - 7 * DAY + 3600, 7, 10),
        point(now - 2 * 3600, 8, 9),
        point(now, 9, 9),
    ];
    let gh = vec![
        point(now - DAY, 1, 4),
        // Its own bucket: Glenfield's newest bucket was yesterday's.
        point(now - 3 * 3600, 2, 4),
    ];
    let system = vec![
        point(now - 9 * DAY, 2, 10),
        point(now - 7 * DAY - 2 * 3600, 6, 10),
        point(now - 7 * DAY + 3600, 7, 10),
        point(now - DAY, 8, 14),
        point(now - 2 * 3600, 9, 13),
        // The late admission lands in the system's newest bucket (now): 9 + 2 of 13.
        point(now, 11, 13),
    ];
    TrendHistory {
        bucket_secs: Some(BUCKET as u64),
        scopes: [
            ("RWEAA".to_owned(), lri),
            ("RWEAK".to_owned(), gh),
            ("system".to_owned(), system),
        ]
        .into_iter()
        .collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_is_bucketed_by_event_time_bounded_and_rebuilt_the_same_by_a_replay() {
    let servers = Servers::start().await;
    let now = publish_scenario(&servers).await;
    servers.wait_until_applied().await;
    let mut live = servers.live().await;

    // Everything kept, bucket by bucket.
    let history = live.whole_trend_history().await.unwrap();
    assert_eq!(history, expected(now));

    // Occupancy at chosen times, carried forward between entries.
    let lri = &history.scopes["RWEAA"];
    assert_eq!(at(lri, now - 7 * DAY), Some((6, 10)), "this time last week");
    assert_eq!(at(lri, now - DAY), Some((7, 10)), "carried through a week");
    assert_eq!(at(lri, now - 3600), Some((8, 9)), "an hour ago");
    assert_eq!(at(lri, now), Some((9, 9)), "now");
    // The newest value always equals the live counters.
    let snapshot = live.snapshot().await.unwrap();
    let occupied: i64 = snapshot
        .wards
        .values()
        .flat_map(|c| c.iter())
        .filter(|(f, _)| f.state == pf_hospital_model::BedState::Occupied)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(history.scopes["system"].last().unwrap().occupied, occupied);

    // Bounded: at most retention / bucket + 1 entries, the oldest trimmed.
    let mut redis = redis::Client::open(servers.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let oldest: Vec<String> = redis::cmd("ZRANGE")
        .arg(live.trend_key("RWEAA"))
        .arg(0)
        .arg(0)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(oldest, vec![point(now - 9 * DAY, 2, 10).member()]);
    let meta: std::collections::BTreeMap<String, String> = redis::cmd("HGETALL")
        .arg(live.keys().trend_meta())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(meta["bucket_secs"], "300");
    assert_eq!(meta["keep_secs"], (8 * DAY).to_string());

    // The windows a reader asks for: the last day and the same day last week,
    // each with the value carried into it.
    let windows = [(now - DAY, now), (now - 8 * DAY, now - 7 * DAY)];
    let read = live.trend_history(&windows).await.unwrap();
    assert_eq!(
        read.scopes["RWEAA"],
        vec![
            point(now - 9 * DAY, 2, 10),
            point(now - 7 * DAY - 2 * 3600, 6, 10),
            point(now - 7 * DAY + 3600, 7, 10),
            point(now - 2 * 3600, 8, 9),
            point(now, 9, 9),
        ]
    );
    assert_eq!(
        read.scopes["RWEAK"],
        vec![point(now - DAY, 1, 4), point(now - 3 * 3600, 2, 4)]
    );

    // The wall's trends, built from what the gateway reads at `now`.
    let read = live
        .trend_history(&pf_gateway::trends::windows(now, 300))
        .await
        .unwrap();
    let view = pf_gateway::trends::build(&read, now);
    assert_eq!(view.bucket_minutes, 5);
    let lri = &view.scopes["RWEAA"];
    assert_eq!(lri.now_pct, Some(100.0));
    assert_eq!(lri.week_ago_pct, Some(60.0), "this time last week: 6 of 10");
    assert_eq!((lri.low_pct, lri.high_pct), (20.0, 100.0));
    assert_eq!(
        lri.summary,
        "Occupancy over the last 24 hours: 70% to 100%, now 100%. Same time last week: 60%."
    );
    // Last week's line: 20 % carried in, 60 % from two hours before this
    // time, 70 % (7 of 10) after it is not shown; no gap.
    assert!(
        lri.last_week_path.starts_with("M0 30L"),
        "{}",
        lri.last_week_path
    );
    assert!(
        lri.last_week_path.ends_with("L100 15"),
        "{}",
        lri.last_week_path
    );
    assert!(!lri.last_week_path[1..].contains('M'), "no gap");
    // Today: 70 % carried in, 88.9 % two hours ago, 100 % now.
    assert!(
        lri.today_path.starts_with("M0 11.25L"),
        "{}",
        lri.today_path
    );
    assert!(lri.today_path.ends_with("L100 0"), "{}", lri.today_path);
    let system = &view.scopes["system"];
    assert_eq!(system.now_pct, Some(84.6), "11 of 13");
    assert_eq!(system.week_ago_pct, Some(60.0));
    let glenfield = &view.scopes["RWEAK"];
    assert_eq!(glenfield.now_pct, Some(50.0));
    assert_eq!(glenfield.week_ago_pct, None);
    assert_eq!(glenfield.last_week_path, "");
    assert!(
        glenfield
            .summary
            .ends_with("Same time last week: no figures.")
    );

    // Wiping Redis and replaying the stream rebuilds exactly the same history.
    let js = servers.jetstream().await;
    let report = pf_projection::replay::rebuild(&js, &mut live, 7)
        .await
        .unwrap();
    assert!(report.applied > 0);
    assert_eq!(live.whole_trend_history().await.unwrap(), expected(now));
    // And a replay into a separate, empty copy gives the same again.
    let mut scratch = LiveState::connect(
        &servers.redis.url(),
        pf_live_state::Keys::new("pf-trend-test:"),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    pf_projection::replay::replay(&js, &mut scratch, 500)
        .await
        .unwrap();
    assert_eq!(scratch.whole_trend_history().await.unwrap(), expected(now));
    // Applying everything again changes nothing (events are skipped by version).
    pf_projection::replay::replay(&js, &mut scratch, 500)
        .await
        .unwrap();
    assert_eq!(scratch.whole_trend_history().await.unwrap(), expected(now));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_starts_from_the_counters_when_redis_had_state_without_history() {
    // A live state from before the history existed: counters, no history.
    let servers = Servers::start().await;
    let now = unix_now();
    let mut events = servers.beds().await;
    let lri = beds("RWEAA/WD15/B", 1..=4);
    events.open(&lri, now - 3600).await;
    events.set(&lri[0..2], BedState::Occupied, now - 3600).await;
    servers.wait_until_applied().await;
    let mut live = servers.live().await;
    let mut redis = redis::Client::open(servers.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(live.trend_key("RWEAA"))
        .arg(live.trend_key("system"))
        .arg(live.keys().trend_newest())
        .query_async(&mut redis)
        .await
        .unwrap();

    // The next change starts the history from the counters: 3 of 4, not 1 of 0.
    events.set(&lri[2..3], BedState::Occupied, now).await;
    servers.wait_until_applied().await;
    let history = live.whole_trend_history().await.unwrap();
    assert_eq!(history.scopes["RWEAA"], vec![point(now, 3, 4)]);
    assert_eq!(history.scopes["system"], vec![point(now, 3, 4)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_dated_in_the_future_does_not_stall_the_history() {
    // An event written straight to the stream with a clock a year ahead
    // (hospital-beds refuses such events; the stream does not).
    let servers = Servers::start().await;
    let now = unix_now();
    let mut events = servers.beds().await;
    let lri = beds("RWEAA/WD15/B", 1..=4);
    events.open(&lri, now - 3600).await;
    events
        .set(&lri[0..1], BedState::Occupied, now + 365 * DAY)
        .await;
    events.set(&lri[1..2], BedState::Occupied, now).await;
    servers.wait_until_applied().await;
    let after = unix_now();

    let history = servers.live().await.whole_trend_history().await.unwrap();
    for scope in ["RWEAA", "system"] {
        let points = &history.scopes[scope];
        assert!(
            points.iter().all(|p| p.at <= bucket(after)),
            "{scope}: a bucket in the future: {points:?}"
        );
        assert_eq!(
            points.last().map(|p| (p.occupied, p.usable)),
            Some((2, 4)),
            "{scope}: the latest point is the live figure"
        );
    }
}

#[tokio::test]
async fn the_projection_user_writes_the_history_and_the_gateway_user_reads_it() {
    use pf_hospital_model::{BedKind, BedState};
    let server = pf_integration_tests::redis_users::start();
    let timeout = Duration::from_secs(5);
    let now = unix_now();
    let update = |version: u64, state: BedState| pf_live_state::BedUpdate {
        event_id: format!("01900000-0000-7000-8000-00000000000{version}"),
        event_type: "bed.state_changed".into(),
        entity_version: version,
        site: "RWEAA".into(),
        ward: "WD1".into(),
        bed: "B01".into(),
        open: true,
        state: Some(state),
        kind: BedKind::GeneralAcute,
        escalation: false,
        reason: String::new(),
        occurred_at_ms: now * 1000,
    };
    let mut projection = LiveState::connect(
        &url_as(&server, "projection"),
        pf_live_state::Keys::default(),
        timeout,
    )
    .await
    .unwrap();
    projection
        .apply_beds(&[
            update(1, BedState::Available),
            update(2, BedState::Occupied),
        ])
        .await
        .unwrap();

    let mut gateway = LiveState::connect(
        &url_as(&server, "gateway"),
        pf_live_state::Keys::default(),
        timeout,
    )
    .await
    .unwrap();
    let history = gateway
        .trend_history(&[(now - DAY, now), (now - 8 * DAY, now - 7 * DAY)])
        .await
        .unwrap();
    assert_eq!(history.bucket_secs, Some(BUCKET as u64));
    assert_eq!(history.scopes["RWEAA"], vec![point(now, 1, 1)]);
    assert_eq!(history.scopes["system"], vec![point(now, 1, 1)]);
}
