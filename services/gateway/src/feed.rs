//! The feed: follows the change log in Redis and folds it into the hub.

use std::sync::Arc;
use std::time::Duration;

use pf_live_state::{Change, LiveState, LiveStateError};
use pf_runtime::Readiness;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::control_room::{ControlRoom, RoomSettings, UrgentCareRead};
use crate::hub::Hub;
use crate::metrics::GatewayMetrics;

/// Most changes folded into one delta.
const BATCH: usize = 1000;
/// How long one blocking read waits for changes.
const BLOCK: Duration = Duration::from_secs(2);
/// Time between two delta frames per connected client: every frame is one
/// send per client, so this keeps the sends near 100,000 a second however
/// many clients there are (10 ms with 1,000 clients, 50 ms with 5,000).
const FRAME_COST_PER_CLIENT: Duration = Duration::from_micros(10);
/// The longest wait between two frames, whatever the number of clients.
const MAX_FRAME_INTERVAL: Duration = Duration::from_millis(100);

/// How long after one delta frame the next may go out, with `clients`
/// connected. Changes that come in between are folded into one frame.
pub fn frame_interval(clients: usize) -> Duration {
    FRAME_COST_PER_CLIENT
        .saturating_mul(u32::try_from(clients).unwrap_or(u32::MAX))
        .min(MAX_FRAME_INTERVAL)
}

/// Follows the change log until `shutdown`: takes a snapshot, then folds
/// each batch of changes into the hub. Takes a new snapshot after a gap, a
/// reset, a lost connection, or a Redis that came back empty. When a new
/// UK day begins, re-reads the ED and ambulance state for it (the handover
/// counters are kept per day), busy or quiet.
pub async fn follow(
    mut reader: LiveState,
    mut tail: LiveState,
    hub: Arc<Hub>,
    settings: Arc<RoomSettings>,
    readiness: Readiness,
    metrics: GatewayMetrics,
    shutdown: CancellationToken,
) {
    while !shutdown.is_cancelled() {
        let snapshot = match reader.snapshot().await {
            Ok(snapshot) => snapshot,
            Err(err) => {
                readiness.set("redis", false);
                tracing::warn!(cause = %err, "cannot read the live state; retrying");
                pause(&shutdown, Duration::from_secs(1)).await;
                continue;
            }
        };
        tracing::info!(
            version = snapshot.version,
            wards = snapshot.wards.len(),
            care_homes = snapshot.care_homes.len(),
            "live state loaded"
        );
        let now = OffsetDateTime::now_utc();
        let urgent = match read_urgent_care(&mut reader, now).await {
            Ok(urgent) => urgent,
            Err(err) => {
                readiness.set("redis", false);
                tracing::warn!(cause = %err, "cannot read the ED and ambulance state; retrying");
                pause(&shutdown, Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut room = ControlRoom::from_snapshot(settings.clone(), &snapshot, now);
        room.set_urgent_care(urgent, now);
        hub.replace(room);
        metrics
            .version
            .set(i64::try_from(snapshot.version).unwrap_or(i64::MAX));
        readiness.set("redis", true);
        let mut version = snapshot.version;
        let mut last_frame = tokio::time::Instant::now();
        loop {
            // Under load, wait out the frame interval so the changes that come
            // meanwhile go out as one frame (a quiet feed is never held back:
            // the wait is over long before the next change).
            let next_frame = last_frame + frame_interval(hub.receivers());
            if next_frame > tokio::time::Instant::now() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep_until(next_frame) => {}
                }
            }
            // A new UK day: today's handover counters are another key.
            let now = OffsetDateTime::now_utc();
            if hub.needs_urgent_care(now) {
                match read_urgent_care(&mut reader, now).await {
                    Ok(urgent) => {
                        let day = urgent.day;
                        let changed = hub.renew_urgent_care(urgent, now);
                        tracing::info!(%day, changed, "ED and ambulance state read for the UK day");
                    }
                    Err(err) => {
                        readiness.set("redis", false);
                        tracing::warn!(cause = %err, "cannot read the ED and ambulance state; reloading");
                        break;
                    }
                }
            }
            let changes = tokio::select! {
                _ = shutdown.cancelled() => return,
                changes = tail.changes_after(version, BATCH, Some(BLOCK)) => changes,
            };
            match changes {
                Ok(changes) if changes.is_empty() => {
                    // Quiet, or Redis restarted empty and versions started again below ours.
                    match reader.version().await {
                        Ok(current) if current < version => {
                            tracing::warn!(
                                current,
                                ours = version,
                                "change version went back; reloading"
                            );
                            break;
                        }
                        Ok(_) => {}
                        Err(err) => {
                            readiness.set("redis", false);
                            tracing::warn!(cause = %err, "lost redis; reloading");
                            break;
                        }
                    }
                }
                Ok(changes) => {
                    // ED and ambulance figures are re-read, not moved: the state read now is at
                    // least as new as these changes (the projection writes both in one step),
                    // and the delta carries it for the sites they touched and the system.
                    let urgent = if changes
                        .iter()
                        .any(|c| matches!(c, Change::UrgentCare { .. }))
                    {
                        let now = OffsetDateTime::now_utc();
                        match read_urgent_care(&mut reader, now).await {
                            Ok(urgent) => Some(urgent),
                            Err(err) => {
                                readiness.set("redis", false);
                                tracing::warn!(cause = %err, "cannot read the ED and ambulance state; reloading");
                                break;
                            }
                        }
                    } else {
                        None
                    };
                    match hub.publish(&changes, urgent, OffsetDateTime::now_utc()) {
                        Ok(()) => {
                            last_frame = tokio::time::Instant::now();
                            version = changes
                                .last()
                                .map(|c| c.version())
                                .unwrap_or(version)
                                .max(version);
                            metrics
                                .version
                                .set(i64::try_from(version).unwrap_or(i64::MAX));
                        }
                        Err(reason) => {
                            tracing::info!(?reason, "taking a new snapshot");
                            break;
                        }
                    }
                }
                Err(err) => {
                    readiness.set("redis", false);
                    tracing::warn!(cause = %err, "lost the change log; reloading");
                    pause(&shutdown, Duration::from_millis(500)).await;
                    break;
                }
            }
        }
    }
}

/// Every `every` until `shutdown`, brings the figures that move with the
/// clock (today's discharges, delay days, stale care-home figures) up to
/// date; the sites they changed go out with the next delta (no resync), or,
/// when no delta has carried them for a minute, in a fresh snapshot.
pub async fn keep_time(hub: Arc<Hub>, every: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if hub.refresh(OffsetDateTime::now_utc()) {
                    tracing::debug!("figures that move with the clock changed; they go out with the next delta or a fresh snapshot");
                }
            }
        }
    }
}

/// The ED and ambulance state with the handover counters of `now`'s UK day.
async fn read_urgent_care(
    reader: &mut LiveState,
    now: OffsetDateTime,
) -> Result<UrgentCareRead, LiveStateError> {
    let day = pf_web::uk_time::date(now);
    let state = reader.urgent_care(day).await?;
    Ok(UrgentCareRead { day, state })
}

async fn pause(shutdown: &CancellationToken, duration: Duration) {
    tokio::select! {
        _ = shutdown.cancelled() => {}
        _ = tokio::time::sleep(duration) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_spaced_by_the_number_of_clients_up_to_a_bound() {
        assert_eq!(frame_interval(0), Duration::ZERO);
        assert_eq!(frame_interval(1_000), Duration::from_millis(10));
        assert_eq!(frame_interval(5_000), Duration::from_millis(50));
        assert_eq!(frame_interval(1_000_000), MAX_FRAME_INTERVAL);
    }
}
