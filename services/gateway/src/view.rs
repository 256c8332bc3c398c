//! What the control room shows: bed totals and occupancy, computed here so
//! that pages only place numbers.

use std::collections::BTreeMap;

use pf_hospital_model::{BedFigures, BedKind, Catalogue, GA_KINDS, SiteKind};
use pf_live_state::{Counters, UrgentCareFigures};
use serde::Serialize;

use crate::discharge_figures::DischargeFigures;

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
    /// Occupied ÷ usable (total − closed) × 100, one decimal; `None` with
    /// no usable beds ([`BedFigures::occupancy_pct`]).
    pub occupancy_pct: Option<f64>,
    /// Escalation beds open (not closed).
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
    /// Occupancy of general and acute (G&A) beds.
    pub ga_occupancy_pct: Option<f64>,
    /// Occupancy of adult critical-care beds.
    pub critical_care_occupancy_pct: Option<f64>,
    /// Virtual-ward places with a patient.
    pub virtual_ward_occupied: i64,
    /// Virtual-ward places in use (total − closed).
    pub virtual_ward_capacity: i64,
    /// Virtual-ward occupancy.
    pub virtual_ward_occupancy_pct: Option<f64>,
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
    /// Its patients waiting to leave and today's discharges.
    #[serde(flatten)]
    pub discharges: DischargeFigures,
    /// Its ED and ambulance figures.
    #[serde(flatten)]
    pub urgent: UrgentCareFigures,
}

/// One trust: its sites added up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrustView {
    /// Trust short name (`UHL`).
    pub code: String,
    /// Its sites' beds.
    #[serde(flatten)]
    pub totals: Totals,
    /// Its sites' patients waiting to leave and today's discharges.
    #[serde(flatten)]
    pub discharges: DischargeFigures,
    /// Its sites' ED and ambulance figures.
    #[serde(flatten)]
    pub urgent: UrgentCareFigures,
}

/// The whole system on the wall.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemView {
    /// Every site's beds.
    #[serde(flatten)]
    pub totals: Totals,
    /// Every site's patients waiting to leave and today's discharges.
    #[serde(flatten)]
    pub discharges: DischargeFigures,
    /// Every site's ED and ambulance figures.
    #[serde(flatten)]
    pub urgent: UrgentCareFigures,
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
                    locality: site.locality_name.clone(),
                    order,
                },
            );
            order += 1;
        }
    }
    labels
}

/// Totals from counters: every figure summed by
/// [`pf_live_state::counter::figures`], every occupancy by
/// [`BedFigures::occupancy_pct`]. `ga_occupancy_pct` covers
/// [`GA_KINDS`], the kinds pressure's OPEL parameter of the same name
/// covers.
pub fn totals(counters: &Counters) -> Totals {
    let figures = pf_live_state::counter::figures(counters);
    let by_kind: Vec<KindCounts> = figures
        .by_kind
        .iter()
        .map(|(kind, figures)| KindCounts {
            kind: *kind,
            label: kind.label(),
            counts: BedCounts::from(figures),
        })
        .collect();
    let virtual_ward = figures
        .kind(BedKind::VirtualWard)
        .copied()
        .unwrap_or_default();
    Totals {
        ga_occupancy_pct: figures.of(GA_KINDS).occupancy_pct(),
        critical_care_occupancy_pct: figures
            .kind(BedKind::AdultCriticalCare)
            .and_then(BedFigures::occupancy_pct),
        virtual_ward_occupied: virtual_ward.occupied,
        virtual_ward_capacity: virtual_ward.usable(),
        virtual_ward_occupancy_pct: virtual_ward.occupancy_pct(),
        counts: BedCounts::from(&figures.all()),
        by_kind,
    }
}

impl From<&BedFigures> for BedCounts {
    fn from(figures: &BedFigures) -> Self {
        Self {
            total: figures.total,
            available: figures.available,
            occupied: figures.occupied,
            awaiting_clean: figures.awaiting_clean,
            reserved: figures.reserved,
            closed: figures.closed,
            occupancy_pct: figures.occupancy_pct(),
            escalation_open: figures.escalation_open,
            escalation_occupied: figures.escalation_occupied,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(pairs: &[(&str, i64)]) -> Counters {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().expect("a counter field"), *v))
            .collect()
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
        // G&A: 93 / (104 - 5) = 93.9…; critical care 10 / 10.
        assert_eq!(t.ga_occupancy_pct, Some(93.9));
        assert_eq!(t.critical_care_occupancy_pct, Some(100.0));
        assert_eq!(t.virtual_ward_occupancy_pct, None);
    }

    #[test]
    fn virtual_ward_places_count_apart_from_beds() {
        let t = totals(&counters(&[
            ("virtual_ward:occupied", 30),
            ("virtual_ward:available", 8),
            ("virtual_ward:closed", 2),
            ("general_acute:occupied", 5),
        ]));
        assert_eq!(t.virtual_ward_occupied, 30);
        assert_eq!(t.virtual_ward_capacity, 38);
        assert_eq!(t.virtual_ward_occupancy_pct, Some(78.9));
        assert_eq!(t.ga_occupancy_pct, Some(100.0));
    }

    #[test]
    fn no_usable_beds_means_no_occupancy() {
        let t = totals(&counters(&[("community:closed", 4)]));
        assert_eq!(t.counts.occupancy_pct, None);
        assert_eq!(totals(&Counters::new()).counts.occupancy_pct, None);
    }
}
