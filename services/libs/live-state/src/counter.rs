//! The bed counters: how beds are counted in Redis, defined once.
//!
//! A ward's, a site's and the system's counters are hashes whose fields are
//! [`CounterField`]s, `{kind}:{state}` for core beds and
//! `{kind}:{state}:escalation` for escalation beds, each → the number of
//! beds. [`CounterField::to_field`] writes that text and
//! [`CounterField::parse`] reads it; nothing else in the platform builds or
//! splits it. Figures (totals, occupancy) are summed from counters with
//! [`figures`], into `pf_hospital_model`'s [`KindFigures`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use pf_hospital_model::{BedKind, BedState, KindFigures};

/// The suffix of an escalation bed's counter field.
const ESCALATION: &str = "escalation";

/// One counter of beds: of a kind, in a state, core or escalation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterField {
    /// The beds' kind.
    pub kind: BedKind,
    /// Their state.
    pub state: BedState,
    /// Whether they are escalation beds.
    pub escalation: bool,
}

/// A counter field that is not `{kind}:{state}[:escalation]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a bed counter field ({{kind}}:{{state}}[:escalation])")]
pub struct CounterFieldError(pub String);

impl CounterField {
    /// The counter a bed of `kind` in `state` counts in.
    pub fn new(kind: BedKind, state: BedState, escalation: bool) -> Self {
        Self {
            kind,
            state,
            escalation,
        }
    }

    /// The field as stored: `{kind}:{state}` or `{kind}:{state}:escalation`.
    pub fn to_field(&self) -> String {
        let mut field = format!("{}:{}", self.kind.as_str(), self.state.as_str());
        if self.escalation {
            field.push(':');
            field.push_str(ESCALATION);
        }
        field
    }

    /// Reads a stored field.
    pub fn parse(field: &str) -> Result<Self, CounterFieldError> {
        let bad = || CounterFieldError(field.to_owned());
        let mut parts = field.split(':');
        let kind = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let state = parts.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let escalation = match parts.next() {
            None => false,
            Some(ESCALATION) => true,
            Some(_) => return Err(bad()),
        };
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(Self::new(kind, state, escalation))
    }
}

impl fmt::Display for CounterField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_field())
    }
}

impl FromStr for CounterField {
    type Err = CounterFieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Counters of some scope: beds by counter field.
pub type Counters = BTreeMap<CounterField, i64>;

/// Adds `other` to `counters`.
pub fn add_counters(counters: &mut Counters, other: &Counters) {
    for (field, beds) in other {
        *counters.entry(*field).or_default() += beds;
    }
}

/// A scope's figures by bed kind, from its counters.
pub fn figures(counters: &Counters) -> KindFigures {
    let mut figures = KindFigures::default();
    for (field, &beds) in counters {
        if beds != 0 {
            figures.add(field.kind, field.state, field.escalation, beds);
        }
    }
    figures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_field_round_trips() {
        for kind in BedKind::ALL {
            for state in BedState::ALL {
                for escalation in [false, true] {
                    let field = CounterField::new(kind, state, escalation);
                    assert_eq!(CounterField::parse(&field.to_field()), Ok(field));
                    assert_eq!(field.to_string(), field.to_field());
                }
            }
        }
        assert_eq!(
            CounterField::new(BedKind::GeneralAcute, BedState::AwaitingClean, false).to_field(),
            "general_acute:awaiting_clean"
        );
        assert_eq!(
            CounterField::new(BedKind::VirtualWard, BedState::Occupied, true).to_field(),
            "virtual_ward:occupied:escalation"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for garbage in [
            "",
            "general_acute",
            "general_acute:",
            "general_acute:full",
            "ward:occupied",
            "general_acute:occupied:core",
            "general_acute:occupied:escalation:x",
            "occupied",
        ] {
            assert!(CounterField::parse(garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn figures_are_summed_by_kind() {
        let field = |kind, state, escalation| CounterField::new(kind, state, escalation);
        let counters: Counters = [
            (field(BedKind::GeneralAcute, BedState::Occupied, false), 9),
            (field(BedKind::GeneralAcute, BedState::Closed, false), 2),
            (field(BedKind::GeneralAcute, BedState::Occupied, true), 1),
            (field(BedKind::Community, BedState::Available, false), 4),
            (field(BedKind::Maternity, BedState::Available, false), 0),
        ]
        .into_iter()
        .collect();
        let figures = figures(&counters);
        let ga = figures.kind(BedKind::GeneralAcute).expect("G&A");
        assert_eq!((ga.total, ga.usable(), ga.occupied), (12, 10, 10));
        assert_eq!(ga.escalation_open, 1);
        assert_eq!(figures.all().occupancy_pct(), Some(71.4));
        assert_eq!(
            figures.kind(BedKind::Maternity),
            None,
            "zeros leave no kind"
        );
    }
}
