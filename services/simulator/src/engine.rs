//! The running simulation: a steady beat of bed events sent to the API.
//!
//! One task owns the [`Model`] and the random number generator. On every
//! tick it plans one move ([`plan_next`]) and sends it; answers come back
//! through a [`FuturesUnordered`] of at most `concurrency` requests, so the
//! model is never shared and a bed is never the subject of two requests at
//! once. A 409 (or any answer that leaves the bed's state uncertain) puts the
//! bed on a queue to be re-read before it is used again; unavailability
//! pauses new events with exponential backoff until the API answers again.

use std::collections::VecDeque;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use pf_hospital_model::{BedAddress, BedKind, BedState};
use rand::Rng;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::client::{ApiError, BedView, BedsClient};
use crate::model::{Counts, Model};
use crate::policy::{Action, EscalationThresholds, Planned, plan_next};
use crate::retry::Backoff;

/// Bed events a second at speed 1.0.
pub const EVENTS_PER_SECOND: f64 = 6.0;

/// Simulated minutes per real second at speed 1.0: a day in eight minutes
/// (about 120 events a simulated hour, roughly a real LLR hour's bed moves).
pub const SIMULATED_MINUTES_PER_SECOND: f64 = 3.0;

/// How often the engine logs a summary.
const REPORT_EVERY: Duration = Duration::from_secs(30);

/// How long in-flight requests may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// The simulated time of day, running `speed` × [`SIMULATED_MINUTES_PER_SECOND`].
#[derive(Debug, Clone, Copy)]
pub struct SimClock {
    started: Instant,
    start_hour: f64,
    hours_per_second: f64,
}

impl SimClock {
    /// A clock that starts at `start_hour` (0 ≤ h < 24) and runs at `speed`.
    pub fn new(start_hour: f64, speed: f64) -> Self {
        Self {
            started: Instant::now(),
            start_hour,
            hours_per_second: speed * SIMULATED_MINUTES_PER_SECOND / 60.0,
        }
    }

    /// The simulated hour of the day after `elapsed` real time.
    pub fn hour_after(&self, elapsed: Duration) -> f64 {
        (self.start_hour + elapsed.as_secs_f64() * self.hours_per_second).rem_euclid(24.0)
    }

    /// The simulated hour of the day now.
    pub fn hour(&self) -> f64 {
        self.hour_after(self.started.elapsed())
    }
}

/// Formats an hour of the day as `HH:MM`.
pub fn format_hour(hour: f64) -> String {
    let minutes = (hour.rem_euclid(24.0) * 60.0) as u32;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Counters of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Requests sent.
    pub requests: u64,
    /// Events the API accepted.
    pub applied: u64,
    /// 409 answers (the bed was re-read).
    pub conflicts: u64,
    /// Requests that failed because the API (or the identity service) was
    /// unavailable, or our token was refused.
    pub unavailable: u64,
    /// Requests refused for another reason.
    pub refused: u64,
    /// Escalation beds opened.
    pub escalation_opened: u64,
    /// Escalation beds withdrawn.
    pub escalation_withdrawn: u64,
    /// Ticks with nothing to do (every request slot busy, or no possible move).
    pub idle_ticks: u64,
}

/// The answer to one request.
struct Completion {
    planned: Planned,
    result: Result<Option<BedView>, ApiError>,
}

fn execute(
    client: BedsClient,
    address: BedAddress,
    from: Option<BedState>,
    planned: Planned,
) -> BoxFuture<'static, Completion> {
    Box::pin(async move {
        let result = match planned.action {
            Action::Refresh => client.get(&address).await.map(Some),
            Action::Open => client.open(&address, planned.reason).await.map(|()| None),
            Action::Withdraw => client
                .withdraw(&address, planned.reason)
                .await
                .map(|()| None),
            Action::Set(state) => client
                .change_state(&address, from, state, planned.reason)
                .await
                .map(|()| None),
        };
        Completion { planned, result }
    })
}

/// The engine's state between ticks.
pub struct Engine<R> {
    client: BedsClient,
    model: Model,
    rng: R,
    clock: SimClock,
    thresholds: EscalationThresholds,
    concurrency: usize,
    stale: VecDeque<usize>,
    inflight: FuturesUnordered<BoxFuture<'static, Completion>>,
    backoff: Backoff,
    paused_until: Option<Instant>,
    stats: RunStats,
}

impl<R: Rng> Engine<R> {
    /// An engine over a seeded model. Beds marked busy (not reached while
    /// seeding) are re-read first.
    pub fn new(client: BedsClient, model: Model, rng: R, speed: f64, concurrency: usize) -> Self {
        let now = time::OffsetDateTime::now_utc();
        let start_hour = f64::from(now.hour()) + f64::from(now.minute()) / 60.0;
        let stale = model
            .beds
            .iter()
            .enumerate()
            .filter(|(_, b)| b.busy && !b.ignored)
            .map(|(i, _)| i)
            .collect();
        Self {
            client,
            model,
            rng,
            clock: SimClock::new(start_hour, speed),
            thresholds: EscalationThresholds::default(),
            concurrency: concurrency.max(1),
            stale,
            inflight: FuturesUnordered::new(),
            backoff: Backoff::new(),
            paused_until: None,
            stats: RunStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// Runs until `cancel` fires, `speed` × [`EVENTS_PER_SECOND`] events a
    /// second; then waits (up to 15 s) for the requests in flight.
    pub async fn run(&mut self, speed: f64, cancel: &CancellationToken) {
        let period = Duration::from_secs_f64(1.0 / (EVENTS_PER_SECOND * speed));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut report = tokio::time::interval(REPORT_EVERY);
        report.set_missed_tick_behavior(MissedTickBehavior::Delay);
        report.tick().await;
        tracing::info!(
            events_per_second = EVENTS_PER_SECOND * speed,
            simulated_time = %format_hour(self.clock.hour()),
            "simulating"
        );
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(done) = self.inflight.next(), if !self.inflight.is_empty() => {
                    self.complete(done, false);
                }
                _ = ticker.tick() => self.tick(),
                _ = report.tick() => self.report(),
            }
        }
        let in_flight = self.inflight.len();
        tracing::info!(in_flight, "stopping: waiting for requests in flight");
        let drain = async {
            while let Some(done) = self.inflight.next().await {
                self.complete(done, true);
            }
        };
        if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
            tracing::warn!("gave up waiting for requests in flight");
        }
        self.report();
    }

    fn tick(&mut self) {
        if self
            .paused_until
            .is_some_and(|until| Instant::now() < until)
        {
            return;
        }
        if self.inflight.len() >= self.concurrency {
            self.stats.idle_ticks += 1;
            return;
        }
        let planned = if let Some(bed) = self.stale.pop_front() {
            Some(Planned {
                bed,
                action: Action::Refresh,
                reason: "",
            })
        } else {
            plan_next(
                &self.model,
                self.clock.hour(),
                &self.thresholds,
                &mut self.rng,
            )
        };
        match planned {
            Some(planned) => self.send(planned),
            None => self.stats.idle_ticks += 1,
        }
    }

    fn send(&mut self, planned: Planned) {
        let bed = &mut self.model.beds[planned.bed];
        bed.busy = true;
        tracing::debug!(bed = %bed.address, action = ?planned.action, reason = planned.reason, "sending");
        self.stats.requests += 1;
        self.inflight.push(execute(
            self.client.clone(),
            bed.address.clone(),
            bed.state,
            planned,
        ));
    }

    /// Folds one answer into the model. While draining, nothing new is sent
    /// and stale beds simply stay stale (the next run re-reads everything).
    fn complete(&mut self, done: Completion, draining: bool) {
        let Completion { planned, result } = done;
        let index = planned.bed;
        match result {
            Ok(view) => {
                let bed = &mut self.model.beds[index];
                bed.busy = false;
                bed.state = match (planned.action, view) {
                    (Action::Refresh, Some(view)) => view.open_state(),
                    (action, _) => action.outcome(bed.state),
                };
                if planned.action != Action::Refresh {
                    self.stats.applied += 1;
                }
                if bed.escalation {
                    match planned.action {
                        Action::Open => {
                            self.stats.escalation_opened += 1;
                            tracing::info!(bed = %bed.address, "escalation bed opened");
                        }
                        Action::Withdraw => {
                            self.stats.escalation_withdrawn += 1;
                            tracing::info!(bed = %bed.address, "escalation bed withdrawn");
                        }
                        _ => {}
                    }
                }
                if self.backoff.failures() > 0 {
                    tracing::info!("the hospital-beds API is answering again");
                }
                self.backoff.reset();
                self.paused_until = None;
            }
            Err(ApiError::Conflict(message)) => {
                // Our picture is stale: re-read the bed before using it again.
                self.stats.conflicts += 1;
                let bed = &self.model.beds[index];
                tracing::debug!(bed = %bed.address, action = ?planned.action, %message, "conflict; re-reading the bed");
                self.mark_stale(index, draining);
            }
            Err(ApiError::NotFound(message)) => {
                let bed = &mut self.model.beds[index];
                tracing::warn!(bed = %bed.address, %message, "the API does not know this bed; leaving it alone");
                bed.ignored = true;
                bed.busy = false;
            }
            Err(error) if error.is_retryable() => {
                self.stats.unavailable += 1;
                let delay = self.backoff.next_delay();
                self.paused_until = Some(Instant::now() + delay);
                if self.backoff.should_warn() {
                    tracing::warn!(%error, ?delay, failures = self.backoff.failures(), "hospital-beds API unavailable or not signed in; backing off");
                }
                // The request may or may not have been applied.
                self.mark_stale(index, draining);
            }
            Err(error) => {
                self.stats.refused += 1;
                let bed = &self.model.beds[index];
                tracing::error!(bed = %bed.address, action = ?planned.action, %error, "request refused");
                self.mark_stale(index, draining);
            }
        }
    }

    fn mark_stale(&mut self, index: usize, draining: bool) {
        // Stays busy (not chosen for events) until it has been re-read.
        self.model.beds[index].busy = !draining;
        if !draining {
            self.stale.push_back(index);
        }
    }

    fn report(&self) {
        let ga = self.model.kind_counts(BedKind::GeneralAcute);
        let vw = self.model.kind_counts(BedKind::VirtualWard);
        let pct = |counts: Counts| {
            counts
                .occupied_of_usable()
                .pct()
                .map_or_else(|| "-".to_owned(), |pct| format!("{pct}%"))
        };
        tracing::info!(
            simulated_time = %format_hour(self.clock.hour()),
            requests = self.stats.requests,
            applied = self.stats.applied,
            conflicts = self.stats.conflicts,
            unavailable = self.stats.unavailable,
            ga_occupancy = %pct(ga),
            escalation_open = ga.escalation_open,
            virtual_ward_occupancy = %pct(vw),
            "simulator summary"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_runs_a_day_in_eight_minutes_at_speed_one() {
        let clock = SimClock::new(7.0, 1.0);
        assert!((clock.hour_after(Duration::from_secs(20)) - 8.0).abs() < 1e-9);
        assert!((clock.hour_after(Duration::from_secs(480)) - 7.0).abs() < 1e-9);
        let fast = SimClock::new(23.5, 2.0);
        assert!((fast.hour_after(Duration::from_secs(20)) - 1.5).abs() < 1e-9);
        assert_eq!(format_hour(7.5), "07:30");
        assert_eq!(format_hour(23.99), "23:59");
    }
}
