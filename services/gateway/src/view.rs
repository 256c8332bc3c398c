//! What the control room shows: bed totals and occupancy, computed here so
//! that pages only place numbers.

use std::collections::BTreeMap;

use pf_hospital_model::{BedKind, BedState, Catalogue, SiteKind};
use pf_live_state::Counters;
use serde::Serialize;

/// Bed counts by state, with occupancy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BedCounts {
    /// Beds in the bed base (core and escalation).
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
    /// Occupied ÷ usable (total − closed) × 100, one decimal; `None` with no usable beds.
    pub occupancy_pct: Option<f64>,
    /// Escalation beds open.
    pub escalation_open: i64,
    /// Escalation beds occupied.
    pub escalation_occupied: i64,
}

/// Counts for one bed kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindCounts {
    /// Machine name.
    pub kind: BedKind,
    /// Words for people.
    pub label: &'static str,
    /// The counts.
    #[serde(flatten)]
    pub counts: BedCounts,
}

/// Counts for a site or the system, overall and by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    /// All kinds together.
    #[serde(flatten)]
    pub counts: BedCounts,
    /// Each kind with beds.
    pub by_kind: Vec<KindCounts>,
}

/// One site on the wall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteView {
    /// ODS site code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Trust short name.
    pub trust: String,
    /// Site kind.
    pub kind: Option<SiteKind>,
    /// Local authority area.
    pub locality: String,
    /// Its beds.
    #[serde(flatten)]
    pub totals: Totals,
}

/// Who a site is, for display.
#[derive(Debug, Clone)]
pub struct SiteLabel {
    /// Name.
    pub name: String,
    /// Trust short name.
    pub trust: String,
    /// Site kind.
    pub kind: Option<SiteKind>,
    /// Local authority area.
    pub locality: String,
    /// Position in the catalogue (display order).
    pub order: usize,
}

/// Site labels from the catalogue.
pub fn site_labels(catalogue: &Catalogue) -> BTreeMap<String, SiteLabel> {
    let mut labels = BTreeMap::new();
    let mut order = 0;
    for trust in &catalogue.trusts {
        for site in &trust.sites {
            labels.insert(
                site.code.to_string(),
                SiteLabel {
                    name: site.name.clone(),
                    trust: trust.short_name.clone(),
                    kind: Some(site.kind),
                    locality: site.locality.clone(),
                    order,
                },
            );
            order += 1;
        }
    }
    labels
}

/// Totals from counters (`{kind}:{state}[:escalation]` → beds).
pub fn totals(counters: &Counters) -> Totals {
    let mut all = BedCounts::default();
    let mut kinds: BTreeMap<BedKind, BedCounts> = BTreeMap::new();
    for (field, &beds) in counters {
        if beds == 0 {
            continue;
        }
        let mut parts = field.split(':');
        let (Some(kind), Some(state)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(kind), Ok(state)) = (kind.parse::<BedKind>(), state.parse::<BedState>()) else {
            continue;
        };
        let escalation = parts.next() == Some("escalation");
        add(&mut all, state, escalation, beds);
        add(kinds.entry(kind).or_default(), state, escalation, beds);
    }
    finish(&mut all);
    Totals {
        counts: all,
        by_kind: kinds
            .into_iter()
            .map(|(kind, mut counts)| {
                finish(&mut counts);
                KindCounts {
                    kind,
                    label: kind.label(),
                    counts,
                }
            })
            .collect(),
    }
}

fn add(counts: &mut BedCounts, state: BedState, escalation: bool, beds: i64) {
    counts.total += beds;
    match state {
        BedState::Available => counts.available += beds,
        BedState::Occupied => counts.occupied += beds,
        BedState::AwaitingClean => counts.awaiting_clean += beds,
        BedState::Reserved => counts.reserved += beds,
        BedState::Closed => counts.closed += beds,
    }
    if escalation {
        counts.escalation_open += beds;
        if state == BedState::Occupied {
            counts.escalation_occupied += beds;
        }
    }
}

fn finish(counts: &mut BedCounts) {
    let usable = counts.total - counts.closed;
    counts.occupancy_pct = if usable > 0 {
        Some((counts.occupied as f64 * 1000.0 / usable as f64).round() / 10.0)
    } else {
        None
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(pairs: &[(&str, i64)]) -> Counters {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    #[test]
    fn occupancy_leaves_closed_beds_out_and_counts_escalation_separately() {
        let t = totals(&counters(&[
            ("general_acute:occupied", 90),
            ("general_acute:available", 5),
            ("general_acute:closed", 5),
            ("general_acute:occupied:escalation", 3),
            ("general_acute:available:escalation", 1),
            ("adult_critical_care:occupied", 10),
            ("adult_critical_care:available", 0),
        ]));
        assert_eq!(t.counts.total, 114);
        assert_eq!(t.counts.occupied, 103);
        assert_eq!(t.counts.escalation_open, 4);
        assert_eq!(t.counts.escalation_occupied, 3);
        // 103 / (114 - 5) = 94.495… → 94.5
        assert_eq!(t.counts.occupancy_pct, Some(94.5));
        assert_eq!(t.by_kind.len(), 2);
        assert_eq!(t.by_kind[0].kind, BedKind::GeneralAcute);
        assert_eq!(t.by_kind[1].counts.occupancy_pct, Some(100.0));
    }

    #[test]
    fn no_usable_beds_means_no_occupancy() {
        let t = totals(&counters(&[("community:closed", 4)]));
        assert_eq!(t.counts.occupancy_pct, None);
        assert_eq!(totals(&Counters::new()).counts.occupancy_pct, None);
    }
}
