//! Care homes keeping their vacancies live, through the care-homes API.
//!
//! At start the simulator reads the homes it may change
//! (`GET /api/v1/care-homes`: each home's categories, registered beds and
//! current figures) and gives every home that has never reported a first
//! report ([`first_report`]); homes with figures from a previous run are
//! resumed, not reported again. First reports are paced below the API's
//! per-identity write limit, a few in flight at once. Then, every few
//! seconds (faster with `PF_SIM_SPEED`), a random home reports new figures
//! or confirms that nothing has changed ([`next_update`]).
//!
//! Each update has its own idempotency key and is sent again with the same
//! key after a time-out or a 5xx ([`send_update`]). A refusal is logged in
//! plain words with the API's sentence and problems; after a 422 the home is
//! read again, so that its next report fits its registration.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use rand::Rng;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::care_homes::{
    CareHomeError, CareHomesClient, HomeView, Saved, is_plain_cqc, send_update,
};
use crate::retry::Backoff;
use crate::vacancies::{HomeSpec, Report, Update, first_report, next_update};

/// First reports sent per second: below the API's default limit of 20
/// writes a second per identity.
pub const FIRST_REPORTS_PER_SECOND: f64 = 15.0;
/// First reports in flight at once.
pub const FIRST_REPORTS_IN_FLIGHT: usize = 4;
/// A home updates every this often at speed 1.0.
pub const UPDATE_EVERY: Duration = Duration::from_secs(4);
/// Updates in flight at once while running (each may be retrying).
const UPDATES_IN_FLIGHT: usize = 4;
/// How often the feed logs a summary.
const REPORT_EVERY: Duration = Duration::from_secs(60);
/// How long updates in flight may take to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters of the feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Homes this identity may change.
    pub homes: usize,
    /// Homes given their first report at start.
    pub first_reports: usize,
    /// Homes that already had figures (a previous run) and were resumed.
    pub resumed: usize,
    /// How long the first reports took.
    pub first_reports_elapsed: Duration,
    /// New figures saved while running.
    pub reports: u64,
    /// "Nothing has changed" confirmations saved while running.
    pub confirmations: u64,
    /// Updates that were answered as a resend of one already saved.
    pub replayed: u64,
    /// Updates the API refused (each logged).
    pub refused: u64,
    /// Updates given up because the API stayed unavailable.
    pub failed: u64,
}

/// One home: what it may report and what it last reported.
#[derive(Debug, Clone)]
struct FeedHome {
    spec: HomeSpec,
    last: Report,
}

impl FeedHome {
    fn of(view: &HomeView) -> Self {
        Self {
            spec: view.spec(),
            last: view.current(),
        }
    }
}

/// The answer to one update.
struct Sent {
    index: usize,
    update: Update,
    result: Result<Saved, CareHomeError>,
    /// After a refusal: the home as the API has it now.
    reread: Option<HomeView>,
}

fn send(
    client: CareHomesClient,
    index: usize,
    cqc: String,
    update: Update,
    cancel: CancellationToken,
) -> BoxFuture<'static, Sent> {
    Box::pin(async move {
        let result = send_update(&client, &cqc, &update, &cancel).await;
        let reread = match &result {
            Err(CareHomeError::Refused { .. }) => client.home(&cqc).await.ok(),
            _ => None,
        };
        Sent {
            index,
            update,
            result,
            reread,
        }
    })
}

/// The care-home side of the simulation.
pub struct Feed<R> {
    client: CareHomesClient,
    rng: R,
    homes: Vec<FeedHome>,
    never_reported: Vec<usize>,
    busy: HashSet<usize>,
    inflight: FuturesUnordered<BoxFuture<'static, Sent>>,
    stats: FeedStats,
}

impl<R: Rng> Feed<R> {
    /// A feed through `client`, choosing with `rng`.
    pub fn new(client: CareHomesClient, rng: R) -> Self {
        Self {
            client,
            rng,
            homes: Vec::new(),
            never_reported: Vec::new(),
            busy: HashSet::new(),
            inflight: FuturesUnordered::new(),
            stats: FeedStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &FeedStats {
        &self.stats
    }

    /// Reads the homes, gives the never-reported ones a first report, then
    /// updates a random home every [`UPDATE_EVERY`] / `speed` until `cancel`
    /// fires. Never fails: an unavailable API is waited for, refusals are
    /// logged.
    pub async fn run(&mut self, speed: f64, cancel: &CancellationToken) {
        if !self.load(cancel).await {
            return;
        }
        self.first_reports(cancel).await;
        if cancel.is_cancelled() || self.homes.is_empty() {
            return;
        }
        self.keep_reporting(speed, cancel).await;
    }

    /// Reads the homes this identity may change, waiting for the API.
    /// Returns false when there is nothing to do.
    async fn load(&mut self, cancel: &CancellationToken) -> bool {
        let url = self.client.base_url().to_owned();
        let mut backoff = Backoff::new();
        let views = loop {
            match self.client.homes().await {
                Ok(views) => break views,
                Err(error) if error.is_retryable() => {
                    let delay = match error {
                        CareHomeError::RateLimited(wait) => wait,
                        _ => backoff.next_delay(),
                    };
                    if backoff.should_warn() {
                        tracing::warn!(%url, %error, ?delay, "waiting for the care-homes API");
                    }
                    tokio::select! {
                        () = cancel.cancelled() => return false,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
                Err(error) => {
                    tracing::error!(
                        %url,
                        %error,
                        "the care-homes API refused to list our homes; no care-home vacancies will be reported"
                    );
                    return false;
                }
            }
        };
        for view in &views {
            if !is_plain_cqc(&view.cqc_location_id) {
                tracing::warn!(home = %view.cqc_location_id, "leaving alone a home whose id is not `1-` and digits");
                continue;
            }
            if !view.has_figures() {
                self.never_reported.push(self.homes.len());
            }
            self.homes.push(FeedHome::of(view));
        }
        self.stats.homes = self.homes.len();
        if self.homes.is_empty() {
            tracing::warn!(
                %url,
                "the care-homes API lists no home this identity may change (it needs the \
                 vacancy_publisher role for them); no care-home vacancies will be reported"
            );
            return false;
        }
        tracing::info!(%url, homes = self.homes.len(), "care homes read");
        true
    }

    /// Gives every home without figures its first report, paced below the
    /// API's write limit.
    async fn first_reports(&mut self, cancel: &CancellationToken) {
        let started = Instant::now();
        // Homes with figures from before are resumed.
        let fresh = std::mem::take(&mut self.never_reported);
        self.stats.resumed = self.homes.len() - fresh.len();
        let mut pace =
            tokio::time::interval(Duration::from_secs_f64(1.0 / FIRST_REPORTS_PER_SECOND));
        pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut next = fresh.into_iter();
        loop {
            let can_send = self.inflight.len() < FIRST_REPORTS_IN_FLIGHT;
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(done) = self.inflight.next(), if !self.inflight.is_empty() => {
                    if self.complete(done) {
                        self.stats.first_reports += 1;
                    }
                }
                _ = pace.tick(), if can_send => {
                    match next.next() {
                        Some(index) => {
                            let report = first_report(&self.homes[index].spec, &mut self.rng);
                            self.start(index, Update::Report(report), cancel);
                        }
                        None if self.inflight.is_empty() => break,
                        None => {}
                    }
                }
            }
        }
        self.stats.first_reports_elapsed = started.elapsed();
        tracing::info!(
            homes = self.stats.homes,
            reported = self.stats.first_reports,
            resumed = self.stats.resumed,
            refused = self.stats.refused,
            failed = self.stats.failed,
            elapsed_ms = self.stats.first_reports_elapsed.as_millis() as u64,
            "care-home first reports finished"
        );
    }

    async fn keep_reporting(&mut self, speed: f64, cancel: &CancellationToken) {
        let period = UPDATE_EVERY.div_f64(speed).max(Duration::from_millis(50));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut report = tokio::time::interval(REPORT_EVERY);
        report.set_missed_tick_behavior(MissedTickBehavior::Delay);
        report.tick().await;
        tracing::info!(every = ?period, "care homes updating their vacancies");
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                Some(done) = self.inflight.next(), if !self.inflight.is_empty() => {
                    self.complete(done);
                }
                _ = ticker.tick() => self.tick(cancel),
                _ = report.tick() => self.report(),
            }
        }
        let drain = async {
            while let Some(done) = self.inflight.next().await {
                self.complete(done);
            }
        };
        if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
            tracing::warn!("gave up waiting for care-home updates in flight");
        }
        self.report();
    }

    fn tick(&mut self, cancel: &CancellationToken) {
        if self.inflight.len() >= UPDATES_IN_FLIGHT {
            return;
        }
        let free: Vec<usize> = (0..self.homes.len())
            .filter(|i| !self.busy.contains(i))
            .collect();
        if free.is_empty() {
            return;
        }
        let index = free[self.rng.random_range(0..free.len())];
        let home = &self.homes[index];
        let update = next_update(&home.spec, &home.last, &mut self.rng);
        self.start(index, update, cancel);
    }

    fn start(&mut self, index: usize, update: Update, cancel: &CancellationToken) {
        self.busy.insert(index);
        let cqc = self.homes[index].spec.cqc.clone();
        self.inflight.push(send(
            self.client.clone(),
            index,
            cqc,
            update,
            cancel.clone(),
        ));
    }

    /// Folds one answer in; true when the update was saved.
    fn complete(&mut self, sent: Sent) -> bool {
        let Sent {
            index,
            update,
            result,
            reread,
        } = sent;
        self.busy.remove(&index);
        let home = &mut self.homes[index];
        match result {
            Ok(saved) => {
                if saved.replayed {
                    self.stats.replayed += 1;
                }
                match update {
                    Update::Report(report) => {
                        self.stats.reports += 1;
                        tracing::debug!(home = %home.spec.cqc, version = saved.entity_version, event = %saved.event_type, "vacancies reported");
                        home.last = report;
                    }
                    Update::Unchanged => {
                        self.stats.confirmations += 1;
                        tracing::debug!(home = %home.spec.cqc, "confirmed unchanged");
                    }
                }
                true
            }
            Err(error @ CareHomeError::Refused { .. }) => {
                self.stats.refused += 1;
                let what = match update {
                    Update::Report(_) => "new figures",
                    Update::Unchanged => "a confirmation that nothing has changed",
                };
                tracing::warn!(
                    home = %home.spec.cqc,
                    name = %home.spec.name,
                    %error,
                    "the care-homes API refused {what}"
                );
                // Its next report follows the home as the API has it now.
                if let Some(view) = reread.filter(|v| v.cqc_location_id == home.spec.cqc) {
                    *home = FeedHome::of(&view);
                }
                false
            }
            Err(error) => {
                self.stats.failed += 1;
                tracing::warn!(
                    home = %home.spec.cqc,
                    %error,
                    "a care-home update could not be confirmed as saved; giving it up"
                );
                false
            }
        }
    }

    fn report(&self) {
        tracing::info!(
            homes = self.stats.homes,
            reports = self.stats.reports,
            confirmations = self.stats.confirmations,
            refused = self.stats.refused,
            failed = self.stats.failed,
            "care-home feed summary"
        );
    }
}
