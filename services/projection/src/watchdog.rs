//! The watchdog: notices, while the projection runs, that Redis lost the
//! live state (it restarted empty, or from an append-only file older than
//! what it had acknowledged), and replays the streams into it.
//!
//! At start the projection compares each stream's watermark with its
//! consumer's acknowledgement floor; that cannot see a Redis that empties
//! later, because the consumer goes on applying new events and raising the
//! watermark. So every `PF_PROJECTION_WATCHDOG_MS` (default 1 s) the
//! watchdog swaps a mark of its own in Redis in one step (`SET … GET`):
//! when the value it gets back is not the one it wrote last time, Redis
//! lost writes, and the watchdog replays every stream from its start into
//! the live state, then announces a reset so that every dashboard takes a
//! fresh snapshot.
//!
//! The consumers keep running during the replay, and the live state is not
//! wiped first. That is safe because every event carries the whole state of
//! its entity, and each is applied by one atomic script only when its entity
//! version is newer than the stored one, counters moved by the difference
//! from the stored record: whatever the interleaving, each entity ends at its
//! newest version and the counters agree with the entities. (A wipe racing
//! with the consumers could delete a counter after an event added to it.)
//! Redis loses whole scripts or none (its append-only file is a prefix of
//! the commands), so what it kept is consistent to build on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream;
use pf_live_state::LiveState;
use tokio_util::sync::CancellationToken;

use crate::config::ProjectionConfig;
use crate::replay::{self, ReplayReport};

/// Starts [`watch`] as a task of its own.
pub fn spawn(
    jetstream: &jetstream::Context,
    live: &LiveState,
    config: &ProjectionConfig,
    shutdown: &CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(watch(
        jetstream.clone(),
        live.clone(),
        config.clone(),
        shutdown.clone(),
    ))
}

/// Watches the live state until `shutdown`; see the module documentation.
/// Does nothing when the configured interval is zero.
pub async fn watch(
    jetstream: jetstream::Context,
    mut live: LiveState,
    config: ProjectionConfig,
    shutdown: CancellationToken,
) {
    let interval = config.watchdog_interval;
    if interval.is_zero() {
        return;
    }
    // One mark per process, so that two projections never take each
    // other's marks for lost writes.
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = format!("watchdog-{}-{started:x}", std::process::id());
    let ttl = (interval * 30).max(Duration::from_secs(30));
    let mut watch = Watch::default();
    let mut lost = false;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let value = watch.next_value();
        match live.swap_mark(&name, value, ttl).await {
            Ok(previous) => {
                if !watch.confirm(previous, value) {
                    tracing::warn!(
                        expected = ?watch.last_confirmed_before(value),
                        found = ?previous,
                        "Redis lost the live state while the projection ran; replaying the streams"
                    );
                    lost = true;
                }
            }
            Err(err) => {
                // Unknown whether the write landed: both values count next time.
                watch.unconfirmed(value);
                tracing::debug!(cause = %err, "watchdog cannot reach Redis");
                continue;
            }
        }
        if lost {
            match recover(&jetstream, &mut live, config.batch_size).await {
                Ok(report) => {
                    lost = false;
                    tracing::info!(
                        events = report.events,
                        applied = report.applied,
                        "live state rebuilt from the streams after Redis lost it"
                    );
                }
                Err(err) => {
                    tracing::error!(cause = format!("{err:#}"), "replay failed; will try again");
                }
            }
        }
    }
}

/// Replays every stream into `live` (no wipe: see the module documentation)
/// and tells readers to take a new snapshot.
async fn recover(
    jetstream: &jetstream::Context,
    live: &mut LiveState,
    batch_size: usize,
) -> anyhow::Result<ReplayReport> {
    let report = replay::replay(jetstream, live, batch_size).await?;
    // Everything is written again by this projection, in its key layout.
    live.mark_layout().await?;
    live.announce_reset().await?;
    Ok(report)
}

/// The values of the mark: what Redis should give back next.
#[derive(Debug, Default)]
struct Watch {
    /// The last value written and confirmed; `None` before the first.
    confirmed: Option<u64>,
    /// Values written since, whose writes may or may not have landed.
    unconfirmed: Vec<u64>,
    counter: u64,
}

impl Watch {
    fn next_value(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// Records that `value` was written and Redis answered with
    /// `previous`; whether `previous` is what was written before.
    fn confirm(&mut self, previous: Option<u64>, value: u64) -> bool {
        let expected = self.confirmed;
        let fine = match (expected, previous) {
            (None, _) => {
                self.unconfirmed.is_empty()
                    || previous.is_none_or(|p| self.unconfirmed.contains(&p))
            }
            (Some(expected), Some(previous)) => {
                previous == expected || self.unconfirmed.contains(&previous)
            }
            (Some(_), None) => false,
        };
        self.confirmed = Some(value);
        self.unconfirmed.clear();
        fine
    }

    fn unconfirmed(&mut self, value: u64) {
        // A long outage: only the newest values matter (Redis keeps the last write).
        if self.unconfirmed.len() >= 64 {
            self.unconfirmed.remove(0);
        }
        self.unconfirmed.push(value);
    }

    fn last_confirmed_before(&self, value: u64) -> Option<u64> {
        self.confirmed.filter(|c| *c != value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_swap_finds_nothing_and_that_is_fine() {
        let mut watch = Watch::default();
        let v = watch.next_value();
        assert!(watch.confirm(None, v));
        let w = watch.next_value();
        assert!(watch.confirm(Some(v), w));
    }

    #[test]
    fn a_missing_or_older_mark_means_lost_writes() {
        let mut watch = Watch::default();
        let v1 = watch.next_value();
        assert!(watch.confirm(None, v1));
        let v2 = watch.next_value();
        assert!(watch.confirm(Some(v1), v2));
        let v3 = watch.next_value();
        assert!(!watch.confirm(None, v3), "gone: Redis restarted empty");
        let v4 = watch.next_value();
        assert!(watch.confirm(Some(v3), v4));
        let v5 = watch.next_value();
        assert!(
            !watch.confirm(Some(v3), v5),
            "older: Redis restarted from an old file"
        );
    }

    #[test]
    fn a_write_whose_answer_was_lost_counts_either_way() {
        let mut watch = Watch::default();
        let v1 = watch.next_value();
        assert!(watch.confirm(None, v1));
        let v2 = watch.next_value();
        watch.unconfirmed(v2);
        let v3 = watch.next_value();
        assert!(watch.confirm(Some(v2), v3), "the unanswered write landed");
        let v4 = watch.next_value();
        watch.unconfirmed(v4);
        let v5 = watch.next_value();
        assert!(
            watch.confirm(Some(v3), v5),
            "the unanswered write did not land"
        );
        let v6 = watch.next_value();
        watch.unconfirmed(v6);
        let v7 = watch.next_value();
        assert!(
            !watch.confirm(None, v7),
            "Redis came back empty during the outage"
        );
    }
}
