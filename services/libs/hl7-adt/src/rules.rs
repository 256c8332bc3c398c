//! The rules that turn an ADT message into bed changes: a small state
//! machine, table-tested below.
//!
//! # Who owns which state
//! The feed is the truth about **occupancy**: a patient put in a bed makes it
//! occupied, a patient leaving makes it await cleaning. Staff own
//! **cleaning, closures and reservations** through the pages and the API.
//! So:
//! - a patient placed in a bed that is *reserved* fills it (the reservation
//!   was for them or is overtaken by a fact);
//! - a patient placed in a bed *awaiting clean* or *closed* fills it all the
//!   same, through `available`, and each step's reason says that the feed
//!   overrode the staff's state (the shared bed rules never move a bed
//!   straight from those states to occupied); the audit trail shows both;
//! - a patient leaving a bed that staff have already moved on (cleaned,
//!   closed) leaves it as staff set it; only an occupied bed becomes
//!   `awaiting_clean`;
//! - a message older than the bed's newest change (its `EVN-6`/`EVN-2`/`MSH-7`
//!   time against the bed's newest `occurred_at`) changes nothing at that
//!   bed: a late message cannot undo a newer one, whoever made it. A time
//!   sent to the second (or minute) is older only by a whole second (or
//!   minute): a change made within it is not newer.
//!
//! # Leave of absence (A21/A22)
//! The bed stays held for the patient: it stays `occupied` and is counted
//! as occupied; only the visit index records the leave.
//!
//! # Cancellations
//! A11/A12/A13 reverse what they cancel, from the visit index (visit number
//! → bed, previous bed, status; nothing about the patient). A cancelled
//! admission leaves its bed `awaiting_clean`, not `available`: the shared
//! rules do not empty an occupied bed without a clean, and staff confirm it.

use std::collections::HashMap;

use pf_hospital_model::BedState;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::mapping::MappedLocation;
use crate::message::Trigger;

/// A bed in catalogue terms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BedKey {
    /// Site code.
    pub site: String,
    /// Ward code.
    pub ward: String,
    /// Bed code.
    pub bed: String,
}

impl BedKey {
    /// The bed of a mapped location, if it names one.
    pub fn of(location: &MappedLocation) -> Option<BedKey> {
        location.bed.as_ref().map(|bed| BedKey {
            site: location.site.clone(),
            ward: location.ward.clone(),
            bed: bed.clone(),
        })
    }
}

impl std::fmt::Display for BedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.site, self.ward, self.bed)
    }
}

/// Where a visit is, as far as the feed has said: the visit index's entry.
/// Holds no patient identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitEntry {
    /// Admitted, on leave or discharged.
    pub status: VisitStatus,
    /// The bed the visit is in now.
    pub bed: Option<BedKey>,
    /// The bed before the last transfer, or the bed discharged from.
    pub previous_bed: Option<BedKey>,
}

/// A visit's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VisitStatus {
    /// In hospital.
    Admitted,
    /// On leave of absence; the bed is held.
    OnLeave,
    /// Discharged.
    Discharged,
}

/// What is known of a bed now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BedView {
    /// Its state; `None` when it is not open (not in the bed base).
    pub state: Option<BedState>,
    /// When its newest change happened.
    pub last_change: Option<OffsetDateTime>,
}

/// An ADT message with its locations mapped to the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// The trigger.
    pub trigger: Trigger,
    /// When it happened.
    pub at: OffsetDateTime,
    /// How precise `at` is: the event may have happened up to this much later
    /// (a message stamped to the second or minute is not older than a change
    /// made within that second or minute).
    pub precision: time::Duration,
    /// PV1-19.
    pub visit_number: Option<String>,
    /// PV1-3 (A12: where the patient returns to).
    pub assigned: Option<MappedLocation>,
    /// PV1-6.
    pub prior: Option<MappedLocation>,
    /// A17: the second patient's visit number and PV1-3.
    pub other: Option<(Option<String>, Option<MappedLocation>)>,
    /// A20: the bed and its table 0116 status.
    pub bed_status: Option<(MappedLocation, String)>,
}

/// One bed change to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedStep {
    /// Which bed.
    pub bed: BedKey,
    /// Its new state.
    pub to: BedState,
    /// Why, in words for the audit trail.
    pub reason: String,
}

/// What a message means.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decision {
    /// Bed changes, in order.
    pub steps: Vec<BedStep>,
    /// Visit index changes (`None`: forget the visit).
    pub visits: Vec<(String, Option<VisitEntry>)>,
    /// What was left alone and why (for the ACK text and logs).
    pub notes: Vec<String>,
}

/// Why a message cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A patient placed in a bed that is not in the bed base.
    #[error("bed {0} is not open in Patient Flow; open it or correct the location")]
    BedNotOpen(BedKey),
    /// A message that needs a location and has none.
    #[error("{0} needs an assigned location in PV1-3")]
    NoLocation(&'static str),
    /// A20 with a status not in table 0116.
    #[error("bed status `{0}` is not in HL7 table 0116 (U, O, H, C, I, K)")]
    UnknownBedStatus(String),
}

struct Plan<'a> {
    at: OffsetDateTime,
    precision: time::Duration,
    beds: &'a dyn Fn(&BedKey) -> BedView,
    overlay: HashMap<BedKey, BedView>,
    decision: Decision,
}

impl Plan<'_> {
    fn view(&self, bed: &BedKey) -> BedView {
        self.overlay
            .get(bed)
            .copied()
            .unwrap_or_else(|| (self.beds)(bed))
    }

    fn step(&mut self, bed: &BedKey, to: BedState, reason: String) {
        self.overlay.insert(
            bed.clone(),
            BedView {
                state: Some(to),
                last_change: Some(self.at),
            },
        );
        self.decision.steps.push(BedStep {
            bed: bed.clone(),
            to,
            reason,
        });
    }

    fn is_stale(&mut self, bed: &BedKey) -> bool {
        let stale = self
            .view(bed)
            .last_change
            .is_some_and(|last| self.at < last && last - self.at >= self.precision);
        if stale {
            self.decision
                .notes
                .push(format!("bed {bed} changed after this event; left as it is"));
        }
        stale
    }

    /// The feed says a patient is in `bed`.
    fn occupy(&mut self, bed: &BedKey, why: &str) -> Result<(), Refusal> {
        if self.is_stale(bed) {
            return Ok(());
        }
        match self.view(bed).state {
            None => return Err(Refusal::BedNotOpen(bed.clone())),
            Some(BedState::Occupied) => {
                self.decision
                    .notes
                    .push(format!("bed {bed} is already occupied"));
            }
            Some(BedState::Available | BedState::Reserved) => {
                self.step(bed, BedState::Occupied, why.to_owned());
            }
            Some(BedState::AwaitingClean) => {
                self.step(
                    bed,
                    BedState::Available,
                    format!("{why}: the patient is in the bed before its cleaning was recorded"),
                );
                self.step(bed, BedState::Occupied, why.to_owned());
            }
            Some(BedState::Closed) => {
                self.step(
                    bed,
                    BedState::Available,
                    format!("{why}: the hospital system placed a patient in a closed bed, so the closure is lifted"),
                );
                self.step(bed, BedState::Occupied, why.to_owned());
            }
        }
        Ok(())
    }

    /// The feed says the patient left `bed`.
    fn vacate(&mut self, bed: &BedKey, why: &str) {
        if self.is_stale(bed) {
            return;
        }
        match self.view(bed).state {
            Some(BedState::Occupied) => self.step(bed, BedState::AwaitingClean, why.to_owned()),
            Some(other) => self.decision.notes.push(format!(
                "bed {bed} is already {}; left as staff set it",
                other.as_str()
            )),
            None => self.decision.notes.push(format!("bed {bed} is not open")),
        }
    }

    fn visit(&mut self, number: &Option<String>, entry: Option<VisitEntry>) {
        if let Some(number) = number {
            self.decision.visits.push((number.clone(), entry));
        }
    }

    fn note(&mut self, text: &str) {
        self.decision.notes.push(text.to_owned());
    }
}

fn admitted(bed: Option<BedKey>, previous_bed: Option<BedKey>) -> Option<VisitEntry> {
    Some(VisitEntry {
        status: VisitStatus::Admitted,
        bed,
        previous_bed,
    })
}

/// Decides what `event` changes, given the visit index (`visits`: visit
/// number → entry) and the beds' current records (`beds`).
pub fn decide(
    event: &FeedEvent,
    visits: &dyn Fn(&str) -> Option<VisitEntry>,
    beds: &dyn Fn(&BedKey) -> BedView,
) -> Result<Decision, Refusal> {
    let mut plan = Plan {
        at: event.at,
        precision: event.precision,
        beds,
        overlay: HashMap::new(),
        decision: Decision::default(),
    };
    let known = event.visit_number.as_deref().and_then(visits);
    let assigned = event.assigned.as_ref().and_then(BedKey::of);
    let prior = event.prior.as_ref().and_then(BedKey::of);
    let number = &event.visit_number;
    match event.trigger {
        Trigger::Admit | Trigger::OutpatientToInpatient => {
            if event.assigned.is_none() {
                return Err(Refusal::NoLocation("an admission"));
            }
            match &assigned {
                Some(bed) => plan.occupy(bed, "admitted (ADT)")?,
                None => plan.note("admitted to a ward without a bed: no bed changes"),
            }
            plan.visit(number, admitted(assigned.clone(), None));
        }
        Trigger::Transfer => {
            if event.assigned.is_none() {
                return Err(Refusal::NoLocation("a transfer"));
            }
            let from = prior.or_else(|| known.as_ref().and_then(|v| v.bed.clone()));
            if let Some(from) = &from
                && Some(from) != assigned.as_ref()
            {
                plan.vacate(from, "transferred out (ADT)");
            }
            if let Some(to) = &assigned {
                plan.occupy(to, "transferred in (ADT)")?;
            }
            plan.visit(number, admitted(assigned.clone(), from));
        }
        Trigger::Discharge | Trigger::InpatientToOutpatient => {
            let from = assigned.or_else(|| known.as_ref().and_then(|v| v.bed.clone()));
            match &from {
                Some(bed) => plan.vacate(bed, "discharged (ADT)"),
                None => plan.note("discharged from no known bed: no bed changes"),
            }
            plan.visit(
                number,
                Some(VisitEntry {
                    status: VisitStatus::Discharged,
                    bed: None,
                    previous_bed: from,
                }),
            );
        }
        Trigger::Update => match (&known, &assigned) {
            (Some(visit), Some(new))
                if visit.status == VisitStatus::Admitted && visit.bed.as_ref() != Some(new) =>
            {
                if let Some(old) = &visit.bed {
                    plan.vacate(old, "moved out (ADT update)");
                }
                plan.occupy(new, "moved in (ADT update)")?;
                plan.visit(number, admitted(Some(new.clone()), visit.bed.clone()));
            }
            _ => plan.note("no location change"),
        },
        Trigger::CancelAdmit => {
            let bed = known.as_ref().and_then(|v| v.bed.clone()).or(assigned);
            match &bed {
                Some(bed) => plan.vacate(bed, "admission cancelled (ADT)"),
                None => plan.note("the cancelled admission's bed is not known: no bed changes"),
            }
            plan.visit(number, None);
        }
        Trigger::CancelTransfer => {
            let current = known.as_ref().and_then(|v| v.bed.clone()).or(prior);
            let back = known
                .as_ref()
                .and_then(|v| v.previous_bed.clone())
                .or(assigned);
            match (&current, &back) {
                (Some(current), Some(back)) if current != back => {
                    plan.vacate(current, "transfer cancelled (ADT)");
                    plan.occupy(back, "transfer cancelled, back in the bed (ADT)")?;
                }
                (_, Some(back)) => {
                    plan.occupy(back, "transfer cancelled, back in the bed (ADT)")?
                }
                _ => plan.note("the cancelled transfer's beds are not known: no bed changes"),
            }
            plan.visit(number, admitted(back, None));
        }
        Trigger::CancelDischarge => {
            let bed = known
                .as_ref()
                .and_then(|v| v.previous_bed.clone())
                .or(assigned);
            match &bed {
                Some(bed) => plan.occupy(bed, "discharge cancelled (ADT)")?,
                None => plan.note("the cancelled discharge's bed is not known: no bed changes"),
            }
            plan.visit(number, admitted(bed, None));
        }
        Trigger::Swap => {
            // Both beds stay occupied; only who is where changes.
            let (other_number, other_location) = event.other.clone().unwrap_or((None, None));
            let other_bed = other_location.as_ref().and_then(BedKey::of);
            for bed in [&assigned, &other_bed].into_iter().flatten() {
                plan.occupy(bed, "patients swapped (ADT)")?;
            }
            plan.visit(number, admitted(assigned.clone(), None));
            plan.visit(&other_number, admitted(other_bed, None));
        }
        Trigger::BedStatus => {
            let Some((location, status)) = &event.bed_status else {
                return Err(Refusal::NoLocation("a bed status update"));
            };
            let Some(bed) = BedKey::of(location) else {
                return Err(Refusal::NoLocation("a bed status update"));
            };
            let target = match status.as_str() {
                "U" => BedState::Available,
                "O" => {
                    return plan
                        .occupy(&bed, "occupied (ADT bed status)")
                        .map(|()| plan.decision);
                }
                "H" => BedState::AwaitingClean,
                "C" | "I" | "K" => BedState::Closed,
                other => return Err(Refusal::UnknownBedStatus(other.chars().take(10).collect())),
            };
            if !plan.is_stale(&bed) {
                match plan.view(&bed).state {
                    None => return Err(Refusal::BedNotOpen(bed)),
                    Some(current) => match current.check_transition(target) {
                        Ok(()) => plan.step(&bed, target, format!("bed status {status} (ADT)")),
                        Err(cause) => plan
                            .decision
                            .notes
                            .push(format!("bed {bed}: {cause}; left as it is")),
                    },
                }
            }
        }
        Trigger::LeaveOut => {
            plan.note("leave of absence: the bed stays held and counted as occupied");
            if let Some(visit) = known {
                plan.visit(
                    number,
                    Some(VisitEntry {
                        status: VisitStatus::OnLeave,
                        ..visit
                    }),
                );
            }
        }
        Trigger::LeaveReturn => {
            plan.note("back from leave: the bed was held");
            if let Some(visit) = known {
                plan.visit(
                    number,
                    Some(VisitEntry {
                        status: VisitStatus::Admitted,
                        ..visit
                    }),
                );
            }
        }
        Trigger::Register | Trigger::PreAdmit => plan.note("no bed changes for this event"),
        Trigger::Merge => plan.note("patient records merged: visits and beds unchanged"),
        Trigger::Other => plan.note("this event is not used by Patient Flow"),
    }
    Ok(plan.decision)
}
