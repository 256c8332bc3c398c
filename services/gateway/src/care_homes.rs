//! What the control room shows of care homes: vacancies by category and
//! locality, homes closed or not accepting hospital discharges, and how many
//! homes' figures are stale. Aggregates only.

use std::collections::BTreeMap;
use std::time::Duration;

use pf_care_home_model::{CareCategory, CareHomeRecord, LocalityCode};
use pf_region::Locality;
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
    /// Available beds by locality, in the order of
    /// [`CareHomesView::localities`].
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
    pub locality: LocalityCode,
    /// Words for people.
    pub label: String,
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
    let age = time::Duration::try_from(stale_after).unwrap_or(time::Duration::MAX);
    record.is_stale(now, age)
}

/// The view of `homes` at `now`, locality by locality in the region's
/// order (a home in a locality the region does not list comes after them,
/// under its code).
pub fn view<'a>(
    homes: impl Iterator<Item = &'a CareHomeRecord>,
    now: OffsetDateTime,
    stale_after: Duration,
    region_localities: &[Locality],
) -> CareHomesView {
    let homes: Vec<&CareHomeRecord> = homes.collect();
    let mut order: Vec<(LocalityCode, String)> = region_localities
        .iter()
        .map(|l| (l.code.clone(), l.name.clone()))
        .collect();
    for record in &homes {
        let code = &record.registration.locality;
        if !order.iter().any(|(known, _)| known == code) {
            order.push((code.clone(), code.to_string()));
        }
    }
    let slot_of = |code: &LocalityCode| order.iter().position(|(known, _)| known == code);
    let mut system = CareHomeCounts::default();
    let mut localities = vec![CareHomeCounts::default(); order.len()];
    let mut categories: BTreeMap<CareCategory, CategoryCounts> = BTreeMap::new();
    for record in homes {
        let Some(slot) = slot_of(&record.registration.locality) else {
            continue; // every home's locality was added to `order` above
        };
        let open = record.closure.is_none();
        let stale = is_stale(record, now, stale_after);
        for counts in [&mut system, &mut localities[slot]] {
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
                    available_by_locality: vec![0; order.len()],
                    available: 0,
                    vacant: 0,
                });
            if !open {
                continue;
            }
            let available = record.free_beds(vacancy.category);
            entry.available += available;
            entry.vacant += vacancy.vacant;
            if let Some(by_locality) = entry.available_by_locality.get_mut(slot) {
                *by_locality += available;
            }
            for counts in [&mut system, &mut localities[slot]] {
                counts.vacant += vacancy.vacant;
                counts.available += available;
            }
        }
    }
    CareHomesView {
        stale_after_hours: stale_after.as_secs() / 3600,
        system,
        localities: order
            .into_iter()
            .zip(localities)
            .map(|((locality, label), counts)| LocalityCounts {
                locality,
                label,
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
        locality: &str,
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
            locality: LocalityCode::parse(locality).expect("code"),
            registered_beds: 20,
            categories: vec![CareCategory::Nursing],
            phone: None,
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
            "rutland",
            2,
            Some(now - time::Duration::hours(2)),
        );
        let old = home(
            "1-000000002",
            "rutland",
            3,
            Some(now - time::Duration::hours(30)),
        );
        let mut closed = home("1-000000003", "leicester_city", 5, Some(now));
        closed.closure = Some(Closure {
            reason: ClosureReason::Outbreak,
            detail: String::new(),
        });
        let view = view(
            [&fresh, &old, &closed].into_iter(),
            now,
            Duration::from_secs(24 * 3600),
            &pf_region::Region::built_in().localities,
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

    #[test]
    fn localities_are_the_regions_in_its_order_with_strays_after_them() {
        let region = pf_region::Region::from_json(
            "region.json",
            r#"{ "ics": { "code": "QZZ", "name": "Test Shire", "short_name": "TS ICB" },
                 "example_postcode": "ZZ1 1AA",
                 "localities": [
                   { "code": "south", "name": "South Vale", "postcode_districts": [
                     { "district": "ZZ1", "latitude": 54.0, "longitude": -2.0 }] },
                   { "code": "north", "name": "North Fells" } ] }"#,
        )
        .expect("valid region");
        let now = datetime!(2026-11-30 12:00 UTC);
        let north = home("1-000000001", "north", 2, Some(now));
        let stray = home("1-000000002", "elsewhere", 1, Some(now));
        let view = view(
            [&north, &stray].into_iter(),
            now,
            Duration::from_secs(3600),
            &region.localities,
        );
        let shown: Vec<(&str, &str, u32)> = view
            .localities
            .iter()
            .map(|l| (l.locality.as_str(), l.label.as_str(), l.counts.available))
            .collect();
        assert_eq!(
            shown,
            [
                ("south", "South Vale", 0),
                ("north", "North Fells", 2),
                ("elsewhere", "elsewhere", 1)
            ]
        );
        assert_eq!(view.categories[0].available_by_locality, vec![0, 2, 1]);
    }
}
