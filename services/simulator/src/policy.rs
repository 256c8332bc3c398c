//! The pure decision logic: what a believable next bed event is.
//!
//! No I/O here. Given the [`Model`], the simulated hour of the day and a
//! random number generator, [`plan_next`] chooses one move; the engine sends
//! it to the API. Occupancy follows a daily curve per bed kind (fullest in the
//! early morning before the day's discharges, emptiest in the evening), each
//! ward reverting towards it; escalation beds open when a site's occupancy of
//! a kind rises above [`EscalationThresholds::open_above`] and are withdrawn
//! when it falls below [`EscalationThresholds::withdraw_below`].

use std::f64::consts::PI;

use pf_hospital_model::{BedKind, BedState};
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

use crate::model::{Counts, Model, SimBed};

/// A request the simulator can make about one bed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `POST …/open`: the bed becomes available.
    Open,
    /// `POST …/withdraw`: the bed stops being open.
    Withdraw,
    /// `POST …/state` with this state.
    Set(BedState),
    /// `GET`: re-read a bed whose picture is stale.
    Refresh,
}

impl Action {
    /// The state the bed is in after the action succeeds (`None`: not open);
    /// `current` for a refresh, which the answer replaces anyway.
    pub fn outcome(self, current: Option<BedState>) -> Option<BedState> {
        match self {
            Action::Open => Some(BedState::Available),
            Action::Withdraw => None,
            Action::Set(state) => Some(state),
            Action::Refresh => current,
        }
    }
}

/// One chosen move: which bed, what to do, and the reason sent with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    /// Index of the bed in [`Model::beds`].
    pub bed: usize,
    /// What to do.
    pub action: Action,
    /// The reason recorded with the event.
    pub reason: &'static str,
}

/// The everyday events of a ward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowEvent {
    /// A patient arrives: available or reserved → occupied.
    Admit,
    /// A patient leaves: occupied → awaiting clean.
    Discharge,
    /// Housekeeping (or, for a virtual ward, the kit is collected): awaiting clean → available.
    Clean,
    /// A bed is kept for an expected admission: available → reserved.
    Reserve,
    /// The expected admission does not come: reserved → available.
    CancelReservation,
    /// Infection control, maintenance or staffing: available or awaiting clean → closed.
    Close,
    /// A closed bed comes back, after a deep clean: closed → awaiting clean.
    Reopen,
}

impl FlowEvent {
    /// Every flow event.
    pub const ALL: [FlowEvent; 7] = [
        FlowEvent::Admit,
        FlowEvent::Discharge,
        FlowEvent::Clean,
        FlowEvent::Reserve,
        FlowEvent::CancelReservation,
        FlowEvent::Close,
        FlowEvent::Reopen,
    ];

    /// The states a bed may be in for this event.
    pub fn from_states(self) -> &'static [BedState] {
        use BedState::*;
        match self {
            FlowEvent::Admit => &[Available, Reserved],
            FlowEvent::Discharge => &[Occupied],
            FlowEvent::Clean => &[AwaitingClean],
            FlowEvent::Reserve => &[Available],
            FlowEvent::CancelReservation => &[Reserved],
            FlowEvent::Close => &[Available, AwaitingClean],
            FlowEvent::Reopen => &[Closed],
        }
    }

    /// The state the bed moves to.
    pub fn to_state(self) -> BedState {
        match self {
            FlowEvent::Admit => BedState::Occupied,
            FlowEvent::Discharge => BedState::AwaitingClean,
            FlowEvent::Clean => BedState::Available,
            FlowEvent::Reserve => BedState::Reserved,
            FlowEvent::CancelReservation => BedState::Available,
            FlowEvent::Close => BedState::Closed,
            FlowEvent::Reopen => BedState::AwaitingClean,
        }
    }

    /// A believable reason for the event on a bed of `kind`.
    pub fn reason<R: Rng + ?Sized>(self, kind: BedKind, rng: &mut R) -> &'static str {
        let choices: &[&'static str] = match (self, kind) {
            (FlowEvent::Admit, BedKind::VirtualWard) => &[
                "Step-down from an acute ward",
                "Step-up referral from GP",
                "Referred from the emergency department",
            ],
            (FlowEvent::Admit, BedKind::Maternity) => &[
                "Admitted in labour",
                "Antenatal admission",
                "Planned induction",
            ],
            (FlowEvent::Admit, BedKind::Community) => &[
                "Step-down from an acute hospital",
                "Step-down from an acute hospital",
                "Step-down from an acute hospital",
                "Step-up admission from community team",
            ],
            (FlowEvent::Admit, BedKind::MentalHealth) => {
                &["Informal admission", "Admitted under the Mental Health Act"]
            }
            (FlowEvent::Admit, _) => &[
                "Emergency admission from ED",
                "Emergency admission from ED",
                "Admitted from the assessment unit",
                "Elective admission",
                "GP referral",
                "Transfer from another ward",
            ],
            (FlowEvent::Discharge, BedKind::VirtualWard) => &[
                "Discharged from virtual ward: recovered",
                "Escalated to hospital admission",
            ],
            (FlowEvent::Discharge, _) => &[
                "Discharged home (pathway 0)",
                "Discharged home (pathway 0)",
                "Discharged home with new support (pathway 1)",
                "Discharged home with new support (pathway 1)",
                "Discharged to a community bed (pathway 2)",
                "Discharged to a care home (pathway 3)",
                "Transferred to another ward",
            ],
            (FlowEvent::Clean, BedKind::VirtualWard) => &["Monitoring kit collected"],
            (FlowEvent::Clean, _) => &["Bed cleaned", "Bed cleaned", "Bed cleaned and made up"],
            (FlowEvent::Reserve, _) => &[
                "Expected admission from ED",
                "Expected transfer in",
                "Elective admission booked",
            ],
            (FlowEvent::CancelReservation, _) => &["Expected admission cancelled"],
            (FlowEvent::Close, _) => &[
                "Infection control: norovirus",
                "Infection control: side-room isolation",
                "Infection control: C. difficile",
                "Maintenance",
                "Staffing",
            ],
            (FlowEvent::Reopen, _) => &["Reopened: deep clean needed"],
        };
        choices.choose(rng).copied().unwrap_or("Simulated event")
    }
}

/// Where escalation beds open and close, as fractions of occupancy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EscalationThresholds {
    /// Open an escalation bed when occupancy is above this (0.96).
    pub open_above: f64,
    /// Withdraw an unused escalation bed when occupancy is below this (0.90).
    pub withdraw_below: f64,
}

impl Default for EscalationThresholds {
    fn default() -> Self {
        Self {
            open_above: 0.96,
            withdraw_below: 0.90,
        }
    }
}

/// What to do about escalation beds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EscalationDecision {
    /// Open one more escalation bed.
    Open,
    /// Withdraw one unused escalation bed.
    Withdraw,
}

/// Whether to open or withdraw an escalation bed, given the counts of one
/// kind at one site and how many of its open escalation beds are free to be
/// withdrawn (empty: available or closed).
pub fn escalation_decision(
    counts: &Counts,
    withdrawable: usize,
    thresholds: &EscalationThresholds,
) -> Option<EscalationDecision> {
    let occupancy = counts.occupancy()?;
    if occupancy > thresholds.open_above && counts.escalation_not_open > 0 {
        Some(EscalationDecision::Open)
    } else if occupancy < thresholds.withdraw_below && withdrawable > 0 {
        Some(EscalationDecision::Withdraw)
    } else {
        None
    }
}

/// The hour at which wards are pulled fullest: the night's admissions are
/// in and the day's discharges have not started. Wards lag their target by
/// an hour or two, so occupancy peaks mid-morning.
pub const PEAK_HOUR: f64 = 5.0;

/// The occupancy a ward of `kind` drifts towards at `hour` (0 ≤ hour < 24).
///
/// A daily cosine, highest at [`PEAK_HOUR`] and lowest twelve hours later.
/// General & acute is pulled between 98.5% and 88.5%; with the lag, the
/// morning crosses the escalation threshold and the evening the withdrawal one.
pub fn target_occupancy(kind: BedKind, hour: f64) -> f64 {
    let (mean, swing) = match kind {
        BedKind::GeneralAcute => (0.935, 0.05),
        BedKind::AdultCriticalCare => (0.84, 0.04),
        BedKind::Paediatric => (0.76, 0.06),
        BedKind::Maternity => (0.72, 0.05),
        BedKind::MentalHealth => (0.94, 0.01),
        BedKind::Community => (0.91, 0.02),
        BedKind::VirtualWard => (0.75, 0.03),
    };
    mean + swing * (2.0 * PI * (hour - PEAK_HOUR) / 24.0).cos()
}

/// How strongly a ward is pulled towards its target: admissions are weighted
/// `1 + GAIN × (target − occupancy)`, discharges the opposite.
const GAIN: f64 = 12.0;

/// The relative weight of each flow event on a ward with these counts.
pub fn flow_weights(kind: BedKind, counts: &Counts, target: f64) -> [(FlowEvent, f64); 7] {
    let virtual_ward = kind == BedKind::VirtualWard;
    let gap = target - counts.occupancy().unwrap_or(target);
    let pull = |x: f64| x.clamp(0.02, 4.0);
    FlowEvent::ALL.map(|event| {
        let weight = match event {
            FlowEvent::Admit if counts.available + counts.reserved > 0 => pull(1.0 + GAIN * gap),
            FlowEvent::Discharge if counts.occupied > 0 => pull(1.0 - GAIN * gap),
            FlowEvent::Clean => counts.awaiting_clean as f64 * if virtual_ward { 5.0 } else { 3.0 },
            FlowEvent::Reserve if counts.available_core > 1 => {
                if virtual_ward {
                    0.03
                } else {
                    0.08
                }
            }
            FlowEvent::CancelReservation => counts.reserved as f64 * 0.02,
            FlowEvent::Close if !virtual_ward && counts.available + counts.awaiting_clean > 0 => {
                0.012
            }
            FlowEvent::Reopen => counts.closed as f64 * 0.04,
            _ => 0.0,
        };
        (event, weight)
    })
}

/// Picks one item by weight; `None` when every weight is zero.
pub fn choose_weighted<T: Copy, R: Rng + ?Sized>(items: &[(T, f64)], rng: &mut R) -> Option<T> {
    let total: f64 = items.iter().map(|(_, w)| w.max(0.0)).sum();
    if total <= 0.0 {
        return None;
    }
    let mut point = rng.random::<f64>() * total;
    for (item, weight) in items {
        let weight = weight.max(0.0);
        if point < weight {
            return Some(*item);
        }
        point -= weight;
    }
    items.iter().rev().find(|(_, w)| *w > 0.0).map(|(t, _)| *t)
}

/// The next move for a bed in `current` (`None`: not open) on its way to
/// `target`: the target itself when allowed, else a step through
/// awaiting clean or available. `None` when it is already there.
pub fn next_step(current: Option<BedState>, target: Option<BedState>) -> Option<Action> {
    match (current, target) {
        (a, b) if a == b => None,
        (None, Some(_)) => Some(Action::Open),
        (Some(_), None) => Some(Action::Withdraw),
        (Some(from), Some(to)) => {
            if from.check_transition(to).is_ok() {
                Some(Action::Set(to))
            } else if from.check_transition(BedState::AwaitingClean).is_ok() {
                Some(Action::Set(BedState::AwaitingClean))
            } else {
                Some(Action::Set(BedState::Available))
            }
        }
        (None, None) => None,
    }
}

/// The requests that take a fresh bed (not open, or open and available) to
/// its starting state `target`. A bed meant to start available is vacated
/// and cleaned (awaiting clean → available) rather than left as just opened,
/// so that every seeded bed has had a state change: a later run can then
/// tell a finished bed (version ≥ 2) from one whose seeding was interrupted.
pub fn seed_steps(current: Option<BedState>, target: BedState) -> Vec<Action> {
    let mut steps = Vec::new();
    let mut at = current;
    while let Some(action) = next_step(at, Some(target)) {
        if steps.len() >= 4 {
            break;
        }
        steps.push(action);
        at = action.outcome(at);
    }
    let changed = steps.iter().any(|a| matches!(a, Action::Set(_)));
    if !changed && target == BedState::Available && at == Some(BedState::Available) {
        steps.push(Action::Set(BedState::AwaitingClean));
        steps.push(Action::Set(BedState::Available));
    }
    steps
}

/// Share of a kind's beds to start in each state: (occupied range,
/// awaiting clean, closed, reserved).
fn seed_mix(kind: BedKind) -> ((f64, f64), f64, f64, f64) {
    match kind {
        BedKind::GeneralAcute => ((0.88, 0.94), 0.025, 0.012, 0.015),
        BedKind::AdultCriticalCare => ((0.78, 0.90), 0.03, 0.0, 0.03),
        BedKind::Paediatric => ((0.68, 0.84), 0.03, 0.01, 0.02),
        BedKind::Maternity => ((0.62, 0.80), 0.04, 0.0, 0.02),
        BedKind::MentalHealth => ((0.90, 0.97), 0.0, 0.01, 0.0),
        BedKind::Community => ((0.86, 0.94), 0.02, 0.01, 0.02),
        BedKind::VirtualWard => ((0.72, 0.78), 0.0, 0.0, 0.02),
    }
}

/// Rounds `x` up or down at random so that the expected value is `x`.
fn round_randomly<R: Rng + ?Sized>(x: f64, rng: &mut R) -> usize {
    let floor = x.floor();
    let up = rng.random::<f64>() < x - floor;
    floor as usize + usize::from(up)
}

/// Starting states for the `beds` core beds of a ward of `kind`, in bed order:
/// mostly occupied, a few awaiting clean, closed or reserved, the rest available.
pub fn seed_plan<R: Rng + ?Sized>(kind: BedKind, beds: usize, rng: &mut R) -> Vec<BedState> {
    let ((low, high), clean, closed, reserved) = seed_mix(kind);
    let n = beds as f64;
    let mut left = beds;
    let mut take = |want: usize| {
        let got = want.min(left);
        left -= got;
        got
    };
    let occupied = take(round_randomly(n * rng.random_range(low..=high), rng));
    let awaiting = take(round_randomly(n * clean, rng));
    let closed = take(round_randomly(n * closed, rng));
    let reserved = take(round_randomly(n * reserved, rng));
    let mut plan = Vec::with_capacity(beds);
    plan.extend(std::iter::repeat_n(BedState::Occupied, occupied));
    plan.extend(std::iter::repeat_n(BedState::AwaitingClean, awaiting));
    plan.extend(std::iter::repeat_n(BedState::Closed, closed));
    plan.extend(std::iter::repeat_n(BedState::Reserved, reserved));
    plan.extend(std::iter::repeat_n(BedState::Available, left));
    plan.shuffle(rng);
    plan
}

fn free(bed: &SimBed) -> bool {
    !bed.busy && !bed.ignored
}

/// Picks a bed of `ward` for `event`: admissions go to reserved beds first
/// (most of the time), then core beds, escalation beds last; discharges
/// empty escalation beds first about half the time.
pub fn pick_bed<R: Rng + ?Sized>(
    model: &Model,
    ward: usize,
    event: FlowEvent,
    rng: &mut R,
) -> Option<usize> {
    let from = event.from_states();
    let candidates: Vec<usize> = model.wards[ward]
        .beds
        .iter()
        .copied()
        .filter(|&b| {
            let bed = &model.beds[b];
            free(bed) && bed.state.is_some_and(|s| from.contains(&s))
        })
        .collect();
    let state_of = |b: &usize| model.beds[*b].state;
    let escalation = |b: &usize| model.beds[*b].escalation;
    let preferred: Vec<usize> = match event {
        FlowEvent::Admit => {
            let reserved: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|b| state_of(b) == Some(BedState::Reserved))
                .collect();
            let core: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|b| state_of(b) == Some(BedState::Available) && !escalation(b))
                .collect();
            if !reserved.is_empty() && rng.random_bool(0.6) {
                reserved
            } else if !core.is_empty() {
                core
            } else {
                Vec::new()
            }
        }
        FlowEvent::Discharge => {
            let in_escalation: Vec<usize> = candidates
                .iter()
                .copied()
                .filter(|b| escalation(b))
                .collect();
            if !in_escalation.is_empty() && rng.random_bool(0.5) {
                in_escalation
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    };
    let pool = if preferred.is_empty() {
        &candidates
    } else {
        &preferred
    };
    pool.choose(rng).copied()
}

/// The open escalation beds of a group that could be withdrawn now.
fn withdrawable(model: &Model, group: usize) -> Vec<usize> {
    model.groups[group]
        .wards
        .iter()
        .flat_map(|&w| model.wards[w].beds.iter().copied())
        .filter(|&b| {
            let bed = &model.beds[b];
            bed.escalation
                && free(bed)
                && matches!(bed.state, Some(BedState::Available | BedState::Closed))
        })
        .collect()
}

/// The escalation bed of a group to open next: the first not-open one on
/// the group's fullest ward that has one.
fn to_open(model: &Model, group: usize) -> Option<usize> {
    let mut best: Option<(f64, usize)> = None;
    for &w in &model.groups[group].wards {
        let Some(bed) = model.wards[w].beds.iter().copied().find(|&b| {
            let bed = &model.beds[b];
            bed.escalation && free(bed) && bed.state.is_none()
        }) else {
            continue;
        };
        let occupancy = model.ward_counts(w).occupancy().unwrap_or(1.0);
        if best.is_none_or(|(o, _)| occupancy > o) {
            best = Some((occupancy, bed));
        }
    }
    best.map(|(_, b)| b)
}

/// Gives every ward its own lean around its kind's target (±1.5 points),
/// so wards and sites differ the way real ones do.
pub fn assign_ward_leanings<R: Rng + ?Sized>(model: &mut Model, rng: &mut R) {
    for ward in &mut model.wards {
        ward.target_offset = rng.random_range(-0.015..=0.015);
    }
}

/// Chooses the next move: a ward (by size), then either an escalation move
/// for its site and kind or one of its flow events. `None` when nothing
/// sensible can happen right now (every candidate bed busy, say).
pub fn plan_next<R: Rng + ?Sized>(
    model: &Model,
    hour: f64,
    thresholds: &EscalationThresholds,
    rng: &mut R,
) -> Option<Planned> {
    let wards: Vec<(usize, f64)> = model
        .wards
        .iter()
        .enumerate()
        .map(|(i, w)| (i, w.core_beds as f64))
        .collect();
    let ward = choose_weighted(&wards, rng)?;
    let group = model.wards[ward].group;
    let kind = model.wards[ward].kind;

    let group_counts = model.group_counts(group);
    let withdrawable_beds = withdrawable(model, group);
    match escalation_decision(&group_counts, withdrawable_beds.len(), thresholds) {
        Some(EscalationDecision::Open) => {
            if let Some(bed) = to_open(model, group) {
                return Some(Planned {
                    bed,
                    action: Action::Open,
                    reason: "Escalation: occupancy above the opening threshold",
                });
            }
        }
        Some(EscalationDecision::Withdraw) => {
            if let Some(&bed) = withdrawable_beds.choose(rng) {
                return Some(Planned {
                    bed,
                    action: Action::Withdraw,
                    reason: "Escalation stood down: occupancy below the withdrawal threshold",
                });
            }
        }
        None => {}
    }

    let target = (target_occupancy(kind, hour) + model.wards[ward].target_offset).min(0.99);
    let counts = model.ward_counts(ward);
    let event = choose_weighted(&flow_weights(kind, &counts, target), rng)?;
    let bed = pick_bed(model, ward, event, rng)?;
    Some(Planned {
        bed,
        action: Action::Set(event.to_state()),
        reason: event.reason(kind, rng),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_hospital_model::Catalogue;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn counts(open: usize, occupied: usize, closed: usize, escalation_not_open: usize) -> Counts {
        Counts {
            open,
            occupied,
            closed,
            available: open - occupied - closed,
            available_core: open - occupied - closed,
            escalation_not_open,
            ..Counts::default()
        }
    }

    #[test]
    fn every_flow_event_is_an_allowed_transition() {
        for event in FlowEvent::ALL {
            for &from in event.from_states() {
                assert_eq!(
                    from.check_transition(event.to_state()),
                    Ok(()),
                    "{event:?} from {from:?}"
                );
            }
        }
    }

    #[test]
    fn escalation_opens_above_96_and_withdraws_below_90() {
        let t = EscalationThresholds::default();
        // 97 of 100 occupied, escalation beds left to open.
        assert_eq!(
            escalation_decision(&counts(100, 97, 0, 4), 0, &t),
            Some(EscalationDecision::Open)
        );
        // Nothing left to open: nothing to do.
        assert_eq!(escalation_decision(&counts(100, 97, 0, 0), 0, &t), None);
        // Between the thresholds: hold steady, whatever is open.
        assert_eq!(escalation_decision(&counts(100, 93, 0, 2), 3, &t), None);
        assert_eq!(escalation_decision(&counts(100, 96, 0, 2), 3, &t), None);
        // Below 90% with an empty escalation bed: withdraw it.
        assert_eq!(
            escalation_decision(&counts(100, 89, 0, 0), 1, &t),
            Some(EscalationDecision::Withdraw)
        );
        // Below 90% but every escalation bed is still in use: wait.
        assert_eq!(escalation_decision(&counts(100, 89, 0, 0), 0, &t), None);
        // Closed beds do not count as usable: 87 of 90 usable is 96.7%.
        assert_eq!(
            escalation_decision(&counts(100, 87, 10, 1), 0, &t),
            Some(EscalationDecision::Open)
        );
        // No usable beds at all: no decision.
        assert_eq!(escalation_decision(&counts(0, 0, 0, 2), 0, &t), None);
    }

    #[test]
    fn flow_pulls_towards_the_target() {
        let full = counts(28, 28, 0, 0);
        let w = flow_weights(BedKind::GeneralAcute, &full, 0.93);
        let weight = |w: &[(FlowEvent, f64); 7], e| {
            w.iter()
                .find(|(x, _)| *x == e)
                .map(|(_, v)| *v)
                .unwrap_or(0.0)
        };
        assert_eq!(weight(&w, FlowEvent::Admit), 0.0, "no empty bed");
        assert!(weight(&w, FlowEvent::Discharge) > 1.0);
        let empty = counts(28, 14, 0, 0);
        let w = flow_weights(BedKind::GeneralAcute, &empty, 0.93);
        assert!(weight(&w, FlowEvent::Admit) > 3.0 * weight(&w, FlowEvent::Discharge));
        // Virtual wards are never closed for infection control.
        let w = flow_weights(BedKind::VirtualWard, &empty, 0.75);
        assert_eq!(weight(&w, FlowEvent::Close), 0.0);
    }

    #[test]
    fn the_day_is_fullest_in_the_morning() {
        let morning = target_occupancy(BedKind::GeneralAcute, PEAK_HOUR);
        let evening = target_occupancy(BedKind::GeneralAcute, PEAK_HOUR + 12.0);
        assert!(morning > 0.96 && evening < 0.90, "{morning} {evening}");
        for hour in 0..24 {
            let t = target_occupancy(BedKind::VirtualWard, f64::from(hour));
            assert!((0.70..=0.80).contains(&t));
        }
    }

    #[test]
    fn next_step_reaches_every_state_from_every_state() {
        let all: Vec<Option<BedState>> = std::iter::once(None)
            .chain(BedState::ALL.into_iter().map(Some))
            .collect();
        for &from in &all {
            for &to in &all {
                let mut at = from;
                for _ in 0..4 {
                    match next_step(at, to) {
                        None => break,
                        Some(action) => {
                            if let (Some(a), Action::Set(b)) = (at, action) {
                                assert_eq!(a.check_transition(b), Ok(()));
                            }
                            at = action.outcome(at);
                        }
                    }
                }
                assert_eq!(at, to, "from {from:?} to {to:?}");
            }
        }
    }

    #[test]
    fn seeding_always_leaves_a_state_change() {
        use BedState::*;
        assert_eq!(
            seed_steps(None, Occupied),
            vec![Action::Open, Action::Set(Occupied)]
        );
        assert_eq!(
            seed_steps(None, Available),
            vec![
                Action::Open,
                Action::Set(AwaitingClean),
                Action::Set(Available)
            ]
        );
        assert_eq!(
            seed_steps(Some(Available), Available),
            vec![Action::Set(AwaitingClean), Action::Set(Available)]
        );
        assert_eq!(
            seed_steps(Some(Available), Closed),
            vec![Action::Set(Closed)]
        );
        for target in BedState::ALL {
            let mut at: Option<BedState> = None;
            for step in seed_steps(None, target) {
                if let (Some(a), Action::Set(b)) = (at, step) {
                    assert_eq!(a.check_transition(b), Ok(()));
                }
                at = step.outcome(at);
            }
            assert_eq!(at, Some(target));
        }
    }

    #[test]
    fn seed_plans_look_like_a_busy_hospital() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut occupied = 0;
        let mut total = 0;
        for _ in 0..200 {
            let plan = seed_plan(BedKind::GeneralAcute, 28, &mut rng);
            assert_eq!(plan.len(), 28);
            occupied += plan.iter().filter(|s| **s == BedState::Occupied).count();
            total += 28;
        }
        let share = occupied as f64 / total as f64;
        assert!((0.88..=0.94).contains(&share), "{share}");
        let vw: Vec<BedState> = (0..100)
            .flat_map(|_| seed_plan(BedKind::VirtualWard, 30, &mut rng))
            .collect();
        let share =
            vw.iter().filter(|s| **s == BedState::Occupied).count() as f64 / vw.len() as f64;
        assert!((0.72..=0.78).contains(&share), "{share}");
        assert!(!vw.contains(&BedState::Closed));
        assert!(seed_plan(BedKind::Maternity, 0, &mut rng).is_empty());
    }

    #[test]
    fn admissions_fill_core_beds_before_escalation_beds() {
        let catalogue = Catalogue::llr().expect("valid");
        let mut model = Model::from_catalogue(&catalogue);
        let ward = model
            .wards
            .iter()
            .position(|w| w.beds.iter().any(|&b| model.beds[b].escalation))
            .expect("a ward with escalation beds");
        let beds = model.wards[ward].beds.clone();
        for &b in &beds {
            let bed = &mut model.beds[b];
            bed.state = Some(if bed.escalation {
                BedState::Available
            } else {
                BedState::Occupied
            });
        }
        let core = beds
            .iter()
            .copied()
            .find(|&b| !model.beds[b].escalation)
            .expect("core bed");
        model.beds[core].state = Some(BedState::Available);
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..50 {
            assert_eq!(
                pick_bed(&model, ward, FlowEvent::Admit, &mut rng),
                Some(core)
            );
        }
        model.beds[core].busy = true;
        let next = pick_bed(&model, ward, FlowEvent::Admit, &mut rng).expect("escalation bed");
        assert!(model.beds[next].escalation);
    }

    /// Runs the policy against the model alone for a few simulated days and
    /// checks the region looks like LLR: G&A around 90-96%, escalation beds
    /// opened in the morning peak and stood down in the evening.
    #[test]
    fn a_simulated_day_stays_believable() {
        let catalogue = Catalogue::llr().expect("valid");
        let mut model = Model::from_catalogue(&catalogue);
        let mut rng = StdRng::seed_from_u64(2024);
        assign_ward_leanings(&mut model, &mut rng);
        for w in 0..model.wards.len() {
            let core: Vec<usize> = model.wards[w]
                .beds
                .iter()
                .copied()
                .filter(|&b| !model.beds[b].escalation)
                .collect();
            let plan = seed_plan(model.wards[w].kind, core.len(), &mut rng);
            for (b, state) in core.into_iter().zip(plan) {
                model.beds[b].state = Some(state);
            }
        }
        let thresholds = EscalationThresholds::default();
        let events_per_hour = 120.0;
        let mut morning_escalation = Vec::new();
        let mut evening_escalation = Vec::new();
        let mut ga_occupancy = Vec::new();
        for step in 0..(3.0 * 24.0 * events_per_hour) as usize {
            let hour = (step as f64 / events_per_hour) % 24.0;
            if let Some(p) = plan_next(&model, hour, &thresholds, &mut rng) {
                let bed = &mut model.beds[p.bed];
                if let (Some(from), Action::Set(to)) = (bed.state, p.action) {
                    assert_eq!(from.check_transition(to), Ok(()), "{p:?}");
                }
                bed.state = p.action.outcome(bed.state);
            }
            if step % (events_per_hour as usize) == 0 && step > 24 * events_per_hour as usize {
                let ga = model.kind_counts(BedKind::GeneralAcute);
                ga_occupancy.push(ga.occupancy().unwrap_or(0.0));
                let h = hour.round() as u32;
                if (7..=10).contains(&h) {
                    morning_escalation.push(ga.escalation_open);
                }
                if (20..=23).contains(&h) {
                    evening_escalation.push(ga.escalation_open);
                }
            }
        }
        let min = ga_occupancy.iter().copied().fold(1.0, f64::min);
        let max = ga_occupancy.iter().copied().fold(0.0, f64::max);
        let avg = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len().max(1) as f64;
        println!(
            "G&A occupancy {min:.3}..{max:.3}; escalation open mornings {:.1}, evenings {:.1}",
            avg(&morning_escalation),
            avg(&evening_escalation)
        );
        assert!(min > 0.85 && max < 0.99, "{min} {max}");
        assert!(avg(&morning_escalation) > avg(&evening_escalation));
        assert!(avg(&morning_escalation) >= 2.0);
        let vw = model
            .kind_counts(BedKind::VirtualWard)
            .occupancy()
            .unwrap_or(0.0);
        assert!((0.6..0.9).contains(&vw), "{vw}");
    }
}
