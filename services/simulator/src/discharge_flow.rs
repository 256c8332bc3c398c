//! The hospitals' discharge teams and the care homes answering them,
//! through the discharge and care-homes APIs.
//!
//! At start the simulator reads the waiting patients of UHL and LPT
//! (`GET /api/v1/discharges`) and takes them over where they stand (a
//! requested hold is answered, an accepted one leads to the discharge), then
//! tops the list up to about [`TARGET_WAITING`] patients, ready 0–10 days
//! ago ([`patients::referral`]). Then, every few seconds (faster with
//! `PF_SIM_SPEED`): a new patient may become ready; patients on pathways 0
//! and 1 go home after a while; for pathways 2 and 3 the team searches the
//! matching homes and holds a bed at the first one (the next one when a bed
//! has just gone: 409); the home accepts (about 80%) or declines with a
//! reason after a short delay; accepted patients leave for the home, which
//! takes its vacancy away; a few patients leave the list (cancelled).
//!
//! Only the patients it put on the list (and those waiting at its start) are
//! driven: patients that people add while it runs are left to them.

use std::collections::HashMap;
use std::time::Duration;

use rand::Rng;
use rand::seq::IndexedRandom as _;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::discharges::{DischargesClient, FlowError, HoldAnswers, PatientView};
use crate::patients::{self, TIMINGS, WardPick};
use crate::retry::Backoff;

/// About this many patients wait at once.
pub const TARGET_WAITING: usize = 120;
/// One beat of the flow at speed 1.0.
pub const TICK: Duration = Duration::from_secs(3);
/// Patients put on the list per second at start (the API allows 50 writes
/// a second per identity).
const CREATES_PER_SECOND: f64 = 10.0;
/// Steps taken per beat at most (the earliest due first).
const STEPS_PER_TICK: usize = 6;
/// Matches tried per search before waiting for the next one.
const HOLD_ATTEMPTS: usize = 5;
/// How soon a step that could not be sent is tried again.
const RETRY_SOON: Duration = Duration::from_secs(5);
/// How often the flow logs a summary.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Counters of the flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Waiting patients taken over at start.
    pub resumed: usize,
    /// Patients put on the list.
    pub created: u64,
    /// Discharged home (pathways 0 and 1).
    pub discharged_home: u64,
    /// Discharged to a care home.
    pub discharged_to_care_home: u64,
    /// Searches with no free bed in reach.
    pub no_match: u64,
    /// Beds held.
    pub holds: u64,
    /// Holds lost to another team (409) and the next match tried.
    pub hold_conflicts: u64,
    /// Holds accepted by the home.
    pub accepted: u64,
    /// Holds declined by the home.
    pub declined: u64,
    /// Patients no longer waiting.
    pub cancelled: u64,
    /// Requests refused or not confirmed (each logged).
    pub failed: u64,
}

/// Where a patient stands, as the simulator drives them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    /// Pathway 0 or 1: goes home when due.
    GoingHome,
    /// Pathway 2 or 3: searches for a bed when due.
    Searching,
    /// A hold is requested: the home answers when due.
    AwaitingAnswer { cqc: String, hold_id: String },
    /// The home accepted: the patient leaves for it when due.
    Accepted { cqc: String },
}

#[derive(Debug, Clone)]
struct Patient {
    stage: Stage,
    due: Instant,
    /// Homes that declined the patient.
    declined: Vec<String>,
    /// Whether the delay reason was set to "awaiting a care-home place".
    awaiting_place: bool,
}

/// The discharge side of the simulation.
pub struct Flow<R> {
    discharges: DischargesClient,
    /// `None` when the care-homes API is off: nobody answers holds.
    answers: Option<HoldAnswers>,
    wards: Vec<WardPick>,
    districts: Vec<String>,
    rng: R,
    speed: f64,
    patients: HashMap<String, Patient>,
    stats: FlowStats,
}

impl<R: Rng> Flow<R> {
    /// A flow through `discharges` (and `answers` for the homes), putting
    /// patients living in `districts` on `wards`, choosing with `rng`, at
    /// `speed`.
    pub fn new(
        discharges: DischargesClient,
        answers: Option<HoldAnswers>,
        wards: Vec<WardPick>,
        districts: Vec<String>,
        rng: R,
        speed: f64,
    ) -> Self {
        Self {
            discharges,
            answers,
            wards,
            districts,
            rng,
            speed,
            patients: HashMap::new(),
            stats: FlowStats::default(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// Takes over the waiting patients, tops the list up, then keeps the
    /// flow going until `cancel` fires. Never fails: an unavailable API is
    /// waited for, refusals are logged.
    pub async fn run(&mut self, cancel: &CancellationToken) {
        if self.wards.is_empty() {
            tracing::warn!("no UHL or LPT ward in the catalogue: no discharge flow");
            return;
        }
        if !self.resume(cancel).await {
            return;
        }
        self.top_up(cancel).await;
        if cancel.is_cancelled() {
            return;
        }
        let mut ticker =
            tokio::time::interval(TICK.div_f64(self.speed).max(Duration::from_millis(50)));
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ticker.tick().await;
        let mut report = tokio::time::interval(REPORT_EVERY);
        report.set_missed_tick_behavior(MissedTickBehavior::Delay);
        report.tick().await;
        tracing::info!(waiting = self.patients.len(), "discharge flow running");
        loop {
            tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                _ = ticker.tick() => self.tick(cancel).await,
                _ = report.tick() => self.report(),
            }
        }
        self.report();
    }

    /// Reads the waiting patients, waiting for the API; false when
    /// cancelled or refused.
    async fn resume(&mut self, cancel: &CancellationToken) -> bool {
        let url = self.discharges.base_url().to_owned();
        let mut backoff = Backoff::new();
        let waiting = loop {
            match self.discharges.list().await {
                Ok(list) => break list,
                Err(error) if error.is_transient() => {
                    let delay = match error {
                        FlowError::RateLimited(wait) => wait,
                        _ => backoff.next_delay(),
                    };
                    if backoff.should_warn() {
                        tracing::warn!(%url, %error, ?delay, "waiting for the discharge API");
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
                        "the discharge API refused to list the patients (the simulator needs \
                         the discharge_coordinator role for UHL and LPT); no discharge flow"
                    );
                    return false;
                }
            }
        };
        let now = Instant::now();
        for view in waiting {
            let patient = self.adopt(&view, now);
            self.patients.insert(view.discharge_id, patient);
        }
        self.stats.resumed = self.patients.len();
        tracing::info!(%url, waiting = self.stats.resumed, "discharge list read");
        true
    }

    /// A waiting patient taken over where they stand.
    fn adopt(&mut self, view: &PatientView, now: Instant) -> Patient {
        let (stage, bounds) = match &view.hold {
            Some(hold) if hold.state == "accepted" => (
                Stage::Accepted {
                    cqc: hold.cqc_location_id.clone(),
                },
                TIMINGS.transfer,
            ),
            Some(hold) => (
                Stage::AwaitingAnswer {
                    cqc: hold.cqc_location_id.clone(),
                    hold_id: hold.hold_id.clone(),
                },
                TIMINGS.answer,
            ),
            None if view.pathway >= 2 => (Stage::Searching, TIMINGS.first_search),
            None => (Stage::GoingHome, TIMINGS.home),
        };
        Patient {
            stage,
            due: now + patients::delay(bounds, self.speed, &mut self.rng),
            declined: Vec::new(),
            awaiting_place: false,
        }
    }

    /// Puts patients on the list until about [`TARGET_WAITING`] wait.
    async fn top_up(&mut self, cancel: &CancellationToken) {
        let missing = TARGET_WAITING.saturating_sub(self.patients.len());
        if missing == 0 {
            return;
        }
        let started = std::time::Instant::now();
        let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / CREATES_PER_SECOND));
        pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut attempts = 0;
        while self.patients.len() < TARGET_WAITING && attempts < missing * 2 {
            tokio::select! {
                () = cancel.cancelled() => return,
                _ = pace.tick() => {}
            }
            attempts += 1;
            self.create(10).await;
        }
        tracing::info!(
            created = self.stats.created,
            waiting = self.patients.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "discharge list filled"
        );
    }

    /// Puts one new patient on the list, ready up to `max_days_ago` days ago.
    async fn create(&mut self, max_days_ago: u32) {
        let today = time::OffsetDateTime::now_utc().date();
        let Some(referral) = patients::referral(
            &self.wards,
            &self.districts,
            today,
            max_days_ago,
            &mut self.rng,
        ) else {
            return;
        };
        match self.discharges.create(&referral).await {
            Ok(view) => {
                self.stats.created += 1;
                let patient = self.adopt(&view, Instant::now());
                tracing::debug!(id = %view.discharge_id, pathway = view.pathway, site = %referral.site, "patient ready for discharge");
                self.patients.insert(view.discharge_id, patient);
            }
            Err(error) => self.failed("put a patient on the list", "", &error),
        }
    }

    async fn tick(&mut self, cancel: &CancellationToken) {
        let chance = patients::arrival_chance(self.patients.len(), TARGET_WAITING);
        if self.rng.random_bool(chance) {
            self.create(0).await;
        }
        let now = Instant::now();
        let mut due: Vec<(Instant, String)> = self
            .patients
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(id, p)| (p.due, id.clone()))
            .collect();
        due.sort();
        for (_, id) in due.into_iter().take(STEPS_PER_TICK) {
            if cancel.is_cancelled() {
                return;
            }
            self.step(&id).await;
        }
    }

    /// Takes the next step of patient `id`.
    async fn step(&mut self, id: &str) {
        let Some(patient) = self.patients.get(id).cloned() else {
            return;
        };
        let waits = matches!(patient.stage, Stage::GoingHome | Stage::Searching);
        if waits && patients::cancelled(&mut self.rng) {
            let reason = patients::CANCEL_REASONS
                .choose(&mut self.rng)
                .copied()
                .unwrap_or("No longer medically optimised");
            match self.discharges.cancel(id, reason).await {
                Ok(()) => {
                    self.stats.cancelled += 1;
                    self.patients.remove(id);
                }
                Err(error) => self.after_error("cancel", id, &error),
            }
            return;
        }
        match patient.stage {
            Stage::GoingHome => {
                match self.discharges.discharge(id, "usual_residence", None).await {
                    Ok(()) => {
                        self.stats.discharged_home += 1;
                        self.patients.remove(id);
                    }
                    Err(error) => self.after_error("discharge home", id, &error),
                }
            }
            Stage::Searching => self.search(id, patient).await,
            Stage::AwaitingAnswer { cqc, hold_id } => self.answer(id, &cqc, &hold_id).await,
            Stage::Accepted { cqc } => {
                match self.discharges.discharge(id, "care_home", Some(&cqc)).await {
                    Ok(()) => {
                        self.stats.discharged_to_care_home += 1;
                        self.patients.remove(id);
                    }
                    // The acceptance may not be in the live state yet.
                    Err(FlowError::Conflict(message))
                        if message.contains("not accepted the patient yet") =>
                    {
                        self.reschedule(id, RETRY_SOON);
                    }
                    Err(error) => self.after_error("discharge to the care home", id, &error),
                }
            }
        }
    }

    /// Searches the matching homes and holds a bed at the first that has
    /// one, trying the next when a bed has just gone.
    async fn search(&mut self, id: &str, patient: Patient) {
        let homes = match self.discharges.matches(id).await {
            Ok(homes) => homes,
            Err(error) => return self.after_error("search", id, &error),
        };
        let candidates = homes
            .iter()
            .filter(|h| h.free_beds > 0 && !patient.declined.contains(&h.cqc_location_id))
            .take(HOLD_ATTEMPTS);
        for home in candidates {
            match self.discharges.hold(id, &home.cqc_location_id).await {
                Ok(hold) => {
                    self.stats.holds += 1;
                    let due =
                        Instant::now() + patients::delay(TIMINGS.answer, self.speed, &mut self.rng);
                    if let Some(p) = self.patients.get_mut(id) {
                        p.stage = Stage::AwaitingAnswer {
                            cqc: hold.cqc_location_id,
                            hold_id: hold.hold_id,
                        };
                        p.due = due;
                    }
                    return;
                }
                // Taken by another team a moment ago, or the home's figures
                // changed (closed, full, not that category): the next one.
                Err(FlowError::Conflict(message))
                    if message.contains("already held for this patient") =>
                {
                    // A hold from before that the list had not shown yet.
                    return self.reschedule(id, RETRY_SOON);
                }
                Err(FlowError::Conflict(_) | FlowError::Refused { status: 422, .. }) => {
                    self.stats.hold_conflicts += 1;
                }
                Err(error) => return self.after_error("hold a bed", id, &error),
            }
        }
        self.stats.no_match += 1;
        if !patient.awaiting_place {
            // Say why the patient still waits, as a team would.
            match self
                .discharges
                .delay_reason(id, "awaiting_care_home_place")
                .await
            {
                Ok(()) => {
                    if let Some(p) = self.patients.get_mut(id) {
                        p.awaiting_place = true;
                    }
                }
                Err(error) => return self.after_error("set the delay reason", id, &error),
            }
        }
        let wait = patients::delay(TIMINGS.search_again, self.speed, &mut self.rng);
        self.reschedule(id, wait);
    }

    /// The home answers the hold: accepts (about 80%) or declines.
    async fn answer(&mut self, id: &str, cqc: &str, hold_id: &str) {
        let Some(answers) = self.answers.clone() else {
            // Nobody answers: the hold ends by itself; look again later.
            let wait = patients::delay(TIMINGS.search_again, self.speed, &mut self.rng) * 10;
            return self.reschedule(id, wait);
        };
        let accept = patients::accepts(&mut self.rng);
        let reason = (!accept).then(|| {
            patients::DECLINE_REASONS
                .choose(&mut self.rng)
                .copied()
                .unwrap_or("We cannot meet the patient's needs at the moment")
        });
        match answers.answer(cqc, hold_id, reason).await {
            Ok(()) => {
                let now = Instant::now();
                let (stage, bounds) = if accept {
                    self.stats.accepted += 1;
                    (
                        Stage::Accepted {
                            cqc: cqc.to_owned(),
                        },
                        TIMINGS.transfer,
                    )
                } else {
                    self.stats.declined += 1;
                    (Stage::Searching, TIMINGS.search_again)
                };
                let due = now + patients::delay(bounds, self.speed, &mut self.rng);
                if let Some(p) = self.patients.get_mut(id) {
                    if !accept {
                        p.declined.push(cqc.to_owned());
                    }
                    p.stage = stage;
                    p.due = due;
                }
            }
            // Released or expired meanwhile, or answered before: search again.
            Err(FlowError::NotFound(_) | FlowError::Refused { status: 400, .. }) => {
                self.search_again(id);
            }
            Err(error) => self.after_error("answer a hold", id, &error),
        }
    }

    fn search_again(&mut self, id: &str) {
        let due = Instant::now() + patients::delay(TIMINGS.search_again, self.speed, &mut self.rng);
        if let Some(p) = self.patients.get_mut(id) {
            p.stage = Stage::Searching;
            p.due = due;
        }
    }

    fn reschedule(&mut self, id: &str, wait: Duration) {
        if let Some(p) = self.patients.get_mut(id) {
            p.due = Instant::now() + wait;
        }
    }

    /// After a failed step: try again soon when it may pass later; let the
    /// patient go when they no longer wait or are unknown; otherwise log it
    /// and try again much later.
    fn after_error(&mut self, what: &str, id: &str, error: &FlowError) {
        match error {
            FlowError::RateLimited(wait) => self.reschedule(id, *wait),
            e if e.is_transient() => {
                self.failed(what, id, error);
                self.reschedule(id, RETRY_SOON);
            }
            FlowError::NotFound(_) => {
                self.failed(what, id, error);
                self.patients.remove(id);
            }
            FlowError::Conflict(message) if message.contains("no longer waits") => {
                // Someone else discharged or cancelled the patient.
                self.patients.remove(id);
            }
            _ => {
                self.failed(what, id, error);
                let wait = patients::delay(TIMINGS.search_again, self.speed, &mut self.rng);
                self.reschedule(id, wait);
            }
        }
    }

    fn failed(&mut self, what: &str, id: &str, error: &FlowError) {
        self.stats.failed += 1;
        tracing::warn!(discharge = id, %error, "could not {what}");
    }

    fn report(&self) {
        let s = &self.stats;
        tracing::info!(
            waiting = self.patients.len(),
            created = s.created,
            discharged_home = s.discharged_home,
            discharged_to_care_home = s.discharged_to_care_home,
            holds = s.holds,
            accepted = s.accepted,
            declined = s.declined,
            hold_conflicts = s.hold_conflicts,
            no_match = s.no_match,
            cancelled = s.cancelled,
            failed = s.failed,
            "discharge flow summary"
        );
    }
}
