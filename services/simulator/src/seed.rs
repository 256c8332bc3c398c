//! Start-up: open every core bed and bring the region to a believable
//! starting occupancy, resuming rather than repeating a previous run.
//!
//! Every bed is read first (`GET`). A bed that is not open, or open and
//! untouched since it was opened (available, version ≤ 1: a seeding that was
//! interrupted), is "fresh": it is opened if need be and gets its planned
//! starting state, always through at least one state change (see
//! [`seed_steps`]) so that a finished bed never looks fresh again. Any other
//! bed already carries a previous run's (or a hospital system's) state and
//! is left as it is. Escalation beds are only read, never opened here.

use std::time::Duration;

use futures::StreamExt;
use pf_hospital_model::{BedAddress, BedState};
use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::{ApiError, BedsClient};
use crate::model::Model;
use crate::policy::{Action, seed_plan, seed_steps};
use crate::retry::with_retry;

/// What seeding did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Beds in the catalogue (core and escalation).
    pub beds: usize,
    /// Core beds that were not open and were opened now.
    pub opened: usize,
    /// Fresh beds given their planned starting state.
    pub seeded: usize,
    /// Beds whose state came from before (a previous run) and were left alone.
    pub resumed: usize,
    /// Escalation beds found open.
    pub escalation_open: usize,
    /// 409 answers (someone else changed the bed meanwhile); each bed was re-read.
    pub conflicts: usize,
    /// Beds the API does not know (404): its catalogue differs from ours.
    pub unknown: usize,
    /// Beds that could not be read or set for another reason.
    pub failed: usize,
    /// Beds occupied once seeding finished.
    pub occupied: usize,
    /// Open beds once seeding finished.
    pub open: usize,
    /// HTTP requests made.
    pub requests: usize,
    /// Wall-clock time taken.
    pub elapsed: Duration,
    /// Seeding stopped early because of shutdown.
    pub interrupted: bool,
}

/// What happened to one bed.
#[derive(Debug, Default)]
struct BedOutcome {
    state: Option<BedState>,
    known: bool,
    opened: bool,
    seeded: bool,
    resumed: bool,
    conflicts: usize,
    requests: usize,
    unknown: bool,
    failed: bool,
    gave_up: bool,
}

/// How one bed should be seeded.
#[derive(Debug, Clone)]
struct BedJob {
    index: usize,
    address: BedAddress,
    escalation: bool,
    /// Starting state for a fresh core bed.
    target: BedState,
}

/// Seeds every bed of `model` through `client`, `concurrency` beds at a time,
/// and records what it found and did in the model. Stops starting new beds
/// when `cancel` fires; a bed whose API stays unavailable for longer than
/// `give_up_after` stops the whole seeding (reported as `failed`).
pub async fn seed_model<R: Rng + ?Sized>(
    client: &BedsClient,
    model: &mut Model,
    rng: &mut R,
    concurrency: usize,
    cancel: &CancellationToken,
    give_up_after: Option<Duration>,
) -> SeedReport {
    let started = Instant::now();
    let mut jobs = Vec::with_capacity(model.beds.len());
    for ward in &model.wards {
        let core: Vec<usize> = ward
            .beds
            .iter()
            .copied()
            .filter(|&b| !model.beds[b].escalation)
            .collect();
        let plan = seed_plan(ward.kind, core.len(), rng);
        let mut plan = core.into_iter().zip(plan).peekable();
        for &b in &ward.beds {
            let bed = &model.beds[b];
            let target = match plan.peek() {
                Some(&(core, state)) if core == b => {
                    plan.next();
                    state
                }
                _ => BedState::Available,
            };
            jobs.push(BedJob {
                index: b,
                address: bed.address.clone(),
                escalation: bed.escalation,
                target,
            });
        }
    }

    // Wait for the API with one probe, rather than every bed retrying (and
    // logging) on its own.
    if let Some(first) = jobs.first() {
        let probe = with_retry(
            "waiting for the hospital-beds API",
            cancel,
            give_up_after,
            || client.get(&first.address),
        )
        .await;
        if let Err(error) = probe.as_ref()
            && error.is_retryable()
        {
            if !cancel.is_cancelled() {
                tracing::error!(%error, "gave up waiting for the hospital-beds API");
            }
            for bed in &mut model.beds {
                bed.busy = true;
            }
            return SeedReport {
                beds: model.beds.len(),
                failed: if cancel.is_cancelled() {
                    0
                } else {
                    model.beds.len()
                },
                interrupted: cancel.is_cancelled(),
                elapsed: started.elapsed(),
                ..SeedReport::default()
            };
        }
    }

    // A child token: giving up on one bed stops the rest, without
    // cancelling the caller's shutdown.
    let stop = cancel.child_token();
    let outcomes: Vec<(usize, BedOutcome)> = futures::stream::iter(jobs)
        .take_while(|_| std::future::ready(!stop.is_cancelled()))
        .map(|job| {
            let stop = stop.clone();
            async move {
                let outcome = seed_bed(client, &job, &stop, give_up_after).await;
                if outcome.gave_up {
                    stop.cancel();
                }
                (job.index, outcome)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;

    let mut report = SeedReport {
        beds: model.beds.len(),
        interrupted: cancel.is_cancelled(),
        ..SeedReport::default()
    };
    let mut seen = vec![false; model.beds.len()];
    for (index, outcome) in outcomes {
        let bed = &mut model.beds[index];
        seen[index] = outcome.known;
        if outcome.known {
            bed.state = outcome.state;
        }
        bed.ignored = outcome.unknown;
        report.opened += usize::from(outcome.opened);
        report.seeded += usize::from(outcome.seeded);
        report.resumed += usize::from(outcome.resumed);
        report.conflicts += outcome.conflicts;
        report.unknown += usize::from(outcome.unknown);
        report.failed += usize::from(outcome.failed);
        report.requests += outcome.requests;
        if bed.escalation && outcome.known && bed.state.is_some() {
            report.escalation_open += 1;
        }
    }
    // Beds never reached (shutdown or the API gone) are re-read later.
    for (bed, seen) in model.beds.iter_mut().zip(seen) {
        if !seen && !bed.ignored {
            bed.busy = true;
        }
    }
    for bed in model.beds.iter().filter(|b| !b.ignored) {
        if let Some(state) = bed.state {
            report.open += 1;
            report.occupied += usize::from(state == BedState::Occupied);
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// Reads, opens and seeds one bed; never fails, records what happened.
async fn seed_bed(
    client: &BedsClient,
    job: &BedJob,
    cancel: &CancellationToken,
    give_up_after: Option<Duration>,
) -> BedOutcome {
    let mut outcome = BedOutcome::default();
    let bed = &job.address;
    let result = seed_bed_steps(client, job, cancel, give_up_after, &mut outcome).await;
    match result {
        Ok(()) => outcome.known = true,
        Err(ApiError::NotFound(message)) => {
            tracing::warn!(%bed, %message, "the hospital-beds API does not know this bed; skipping it");
            outcome.unknown = true;
        }
        Err(error) if error.is_retryable() => {
            if !cancel.is_cancelled() {
                tracing::error!(%bed, %error, "gave up seeding: the API stayed unavailable (or refused to sign us in)");
                outcome.gave_up = true;
            }
            outcome.failed = !cancel.is_cancelled();
        }
        Err(error) => {
            tracing::warn!(%bed, %error, "could not seed bed");
            outcome.failed = true;
        }
    }
    outcome
}

async fn seed_bed_steps(
    client: &BedsClient,
    job: &BedJob,
    cancel: &CancellationToken,
    give_up_after: Option<Duration>,
    outcome: &mut BedOutcome,
) -> Result<(), ApiError> {
    let bed = &job.address;
    outcome.requests += 1;
    let view = with_retry("reading a bed", cancel, give_up_after, || client.get(bed)).await?;
    outcome.state = view.open_state();
    if job.escalation {
        return Ok(());
    }
    let fresh = match outcome.state {
        None => true,
        Some(BedState::Available) => view.version <= 1,
        Some(_) => false,
    };
    if !fresh {
        outcome.resumed = true;
        return Ok(());
    }
    for action in seed_steps(outcome.state, job.target) {
        if cancel.is_cancelled() {
            break;
        }
        outcome.requests += 1;
        let result = with_retry("seeding a bed", cancel, give_up_after, || async {
            match action {
                Action::Open => {
                    client
                        .open(bed, "Bed in the ward's core establishment")
                        .await
                }
                Action::Set(state) => client.set_state(bed, state, seed_reason(state)).await,
                Action::Withdraw => client.withdraw(bed, "Not in use").await,
                Action::Refresh => Ok(()),
            }
        })
        .await;
        match result {
            Ok(()) => {
                outcome.opened |= action == Action::Open;
                outcome.state = action.outcome(outcome.state);
            }
            Err(ApiError::Conflict(message)) => {
                // Someone else moved the bed: take what it is now and leave it.
                tracing::debug!(%bed, %message, "conflict while seeding; re-reading");
                outcome.conflicts += 1;
                outcome.requests += 1;
                let view = with_retry("re-reading a bed", cancel, give_up_after, || {
                    client.get(bed)
                })
                .await?;
                outcome.state = view.open_state();
                outcome.resumed = true;
                return Ok(());
            }
            Err(error) => return Err(error),
        }
    }
    outcome.seeded = outcome.state == Some(job.target);
    Ok(())
}

fn seed_reason(state: BedState) -> &'static str {
    match state {
        BedState::Occupied => "Inpatient at start of day",
        BedState::AwaitingClean => "Vacated overnight, awaiting clean",
        BedState::Reserved => "Expected admission",
        BedState::Closed => "Infection control: side-room isolation",
        BedState::Available => "Clean and empty",
    }
}
