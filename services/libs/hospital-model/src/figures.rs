//! Bed figures and the occupancy rule, defined once.
//!
//! Every figure the platform shows or scores about beds is summed here from
//! beds counted by kind, state and escalation: the projection's occupancy
//! history, the wall (gateway), OPEL (pressure) and the simulator all use
//! [`BedFigures`] and [`Occupancy`], so "occupancy" means one thing:
//! beds occupied ÷ beds usable, where a usable bed is one in the bed base
//! (open) and not closed, core and escalation alike.
//!
//! This is domain arithmetic with no storage in it, so it lives beside
//! [`BedKind`] and [`BedState`]; how the counts are kept in Redis (the
//! counter field format) is `pf-live-state`'s business.

use std::collections::BTreeMap;

use crate::bed::{BedKind, BedState};

/// The bed kinds of "G&A occupancy" (`ga_occupancy_pct` on the wall and in
/// OPEL): general and acute beds, core and escalation. The one place that
/// says which kinds the figure covers.
pub const GA_KINDS: &[BedKind] = &[BedKind::GeneralAcute];

/// Beds occupied out of beds usable: the occupancy of a set of beds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Occupancy {
    /// Beds with a patient.
    pub occupied: i64,
    /// Beds in the bed base and not closed.
    pub usable: i64,
}

impl Occupancy {
    /// What one bed adds: nothing while it is out of the bed base (`None`),
    /// one usable bed unless closed, one occupied bed when occupied.
    pub fn of_bed(state: Option<BedState>) -> Self {
        match state {
            None | Some(BedState::Closed) => Self::default(),
            Some(BedState::Occupied) => Self {
                occupied: 1,
                usable: 1,
            },
            Some(_) => Self {
                occupied: 0,
                usable: 1,
            },
        }
    }

    /// Occupied ÷ usable, between 0 and 1; `None` with no usable beds.
    pub fn fraction(&self) -> Option<f64> {
        (self.usable > 0).then(|| self.occupied as f64 / self.usable as f64)
    }

    /// Occupied ÷ usable × 100, rounded to one decimal; `None` with no
    /// usable beds. The percentage every page, chart and OPEL score uses.
    pub fn pct(&self) -> Option<f64> {
        self.fraction()
            .map(|fraction| (fraction * 1000.0).round() / 10.0)
    }
}

/// Beds of some scope (a ward, a site, a trust, the system, one kind or
/// several) counted by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BedFigures {
    /// Beds in the bed base (core and escalation, any state).
    pub total: i64,
    /// Clean and empty.
    pub available: i64,
    /// With a patient.
    pub occupied: i64,
    /// Waiting for cleaning.
    pub awaiting_clean: i64,
    /// Kept for an expected admission.
    pub reserved: i64,
    /// Out of use.
    pub closed: i64,
    /// Escalation beds in the bed base and not closed.
    pub escalation_open: i64,
    /// Escalation beds occupied.
    pub escalation_occupied: i64,
}

impl BedFigures {
    /// Adds `beds` beds in `state` (escalation beds when `escalation`).
    pub fn add(&mut self, state: BedState, escalation: bool, beds: i64) {
        self.total += beds;
        match state {
            BedState::Available => self.available += beds,
            BedState::Occupied => self.occupied += beds,
            BedState::AwaitingClean => self.awaiting_clean += beds,
            BedState::Reserved => self.reserved += beds,
            BedState::Closed => self.closed += beds,
        }
        if escalation && state != BedState::Closed {
            self.escalation_open += beds;
            if state == BedState::Occupied {
                self.escalation_occupied += beds;
            }
        }
    }

    /// Adds another scope's figures to these.
    pub fn add_figures(&mut self, other: &BedFigures) {
        self.total += other.total;
        self.available += other.available;
        self.occupied += other.occupied;
        self.awaiting_clean += other.awaiting_clean;
        self.reserved += other.reserved;
        self.closed += other.closed;
        self.escalation_open += other.escalation_open;
        self.escalation_occupied += other.escalation_occupied;
    }

    /// Beds usable: in the bed base and not closed.
    pub fn usable(&self) -> i64 {
        self.total - self.closed
    }

    /// Occupied out of usable.
    pub fn occupancy(&self) -> Occupancy {
        Occupancy {
            occupied: self.occupied,
            usable: self.usable(),
        }
    }

    /// Occupancy %, one decimal; `None` with no usable beds (see
    /// [`Occupancy::pct`]).
    pub fn occupancy_pct(&self) -> Option<f64> {
        self.occupancy().pct()
    }
}

/// A scope's figures by bed kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindFigures {
    /// Each kind with beds counted (a kind never counted is absent).
    pub by_kind: BTreeMap<BedKind, BedFigures>,
}

impl KindFigures {
    /// Adds `beds` beds of `kind` in `state`.
    pub fn add(&mut self, kind: BedKind, state: BedState, escalation: bool, beds: i64) {
        self.by_kind
            .entry(kind)
            .or_default()
            .add(state, escalation, beds);
    }

    /// Adds another scope's figures to these.
    pub fn add_figures(&mut self, other: &KindFigures) {
        for (kind, figures) in &other.by_kind {
            self.by_kind.entry(*kind).or_default().add_figures(figures);
        }
    }

    /// Every kind together.
    pub fn all(&self) -> BedFigures {
        self.of(&BedKind::ALL)
    }

    /// The kinds in `kinds` together (e.g. [`GA_KINDS`]).
    pub fn of(&self, kinds: &[BedKind]) -> BedFigures {
        let mut sum = BedFigures::default();
        for kind in kinds {
            if let Some(figures) = self.by_kind.get(kind) {
                sum.add_figures(figures);
            }
        }
        sum
    }

    /// One kind's figures, if any of its beds were counted.
    pub fn kind(&self, kind: BedKind) -> Option<&BedFigures> {
        self.by_kind.get(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occupancy_is_occupied_over_usable_to_one_decimal() {
        let occupancy = |occupied, usable| Occupancy { occupied, usable };
        assert_eq!(occupancy(2, 3).pct(), Some(66.7));
        assert_eq!(occupancy(1, 3).pct(), Some(33.3));
        assert_eq!(occupancy(103, 109).pct(), Some(94.5));
        assert_eq!(occupancy(20, 20).pct(), Some(100.0));
        assert_eq!(occupancy(0, 4).pct(), Some(0.0));
        assert_eq!(occupancy(3, 4).fraction(), Some(0.75));
    }

    #[test]
    fn no_usable_beds_means_no_occupancy() {
        assert_eq!(Occupancy::default().pct(), None);
        assert_eq!(Occupancy::default().fraction(), None);
        let mut closed = BedFigures::default();
        closed.add(BedState::Closed, false, 4);
        assert_eq!(closed.usable(), 0);
        assert_eq!(closed.occupancy_pct(), None);
    }

    #[test]
    fn closed_beds_are_not_usable_and_escalation_beds_count_in_both() {
        let mut figures = BedFigures::default();
        figures.add(BedState::Occupied, false, 90);
        figures.add(BedState::Available, false, 5);
        figures.add(BedState::Closed, false, 5);
        figures.add(BedState::Occupied, true, 3);
        figures.add(BedState::Available, true, 1);
        figures.add(BedState::Closed, true, 2);
        assert_eq!(figures.total, 106);
        assert_eq!(figures.usable(), 99);
        assert_eq!(figures.escalation_open, 4);
        assert_eq!(figures.escalation_occupied, 3);
        // 93 / 99 = 93.93… → 93.9
        assert_eq!(figures.occupancy_pct(), Some(93.9));
    }

    #[test]
    fn a_bed_adds_to_occupancy_by_its_state() {
        let cases = [
            (None, (0, 0)),
            (Some(BedState::Closed), (0, 0)),
            (Some(BedState::Available), (0, 1)),
            (Some(BedState::AwaitingClean), (0, 1)),
            (Some(BedState::Reserved), (0, 1)),
            (Some(BedState::Occupied), (1, 1)),
        ];
        for (state, (occupied, usable)) in cases {
            assert_eq!(
                Occupancy::of_bed(state),
                Occupancy { occupied, usable },
                "{state:?}"
            );
            // The same as counting the one bed into figures.
            let mut figures = BedFigures::default();
            if let Some(state) = state {
                figures.add(state, false, 1);
            }
            assert_eq!(figures.occupancy(), Occupancy::of_bed(state), "{state:?}");
        }
    }

    #[test]
    fn kinds_are_summed_as_asked() {
        let mut kinds = KindFigures::default();
        kinds.add(BedKind::GeneralAcute, BedState::Occupied, false, 9);
        kinds.add(BedKind::GeneralAcute, BedState::Available, false, 1);
        kinds.add(BedKind::AdultCriticalCare, BedState::Occupied, false, 5);
        assert_eq!(kinds.of(GA_KINDS).occupancy_pct(), Some(90.0));
        assert_eq!(kinds.all().occupied, 14);
        assert_eq!(kinds.all().occupancy_pct(), Some(93.3));
        assert_eq!(kinds.kind(BedKind::Community), None);
        let mut twice = kinds.clone();
        twice.add_figures(&kinds);
        assert_eq!(twice.all().total, 30);
    }
}
