//! Websocket clients of the gateway's control-room feed.
//!
//! Each client opens `{gateway}/ws/control-room`, reads JSON text frames
//! (`snapshot`, then `delta`s with versions strictly +1, see
//! `docs/architecture.md`), and:
//! - checks the versions with a [`VersionTracker`] (gaps, duplicates, resyncs);
//! - for each delta of the load-test site, records `now − occurred_at_ms` in
//!   milliseconds into its own HDR histogram (merged in the report).
//!
//! A client whose connection drops reconnects with `?since={last version}`,
//! as a real dashboard would, for as long as the run lasts: after a gateway
//! restart it keeps trying with exponential back-off and jitter (250 ms,
//! doubling to 8 s, each wait a random 50–100 % of that), so thousands of
//! clients do not all come back in the same instant.
//!
//! With a token ([`ClientPlan::token`]) every handshake carries
//! `Authorization: Bearer …` (the same token on reconnects).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::auth::Secret;

/// Highest latency the histograms hold, in milliseconds (one hour); larger values are clamped.
pub const MAX_LATENCY_MS: u64 = 3_600_000;
/// Handshakes in progress at once, so the gateway's accept queue is not flooded.
const CONCURRENT_HANDSHAKES: usize = 64;
/// First pause before reconnecting; it doubles after each failed attempt.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(250);
/// Longest pause between reconnection attempts.
const RECONNECT_BACKOFF_MAX: Duration = Duration::from_secs(8);

/// The pause before reconnection attempt `attempt` (from 0): the back-off
/// doubled per attempt up to the maximum, scaled by `jitter` (0.0–1.0) into
/// 50–100 % of it.
pub fn reconnect_delay(attempt: u32, jitter: f64) -> Duration {
    let full = RECONNECT_BACKOFF
        .saturating_mul(1u32 << attempt.min(16))
        .min(RECONNECT_BACKOFF_MAX);
    full.mul_f64(0.5 + 0.5 * jitter.clamp(0.0, 1.0))
}

/// A random number in 0.0–1.0 (for jitter only).
fn jitter() -> f64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(unix_now_ms().unsigned_abs());
    (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A latency histogram in milliseconds, 3 significant figures, 1 ms to one hour.
pub fn new_histogram() -> Histogram<u64> {
    // Constant, valid bounds: this cannot fail.
    #[allow(clippy::expect_used)]
    Histogram::new_with_bounds(1, MAX_LATENCY_MS, 3).expect("constant histogram bounds are valid")
}

/// What a delta's version said about the feed's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Exactly one more than the last version.
    InOrder,
    /// Versions were skipped; `missing` of them.
    Gap {
        /// How many versions were skipped.
        missing: u64,
    },
    /// Not newer than the last version (a duplicate or going backwards).
    Stale,
    /// A delta before any snapshot: there is nothing to apply it to.
    BeforeSnapshot,
}

/// Checks that a client's versions go up by exactly one after each snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionTracker {
    last: Option<u64>,
    /// Snapshots received (the first one included).
    pub snapshots: u64,
    /// Snapshots after the first: the gateway made the client start again.
    pub resyncs: u64,
    /// Deltas that skipped versions, or came before any snapshot.
    pub gaps: u64,
    /// Total versions skipped by those gaps.
    pub missing: u64,
    /// Deltas not newer than the last version.
    pub stale: u64,
}

impl VersionTracker {
    /// The last version applied, if any.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// A snapshot at `version`: the client starts again from it.
    pub fn snapshot(&mut self, version: u64) {
        if self.snapshots > 0 {
            self.resyncs += 1;
        }
        self.snapshots += 1;
        self.last = Some(version);
    }

    /// A delta covering the changes after `from` up to `version`: checks it
    /// starts where the last one ended.
    pub fn delta(&mut self, from: u64, version: u64) -> Seen {
        match self.last {
            None => {
                self.gaps += 1;
                self.last = Some(version);
                Seen::BeforeSnapshot
            }
            Some(last) if version <= last => {
                self.stale += 1;
                Seen::Stale
            }
            Some(last) if from == last => {
                self.last = Some(version);
                Seen::InOrder
            }
            Some(last) if from > last => {
                let missing = from - last;
                self.gaps += 1;
                self.missing += missing;
                self.last = Some(version);
                Seen::Gap { missing }
            }
            Some(_) => {
                self.stale += 1;
                Seen::Stale
            }
        }
    }
}

/// The fields of a gateway frame the load test reads; the rest is ignored.
#[derive(Debug, Deserialize)]
struct Frame {
    #[serde(rename = "type")]
    kind: String,
    version: Option<u64>,
    from_version: Option<u64>,
    occurred_at_ms: Option<i64>,
    #[serde(default)]
    sites: Vec<SiteCode>,
}

#[derive(Debug, Deserialize)]
struct SiteCode {
    code: Option<String>,
}

/// What one client saw.
#[derive(Debug, Clone)]
pub struct ClientResult {
    /// It connected and got a first frame in time.
    pub connected: bool,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
    /// Version checks.
    pub versions: VersionTracker,
    /// Delta frames received (all sites).
    pub deltas: u64,
    /// Changes those deltas covered (one delta may carry many).
    pub changes: u64,
    /// Delta frames of the load-test site (the timed ones).
    pub loadtest_deltas: u64,
    /// Frames that were not valid JSON of the expected shape.
    pub parse_errors: u64,
    /// Times the connection was opened again.
    pub reconnects: u32,
    /// Arrival of the first and last load-test delta.
    pub loadtest_window: Option<(Instant, Instant)>,
    /// Latency of load-test deltas, in milliseconds.
    pub latencies: Histogram<u64>,
    /// The site whose deltas are timed; `None`: every delta that names a site.
    pub timed_site: Option<String>,
}

impl ClientResult {
    fn new(timed_site: Option<String>) -> Self {
        Self {
            timed_site,
            connected: false,
            error: None,
            versions: VersionTracker::default(),
            deltas: 0,
            changes: 0,
            loadtest_deltas: 0,
            parse_errors: 0,
            reconnects: 0,
            loadtest_window: None,
            latencies: new_histogram(),
        }
    }

    /// Load-test deltas per second between the first and last one this client got.
    pub fn loadtest_rate(&self) -> Option<f64> {
        let (first, last) = self.loadtest_window?;
        let secs = last.duration_since(first).as_secs_f64();
        (secs > 0.0 && self.loadtest_deltas > 1).then(|| (self.loadtest_deltas - 1) as f64 / secs)
    }

    /// Reads one text frame that arrived at `now` (`now_ms` since the Unix epoch).
    pub fn handle_text(&mut self, text: &str, now: Instant, now_ms: i64) {
        let Ok(frame) = serde_json::from_str::<Frame>(text) else {
            self.parse_errors += 1;
            return;
        };
        match (frame.kind.as_str(), frame.version) {
            ("snapshot", Some(version)) => self.versions.snapshot(version),
            ("delta", Some(version)) => {
                self.deltas += 1;
                let from = frame.from_version.unwrap_or(version.saturating_sub(1));
                if self.versions.delta(from, version) == Seen::Stale {
                    return;
                }
                self.changes += version.saturating_sub(from);
                let ours = match &self.timed_site {
                    Some(site) => frame.sites.iter().any(|s| s.code.as_deref() == Some(site)),
                    None => !frame.sites.is_empty(),
                };
                if let (true, Some(occurred)) = (ours, frame.occurred_at_ms) {
                    let latency = u64::try_from(now_ms.saturating_sub(occurred)).unwrap_or(0);
                    self.latencies.saturating_record(latency);
                    self.loadtest_deltas += 1;
                    let first = self.loadtest_window.map_or(now, |(first, _)| first);
                    self.loadtest_window = Some((first, now));
                }
            }
            ("snapshot" | "delta", None) => self.parse_errors += 1,
            _ => {}
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How many clients to open and for how long.
#[derive(Debug, Clone)]
pub struct ClientPlan {
    /// Gateway base URL, e.g. `ws://127.0.0.1:8080`.
    pub gateway_url: String,
    /// Number of clients.
    pub clients: u32,
    /// Clients not connected (with a first frame) by then are given up.
    pub connect_deadline: Instant,
    /// How long the clients listen once all are ready.
    pub run_for: Duration,
    /// Bearer token sent in the handshake's `Authorization` header, if any.
    pub token: Option<Secret>,
    /// The site whose deltas are timed ([`SITE`](crate::SITE) for the
    /// load-test ward); `None`: every delta that names a site (England,
    /// where the wall shows only its own ICS's sites).
    pub timed_site: Option<String>,
}

/// The handshake request for `url`, with `Authorization: Bearer {token}` when given.
pub fn handshake_request(url: &str, token: Option<&Secret>) -> Result<Request, String> {
    let mut request = url
        .into_client_request()
        .map_err(|err| format!("bad websocket URL {url}: {err}"))?;
    if let Some(token) = token {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| "the token contains characters not allowed in a header".to_owned())?;
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    Ok(request)
}

/// The running clients.
#[derive(Debug)]
pub struct Clients {
    handles: Vec<JoinHandle<ClientResult>>,
}

impl Clients {
    /// Waits for every client to stop and returns what each saw.
    pub async fn join(self) -> Vec<ClientResult> {
        let mut results = Vec::with_capacity(self.handles.len());
        for handle in self.handles {
            match handle.await {
                Ok(result) => results.push(result),
                Err(err) => {
                    let mut result = ClientResult::new(None);
                    result.error = Some(format!("client task failed: {err}"));
                    results.push(result);
                }
            }
        }
        results
    }
}

/// Starts the clients. The returned future resolves, with the number of
/// clients connected, once all have their first frame or the connect deadline
/// passed; from then on they listen for `plan.run_for` and stop.
pub fn spawn(plan: ClientPlan) -> (Clients, impl Future<Output = u32>) {
    let url = format!("{}/ws/control-room", plan.gateway_url.trim_end_matches('/'));
    let (ready_tx, mut ready_rx) = mpsc::channel::<bool>(plan.clients.max(1) as usize);
    let (stop_tx, stop_rx) = watch::channel(false);
    let handshakes = Arc::new(Semaphore::new(CONCURRENT_HANDSHAKES));
    let handles = (0..plan.clients)
        .map(|_| {
            tokio::spawn(run_client(
                url.clone(),
                plan.token.clone(),
                plan.timed_site.clone(),
                plan.connect_deadline,
                handshakes.clone(),
                ready_tx.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    drop(ready_tx);

    let ready = async move {
        let mut connected = 0;
        let mut reported = 0;
        while reported < plan.clients {
            match tokio::time::timeout_at(plan.connect_deadline, ready_rx.recv()).await {
                Ok(Some(ok)) => {
                    reported += 1;
                    connected += u32::from(ok);
                }
                Ok(None) | Err(_) => break,
            }
        }
        tokio::spawn(async move {
            tokio::time::sleep(plan.run_for).await;
            let _ = stop_tx.send(true);
        });
        connected
    };
    (Clients { handles }, ready)
}

/// Why one connection ended.
enum Ended {
    /// Told to stop.
    Stopped,
    /// The server closed it or it failed.
    Lost(String),
}

async fn run_client(
    url: String,
    token: Option<Secret>,
    timed_site: Option<String>,
    connect_deadline: Instant,
    handshakes: Arc<Semaphore>,
    ready: mpsc::Sender<bool>,
    mut stop: watch::Receiver<bool>,
) -> ClientResult {
    let mut result = ClientResult::new(timed_site);
    let mut ready = Some(ready);
    let config = WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0);
    // Reconnection attempts in a row that failed (reset once one connects).
    let mut failed_attempts = 0u32;
    loop {
        let target = match result.versions.last() {
            Some(version) if result.connected => format!("{url}?since={version}"),
            _ => url.clone(),
        };
        let request = match handshake_request(&target, token.as_ref()) {
            Ok(request) => request,
            Err(err) => {
                result.error = Some(err);
                break;
            }
        };
        let connecting = async {
            let _permit = handshakes.acquire().await;
            tokio_tungstenite::connect_async_with_config(request, Some(config), true).await
        };
        let deadline = if result.connected {
            Instant::now() + Duration::from_secs(5)
        } else {
            connect_deadline
        };
        let failed = match tokio::time::timeout_at(deadline, connecting).await {
            Ok(Ok((ws, _response))) => Ok(ws),
            Ok(Err(err)) => Err(format!("failed to connect to {target}: {err}")),
            Err(_) => Err(format!("timed out connecting to {target}")),
        };
        let mut ws = match failed {
            Ok(ws) => {
                failed_attempts = 0;
                ws
            }
            Err(reason) => {
                result.error = Some(reason);
                // Never connected: the run's connect deadline has passed.
                if !result.connected || *stop.borrow() {
                    break;
                }
                let pause = reconnect_delay(failed_attempts, jitter());
                failed_attempts += 1;
                tokio::select! {
                    _ = tokio::time::sleep(pause) => continue,
                    _ = stop.changed() => break,
                }
            }
        };

        let ended = loop {
            let message = tokio::select! {
                message = ws.next() => message,
                _ = stop.changed() => break Ended::Stopped,
            };
            match message {
                Some(Ok(Message::Text(text))) => {
                    result.handle_text(text.as_str(), Instant::now(), unix_now_ms());
                    if let Some(ready) = ready.take() {
                        result.connected = true;
                        let _ = ready.send(true).await;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    let reason = frame.map(|f| f.reason.to_string()).unwrap_or_default();
                    break Ended::Lost(format!("server closed the connection: {reason}"));
                }
                Some(Ok(_)) => {}
                Some(Err(err)) => break Ended::Lost(format!("websocket error: {err}")),
                None => break Ended::Lost("connection ended".to_owned()),
            }
        };
        match ended {
            Ended::Stopped => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.flush()).await;
                result.error = None;
                break;
            }
            Ended::Lost(reason) => {
                result.error = Some(reason);
                if !result.connected || *stop.borrow() {
                    break;
                }
                result.reconnects += 1;
                let pause = reconnect_delay(failed_attempts, jitter());
                failed_attempts += 1;
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stop.changed() => break,
                }
            }
        }
    }
    if let Some(ready) = ready.take() {
        let _ = ready.send(false).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnections_back_off_to_eight_seconds_with_jitter() {
        assert_eq!(reconnect_delay(0, 1.0), Duration::from_millis(250));
        assert_eq!(reconnect_delay(0, 0.0), Duration::from_millis(125));
        assert_eq!(reconnect_delay(2, 1.0), Duration::from_secs(1));
        assert_eq!(reconnect_delay(5, 1.0), Duration::from_secs(8));
        assert_eq!(reconnect_delay(40, 0.0), Duration::from_secs(4));
        let j = jitter();
        assert!((0.0..=1.0).contains(&j));
    }

    #[test]
    fn handshakes_carry_the_token_only_when_given() {
        let url = "ws://127.0.0.1:8080/ws/control-room";
        let plain = handshake_request(url, None).expect("valid");
        assert!(plain.headers().get(AUTHORIZATION).is_none());
        let signed = handshake_request(url, Some(&Secret::new("abc.def"))).expect("valid");
        let value = signed.headers().get(AUTHORIZATION).expect("header");
        assert_eq!(value.to_str().ok(), Some("Bearer abc.def"));
        assert!(value.is_sensitive());
        assert!(handshake_request(url, Some(&Secret::new("a\nb"))).is_err());
    }

    #[test]
    fn versions_plus_one_are_in_order() {
        let mut tracker = VersionTracker::default();
        tracker.snapshot(10);
        assert_eq!(tracker.delta(10, 11), Seen::InOrder);
        assert_eq!(tracker.delta(11, 12), Seen::InOrder);
        assert_eq!(
            tracker,
            VersionTracker {
                last: Some(12),
                snapshots: 1,
                ..Default::default()
            }
        );
    }

    #[test]
    fn skipped_duplicate_and_early_versions_are_counted() {
        let mut tracker = VersionTracker::default();
        assert_eq!(tracker.delta(4, 5), Seen::BeforeSnapshot);
        tracker.snapshot(5);
        assert_eq!(tracker.delta(8, 9), Seen::Gap { missing: 3 });
        assert_eq!(tracker.delta(8, 9), Seen::Stale);
        assert_eq!(tracker.delta(6, 7), Seen::Stale);
        assert_eq!(tracker.delta(9, 10), Seen::InOrder);
        tracker.snapshot(20);
        assert_eq!(tracker.delta(20, 21), Seen::InOrder);
        assert_eq!(
            (
                tracker.gaps,
                tracker.missing,
                tracker.stale,
                tracker.snapshots,
                tracker.resyncs
            ),
            (2, 3, 2, 2, 1)
        );
    }

    #[test]
    fn only_load_test_deltas_are_timed() {
        let mut client = ClientResult::new(Some(crate::SITE.to_owned()));
        let start = Instant::now();
        client.handle_text(
            r#"{"type":"snapshot","version":1,"sites":[]}"#,
            start,
            1_000,
        );
        client.handle_text(
            r#"{"type":"delta","from_version":1,"version":2,"occurred_at_ms":900,"sites":[{"code":"RWEAA"}]}"#,
            start,
            1_000,
        );
        client.handle_text(
            r#"{"type":"delta","from_version":2,"version":3,"occurred_at_ms":960,"sites":[{"code":"LOADTEST","name":"x"}],"system":{}}"#,
            start + Duration::from_millis(500),
            1_000,
        );
        client.handle_text(
            r#"{"type":"delta","from_version":3,"version":4,"occurred_at_ms":1001,"sites":[{"code":"LOADTEST"}]}"#,
            start + Duration::from_millis(1500),
            1_000,
        );
        client.handle_text("not json", start, 1_000);
        client.handle_text(r#"{"type":"delta"}"#, start, 1_000);

        assert_eq!(
            (client.deltas, client.loadtest_deltas, client.parse_errors),
            (3, 2, 2)
        );
        assert_eq!(client.latencies.len(), 2);
        assert_eq!(client.latencies.max(), 40);
        // A clock a millisecond behind counts as zero, not as a negative latency.
        assert_eq!(client.latencies.min(), 0);
        assert_eq!(client.loadtest_rate(), Some(1.0));
        assert_eq!(client.versions.gaps, 0);
    }

    #[test]
    fn without_a_timed_site_every_delta_naming_a_site_is_timed() {
        let mut client = ClientResult::new(None);
        let start = Instant::now();
        client.handle_text(r#"{"type":"snapshot","version":1}"#, start, 1_000);
        for (from, sites) in [
            (1, r#"[{"code":"RA0AA"}]"#),
            (2, "[]"),
            (3, r#"[{"code":"RB1AC"}]"#),
        ] {
            client.handle_text(
                &format!(
                    r#"{{"type":"delta","from_version":{from},"version":{},"occurred_at_ms":990,"sites":{sites}}}"#,
                    from + 1
                ),
                start,
                1_000,
            );
        }
        assert_eq!((client.deltas, client.loadtest_deltas), (3, 2));
    }
}
