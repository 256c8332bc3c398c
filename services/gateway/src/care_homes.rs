//! What the control room shows of care homes: vacancies by category and
//! locality, homes closed or not accepting hospital discharges, and how many
//! homes' figures are stale. Aggregates only.

use std::collections::BTreeMap;
use std::time::Duration;

use pf_care_home_model::{CareCategory, CareHomeRecord, Locality};
use serde::Serialize;
use time::OffsetDateTime;

/// Figures for a group of homes (a locality or the system).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CareHomeCounts {
    /// Homes on the register.
    pub homes: u32,
    /// Closed to admissions.
    pub closed: u32,
    /// Open, but not taking patients straight from hospital.
    pub not_accepting: u32,
    /// Figures older than the staleness threshold (or never given).
    pub stale: u32,
    /// Vacant beds in open homes.
    pub vacant: u32,
    /// Vacant beds free to hold now (not unavailable, not held), in open homes.
    pub available: u32,
    /// Beds held for patients (requested or accepted).
    pub held: u32,
}

/// One category's beds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategoryCounts {
    /// Machine name.
    pub category: CareCategory,
    /// Words for people.
    pub label: &'static str,
    /// Available beds by locality, in [`Locality::ALL`] order.
    pub available_by_locality: Vec<u32>,
    /// Available beds in the system.
    pub available: u32,
    /// Vacant beds in the system (including unavailable ones).
    pub vacant: u32,
}

/// One locality.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocalityCounts {
    /// Machine name.
    pub locality: Locality,
    /// Words for people.
    pub label: &'static str,
    /// Its figures.
    #[serde(flatten)]
    pub counts: CareHomeCounts,
}

/// Care homes on the wall.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CareHomesView {
    /// Figures older than this many hours count as stale.
    pub stale_after_hours: u64,
    /// The whole system.
    pub system: CareHomeCounts,
    /// Each locality.
    pub localities: Vec<LocalityCounts>,
    /// Each category that any home offers, in the tracker's order.
    pub categories: Vec<CategoryCounts>,
}

/// Whether a home's figures are older than `stale_after` at `now` (or were
/// never given).
pub fn is_stale(record: &CareHomeRecord, now: OffsetDateTime, stale_after: Duration) -> bool {
    match &record.confirmed {
        None => true,
        Some(confirmed) => (now - confirmed.at) > stale_after,
    }
}

/// The view of `homes` at `now`.
pub fn view<'a>(
    homes: impl Iterator<Item = &'a CareHomeRecord>,
    now: OffsetDateTime,
    stale_after: Duration,
) -> CareHomesView {
    let mut system = CareHomeCounts::default();
    let mut localities: BTreeMap<Locality, CareHomeCounts> = Locality::ALL
        .iter()
        .map(|l| (*l, CareHomeCounts::default()))
        .collect();
    let mut categories: BTreeMap<CareCategory, CategoryCounts> = BTreeMap::new();
    for record in homes {
        let locality = record.registration.locality;
        let open = record.closure.is_none();
        let stale = is_stale(record, now, stale_after);
        let local = localities.entry(locality).or_default();
        for counts in [&mut system, local] {
            counts.homes += 1;
            counts.closed += u32::from(!open);
            counts.not_accepting += u32::from(open && !record.accepting_hospital_discharges);
            counts.stale += u32::from(stale);
            counts.held += u32::try_from(record.holds.len()).unwrap_or(u32::MAX);
        }
        for vacancy in &record.vacancies {
            let entry = categories
                .entry(vacancy.category)
                .or_insert_with(|| CategoryCounts {
                    category: vacancy.category,
                    label: vacancy.category.label(),
                    available_by_locality: vec![0; Locality::ALL.len()],
                    available: 0,
                    vacant: 0,
                });
            if !open {
                continue;
            }
            let available = record.free_beds(vacancy.category);
            entry.available += available;
            entry.vacant += vacancy.vacant;
            if let Some(slot) = Locality::ALL
                .iter()
                .position(|l| *l == locality)
                .and_then(|i| entry.available_by_locality.get_mut(i))
            {
                *slot += available;
            }
            for counts in [&mut system, localities.entry(locality).or_default()] {
                counts.vacant += vacancy.vacant;
                counts.available += available;
            }
        }
    }
    CareHomesView {
        stale_after_hours: stale_after.as_secs() / 3600,
        system,
        localities: localities
            .into_iter()
            .map(|(locality, counts)| LocalityCounts {
                locality,
                label: locality.label(),
                counts,
            })
            .collect(),
        categories: categories.into_values().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_care_home_model::{
        Closure, ClosureReason, Confirmation, CqcLocationId, Registration, SexAccepted, Vacancy,
    };
    use time::macros::datetime;

    fn home(
        id: &str,
        locality: Locality,
        available: u32,
        confirmed: Option<OffsetDateTime>,
    ) -> CareHomeRecord {
        let mut record = CareHomeRecord::registered(Registration {
            cqc_location_id: CqcLocationId::parse(id).expect("id"),
            name: "Test (demo)".into(),
            address: String::new(),
            postcode: "LE1 1AA".into(),
            latitude: 52.6,
            longitude: -1.1,
            locality,
            registered_beds: 20,
            categories: vec![CareCategory::Nursing],
        });
        record.vacancies = vec![Vacancy {
            category: CareCategory::Nursing,
            vacant: available + 1,
            unavailable: 1,
            sex: SexAccepted::Either,
        }];
        record.confirmed = confirmed.map(|at| Confirmation {
            at,
            by_id: "x".into(),
            by_name: "X".into(),
        });
        record
    }

    #[test]
    fn closed_homes_offer_no_beds_and_old_figures_are_stale() {
        let now = datetime!(2026-11-30 12:00 UTC);
        let fresh = home(
            "1-000000001",
            Locality::Rutland,
            2,
            Some(now - time::Duration::hours(2)),
        );
        let old = home(
            "1-000000002",
            Locality::Rutland,
            3,
            Some(now - time::Duration::hours(30)),
        );
        let mut closed = home("1-000000003", Locality::LeicesterCity, 5, Some(now));
        closed.closure = Some(Closure {
            reason: ClosureReason::Outbreak,
            detail: String::new(),
        });
        let view = view(
            [&fresh, &old, &closed].into_iter(),
            now,
            Duration::from_secs(24 * 3600),
        );
        assert_eq!(view.system.homes, 3);
        assert_eq!(view.system.available, 5);
        assert_eq!(view.system.vacant, 7);
        assert_eq!(view.system.closed, 1);
        assert_eq!(view.system.stale, 1);
        let nursing = &view.categories[0];
        assert_eq!(nursing.available_by_locality, vec![0, 0, 5]);
        assert_eq!(view.localities[2].counts.stale, 1);
    }
}
