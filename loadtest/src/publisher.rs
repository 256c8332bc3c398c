//! Publishing bed events to JetStream at a target rate.
//!
//! Events go straight into the existing stream `PF_BEDS` (the platform's
//! services create it), with the event id as `Nats-Msg-Id`. Each publish
//! returns a future for its ack; up to `in_flight` of them are awaited at once
//! in a [`FuturesUnordered`], so the rate is not bounded by round trips.
//! The events come from an [`EventSource`]: the load-test ward's
//! [`BedCycle`], or the synthetic England's beds and care homes (whose
//! events go to `PF_CARE_HOMES`).

use std::future::IntoFuture;
use std::time::Duration;

use async_nats::ConnectOptions;
use async_nats::jetstream::context::{Context, ContextBuilder, PublishAckFuture};
use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::auth::NatsCredentials;
use crate::beds::{BedCycle, Planned};

/// The stream bed events belong to.
pub const STREAM: &str = "PF_BEDS";

/// How long to wait for the last outstanding acks once publishing stops.
const DRAIN_ACKS: Duration = Duration::from_secs(15);

/// Why the publisher could not start.
#[derive(Debug, thiserror::Error)]
pub enum PublisherError {
    /// The NATS server did not answer.
    #[error("failed to connect to NATS at {url}")]
    Connect {
        /// The URL tried.
        url: String,
        /// What went wrong.
        #[source]
        source: async_nats::ConnectError,
    },
    /// The stream is absent: the platform is not running (or has not created it yet).
    #[error(
        "JetStream stream {STREAM} not found on {url}: start the platform first (its services create the stream)"
    )]
    StreamMissing {
        /// The NATS URL.
        url: String,
        /// What the server said.
        #[source]
        source: async_nats::jetstream::context::GetStreamError,
    },
    /// The bed stream's settings could not be read.
    #[error("failed to read the settings of the stream {STREAM}: {0}")]
    Settings(String),
}

/// How fast and how long to publish.
#[derive(Debug, Clone, Copy)]
pub struct PublishPlan {
    /// Target events per second.
    pub rate: u32,
    /// How long to publish.
    pub duration: Duration,
    /// Most acks outstanding at once.
    pub in_flight: u32,
}

/// What the publisher did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PublishStats {
    /// Events handed to the connection.
    pub sent: u64,
    /// Events JetStream acknowledged as stored (new, not duplicates).
    pub acked: u64,
    /// Acks that said "duplicate" (the `Nats-Msg-Id` was already stored).
    pub duplicates: u64,
    /// Publishes that failed or whose ack failed or timed out.
    pub failed: u64,
    /// From the first publish to the last ack.
    pub elapsed: Duration,
    /// The first failure, for the report.
    pub first_error: Option<String>,
}

impl PublishStats {
    fn fail(&mut self, error: impl std::fmt::Display) {
        self.failed += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }

    fn record(
        &mut self,
        ack: Result<async_nats::jetstream::publish::PublishAck, impl std::fmt::Display>,
    ) {
        match ack {
            Ok(ack) if ack.duplicate => self.duplicates += 1,
            Ok(_) => self.acked += 1,
            Err(err) => self.fail(err),
        }
    }
}

/// Connects to NATS and checks that stream [`STREAM`] exists.
pub async fn connect(url: &str, in_flight: u32) -> Result<Context, PublisherError> {
    connect_with(url, in_flight, None).await
}

/// Like [`connect`], signed in as a NATS user when `credentials` are given
/// (`ConnectOptions::user_and_password`).
pub async fn connect_with(
    url: &str,
    in_flight: u32,
    credentials: Option<&NatsCredentials>,
) -> Result<Context, PublisherError> {
    let mut options = ConnectOptions::new();
    if let Some(credentials) = credentials {
        // Replies come to the user's own inbox: the only one it may read.
        options = options
            .user_and_password(
                credentials.user.clone(),
                credentials.password.expose().to_owned(),
            )
            .custom_inbox_prefix(pf_event_log::connection::inbox_prefix(&credentials.user));
    }
    let client = options
        .connect(url)
        .await
        .map_err(|source| PublisherError::Connect {
            url: url.to_owned(),
            source,
        })?;
    // Like `jetstream::new(client)`, but with room for our own in-flight limit
    // (the default allows 5,000 pending acks).
    let js = ContextBuilder::new()
        .timeout(Duration::from_secs(10))
        .max_ack_inflight(usize::try_from(in_flight).unwrap_or(usize::MAX).max(1))
        .build(client);
    js.get_stream(STREAM)
        .await
        .map_err(|source| PublisherError::StreamMissing {
            url: url.to_owned(),
            source,
        })?;
    Ok(js)
}

/// The durability settings a run is measured with: the server's version,
/// and the bed stream's replicas and storage. Figures mean little without
/// them (`docs/durability.md`): R3 adds a round trip to a follower to every
/// acknowledgement, and a server with `sync_interval: always` an fsync.
pub async fn stream_settings(js: &Context) -> Result<StreamSettings, PublisherError> {
    let mut stream = js
        .get_stream(STREAM)
        .await
        .map_err(|err| PublisherError::Settings(err.to_string()))?;
    let info = stream
        .info()
        .await
        .map_err(|err| PublisherError::Settings(err.to_string()))?;
    Ok(StreamSettings {
        nats_server: js.client().server_info().version,
        replicas: info.config.num_replicas,
        storage: match info.config.storage {
            async_nats::jetstream::stream::StorageType::File => "file",
            async_nats::jetstream::stream::StorageType::Memory => "memory",
        }
        .to_owned(),
    })
}

/// See [`stream_settings`].
#[derive(Debug, Clone, serde::Serialize, PartialEq, Eq)]
pub struct StreamSettings {
    /// The version of the nats-server the publisher is connected to.
    pub nats_server: String,
    /// Replicas of `PF_BEDS` (1: R1, 3: R3).
    pub replicas: usize,
    /// `file` or `memory`.
    pub storage: String,
}

/// When event number `n` (from 0) is due at `rate` events per second.
pub fn due_at(start: Instant, n: u64, rate: u32) -> Instant {
    start + Duration::from_secs_f64(n as f64 / f64::from(rate.max(1)))
}

/// Where the events to publish come from.
pub trait EventSource {
    /// The next event and its subject.
    fn next_event(&mut self) -> Planned;
}

impl EventSource for BedCycle {
    fn next_event(&mut self) -> Planned {
        BedCycle::next_event(self)
    }
}

impl EventSource for crate::england::EnglandEvents {
    fn next_event(&mut self) -> Planned {
        crate::england::EnglandEvents::next_event(self)
    }
}

/// Publishes `cycle`'s events at `plan.rate` for `plan.duration`, then waits
/// (at most 15 s) for the outstanding acks.
pub async fn run(js: &Context, plan: PublishPlan, mut cycle: impl EventSource) -> PublishStats {
    let mut stats = PublishStats::default();
    let mut pending: FuturesUnordered<<PublishAckFuture as IntoFuture>::IntoFuture> =
        FuturesUnordered::new();
    let limit = usize::try_from(plan.in_flight).unwrap_or(usize::MAX).max(1);
    let start = Instant::now();
    let stop = start + plan.duration;
    let total = u64::from(plan.rate) * plan.duration.as_secs();

    while stats.sent < total {
        let now = Instant::now();
        if now >= stop {
            break;
        }
        if pending.len() >= limit {
            if let Some(ack) = pending.next().await {
                stats.record(ack);
            }
            continue;
        }
        let due = due_at(start, stats.sent, plan.rate);
        if due > now {
            tokio::select! {
                Some(ack) = pending.next(), if !pending.is_empty() => stats.record(ack),
                _ = tokio::time::sleep_until(due.min(stop)) => {}
            }
            continue;
        }
        let planned = cycle.next_event();
        let envelope = planned.event.seal(OffsetDateTime::now_utc());
        let message = PublishMessage::build()
            .message_id(&envelope.event_id)
            .payload(Bytes::from(envelope.to_bytes()));
        stats.sent += 1;
        match js.send_publish(planned.subject, message).await {
            Ok(ack) => pending.push(ack.into_future()),
            Err(err) => stats.fail(err),
        }
    }

    let drain_until = Instant::now() + DRAIN_ACKS;
    while !pending.is_empty() {
        match tokio::time::timeout_at(drain_until, pending.next()).await {
            Ok(Some(ack)) => stats.record(ack),
            Ok(None) => break,
            Err(_) => {
                let left = pending.len() as u64;
                stats.failed += left;
                stats
                    .first_error
                    .get_or_insert_with(|| format!("{left} acks not received in time"));
                break;
            }
        }
    }
    stats.elapsed = start.elapsed();
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_spread_evenly_over_each_second() {
        let start = Instant::now();
        assert_eq!(due_at(start, 0, 1000), start);
        assert_eq!(due_at(start, 500, 1000), start + Duration::from_millis(500));
        assert_eq!(due_at(start, 3, 2), start + Duration::from_millis(1500));
    }

    #[test]
    fn duplicates_and_failures_are_counted_apart_from_acks() {
        let ack = |duplicate| async_nats::jetstream::publish::PublishAck {
            stream: STREAM.into(),
            sequence: 1,
            duplicate,
            ..Default::default()
        };
        let mut stats = PublishStats::default();
        stats.record(Ok::<_, String>(ack(false)));
        stats.record(Ok::<_, String>(ack(true)));
        stats.record(Err::<async_nats::jetstream::publish::PublishAck, _>(
            "timed out",
        ));
        stats.record(Err::<async_nats::jetstream::publish::PublishAck, _>(
            "later",
        ));
        assert_eq!((stats.acked, stats.duplicates, stats.failed), (1, 1, 2));
        assert_eq!(stats.first_error.as_deref(), Some("timed out"));
    }
}
