//! The pure decision logic of the discharge flow: who becomes ready for
//! discharge, on which pathway, from where, and how long each step takes;
//! unit-tested without a server.
//!
//! Patients are synthetic: NHS numbers from the range kept for testing
//! (999 000 0000 to 999 999 9999, with a valid check digit), a sex, a ward of
//! an acute site or a community hospital of the region's catalogue, a
//! Discharge Ready Date in the last ten days, a pathway (about half 0, 45%
//! 1, a few 2 and 3), for pathways 2 and 3 the care needed, a postcode of
//! one of the region's districts to search from, and a delay reason that
//! fits the pathway.

use std::time::Duration;

use pf_discharge_model::NhsNumber;
use pf_hospital_model::{BedKind, Catalogue};
use pf_region::Region;
use rand::Rng;
use rand::seq::IndexedRandom as _;
use serde::Serialize;
use time::Date;

/// Letters an inward code may end with (never C, I, K, M, O or V).
const INWARD_LETTERS: &[u8] = b"ABDEFGHJLNPQRSTUWXYZ";

/// The postcode districts patients live in (or searches centre on): every
/// district of the region.
pub fn home_districts(region: &Region) -> Vec<String> {
    region
        .localities
        .iter()
        .flat_map(|l| l.postcode_districts.iter().map(|d| d.district.clone()))
        .collect()
}

/// A postcode in one of `districts` with an invented inward code.
fn home_postcode(districts: &[String], rng: &mut impl Rng) -> Option<String> {
    let district = districts.choose(rng)?;
    let letter = |rng: &mut _| char::from(*INWARD_LETTERS.choose(rng).unwrap_or(&b'A'));
    let digit = rng.random_range(0..10u8);
    Some(format!(
        "{district} {digit}{}{}",
        letter(&mut *rng),
        letter(&mut *rng)
    ))
}

/// Long-term care for pathway 3, weighted (residential and nursing, with and
/// without dementia, make almost all of it).
const LONG_TERM: &[(&str, u32)] = &[
    ("residential", 35),
    ("residential_dementia", 25),
    ("nursing", 22),
    ("nursing_dementia", 15),
    ("learning_disability_residential", 2),
    ("mental_health_residential", 1),
];

/// Short-term bed-based recovery for pathway 2.
const SHORT_STAY: &[&str] = &[
    "short_stay_discharge_to_assess",
    "short_stay_intermediate_care",
];

/// Why a patient on pathway 0 or 1 still waits.
const HOME_DELAYS: &[&str] = &[
    "not_yet_known",
    "awaiting_package_of_care",
    "awaiting_assessment",
    "awaiting_transport",
    "awaiting_medication",
    "awaiting_equipment",
    "patient_or_family_choice",
    "housing",
];

/// Why a patient on pathway 2 or 3 still waits.
const BED_DELAYS: &[&str] = &[
    "awaiting_care_home_place",
    "awaiting_care_home_place",
    "awaiting_assessment",
    "awaiting_funding_decision",
    "awaiting_community_bed",
    "patient_or_family_choice",
    "safeguarding",
];

/// Care needs in a few words (shared with care homes: no identifiers).
const NEEDS: &[&str] = &[
    "Walks with a frame; needs help with washing",
    "Hoist transfers, two carers",
    "Lives alone; falls at home",
    "Insulin-dependent diabetes, needs prompting",
    "Pressure care, repositioning every four hours",
    "Mild confusion at night",
    "Catheter care",
    "Independent with a stick",
    "Needs help with meals",
    "Oxygen at night",
];

/// Why a home declines a patient.
pub const DECLINE_REASONS: &[&str] = &[
    "We cannot meet the patient's needs at the moment",
    "The bed is not suitable for hoist transfers",
    "Staffing: we cannot admit this week",
    "We need a fuller assessment before we can accept",
    "The family chose another home",
];

/// Why a patient leaves the list without being discharged.
pub const CANCEL_REASONS: &[&str] = &[
    "No longer medically optimised",
    "Condition deteriorated; back under acute care",
    "Transferred to another trust",
];

/// One ward patients become ready for discharge on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WardPick {
    /// The trust (`RWE`, `RT5`).
    pub trust: String,
    /// The site code (`RWEAA`).
    pub site: String,
    /// The ward code (`WD15`).
    pub ward: String,
}

/// The wards of every trust's acute and community sites (no virtual
/// wards, maternity, children's or mental-health wards), in catalogue order.
pub fn discharge_wards(catalogue: &Catalogue) -> Vec<WardPick> {
    let mut wards = Vec::new();
    for trust in &catalogue.trusts {
        for site in &trust.sites {
            for ward in site
                .wards
                .iter()
                .filter(|w| matches!(w.kind, BedKind::GeneralAcute | BedKind::Community))
            {
                wards.push(WardPick {
                    trust: trust.code.clone(),
                    site: site.code.to_string(),
                    ward: ward.code.to_string(),
                });
            }
        }
    }
    wards
}

/// A referral, as `POST /api/v1/discharges` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referral {
    /// Ten digits, from the test range.
    pub nhs_number: String,
    /// `male` or `female`.
    pub sex: &'static str,
    /// Site code.
    pub site: String,
    /// Ward code.
    pub ward: String,
    /// `YYYY-MM-DD`.
    pub discharge_ready_date: String,
    /// `0` to `3`.
    pub pathway: String,
    /// A care category (pathways 2 and 3), else empty.
    #[serde(skip_serializing_if = "str::is_empty")]
    pub care_needed: &'static str,
    /// Where the search centres (every patient has a home postcode).
    pub search_postcode: String,
    /// A delay-reason word.
    pub delay_reason: &'static str,
    /// Care needs in a few words.
    pub needs: &'static str,
}

impl Referral {
    /// The pathway number.
    pub fn pathway_number(&self) -> u32 {
        self.pathway.parse().unwrap_or(0)
    }
}

/// A pathway: about 50% 0, 45% 1, 3% 2 and 2% 3 (per 1000: 500, 450, 30, 20).
pub fn pathway(rng: &mut impl Rng) -> u32 {
    match rng.random_range(0..1000) {
        0..500 => 0,
        500..950 => 1,
        950..980 => 2,
        _ => 3,
    }
}

/// The care needed on `pathway`: a short stay for 2, long-term care for 3,
/// none for 0 and 1.
pub fn care_needed(pathway: u32, rng: &mut impl Rng) -> &'static str {
    match pathway {
        2 => SHORT_STAY
            .choose(rng)
            .copied()
            .unwrap_or("short_stay_discharge_to_assess"),
        3 => {
            let total: u32 = LONG_TERM.iter().map(|(_, w)| w).sum();
            let mut pick = rng.random_range(0..total);
            for (category, weight) in LONG_TERM {
                if pick < *weight {
                    return category;
                }
                pick -= weight;
            }
            "residential"
        }
        _ => "",
    }
}

/// A new referral for a patient on one of `wards` living in one of
/// `districts`, ready `0..=max_days_ago` days before `today`.
pub fn referral(
    wards: &[WardPick],
    districts: &[String],
    today: Date,
    max_days_ago: u32,
    rng: &mut impl Rng,
) -> Option<Referral> {
    let ward = wards.choose(rng)?;
    let search_postcode = home_postcode(districts, rng)?;
    let pathway = pathway(rng);
    let days_ago = rng.random_range(0..=max_days_ago);
    let ready = today
        .checked_sub(time::Duration::days(i64::from(days_ago)))
        .unwrap_or(today);
    let delays = if pathway >= 2 {
        BED_DELAYS
    } else {
        HOME_DELAYS
    };
    Some(Referral {
        nhs_number: NhsNumber::test_number(rng.random_range(0..1_000_000))
            .as_str()
            .to_owned(),
        sex: if rng.random_bool(0.55) {
            "female"
        } else {
            "male"
        },
        site: ward.site.clone(),
        ward: ward.ward.clone(),
        discharge_ready_date: format!(
            "{:04}-{:02}-{:02}",
            ready.year(),
            u8::from(ready.month()),
            ready.day()
        ),
        pathway: pathway.to_string(),
        care_needed: care_needed(pathway, rng),
        search_postcode,
        delay_reason: delays.choose(rng).copied().unwrap_or("not_yet_known"),
        needs: NEEDS.choose(rng).copied().unwrap_or(""),
    })
}

/// How long the steps of the flow take at speed 1.0 (a simulated day in
/// about eight minutes); each is drawn between its bounds and divided by
/// the speed.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Ready to discharged home (pathways 0 and 1).
    pub home: (Duration, Duration),
    /// Ready to the first search for a bed (pathways 2 and 3).
    pub first_search: (Duration, Duration),
    /// Hold requested to the home's answer.
    pub answer: (Duration, Duration),
    /// Hold accepted to the patient leaving for the home.
    pub transfer: (Duration, Duration),
    /// No match, or declined: to the next search.
    pub search_again: (Duration, Duration),
}

/// The timings of the demo.
pub const TIMINGS: Timings = Timings {
    home: (Duration::from_secs(120), Duration::from_secs(900)),
    first_search: (Duration::from_secs(10), Duration::from_secs(90)),
    answer: (Duration::from_secs(10), Duration::from_secs(45)),
    transfer: (Duration::from_secs(20), Duration::from_secs(120)),
    search_again: (Duration::from_secs(30), Duration::from_secs(120)),
};

/// A delay between `bounds`, at `speed`.
pub fn delay((low, high): (Duration, Duration), speed: f64, rng: &mut impl Rng) -> Duration {
    let secs = if high > low {
        rng.random_range(low.as_secs_f64()..high.as_secs_f64())
    } else {
        low.as_secs_f64()
    };
    Duration::from_secs_f64(secs / speed.max(f64::MIN_POSITIVE))
}

/// Whether a home accepts a requested hold (about 80%).
pub fn accepts(rng: &mut impl Rng) -> bool {
    rng.random_bool(0.8)
}

/// Whether a patient due a step leaves the list instead (about 2%).
pub fn cancelled(rng: &mut impl Rng) -> bool {
    rng.random_bool(0.02)
}

/// The chance that a new patient becomes ready on one tick: likelier while
/// fewer than `target` wait, so the list stays around its size.
pub fn arrival_chance(waiting: usize, target: usize) -> f64 {
    if waiting < target { 0.9 } else { 0.25 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_discharge_model::ReferralInput;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use time::macros::date;

    fn wards() -> Vec<WardPick> {
        discharge_wards(&Catalogue::llr().expect("catalogue"))
    }

    fn check(r: &Referral, today: Date) -> Result<(), String> {
        let input = ReferralInput {
            nhs_number: r.nhs_number.clone(),
            sex: r.sex.to_owned(),
            ward: r.ward.clone(),
            discharge_ready_date: r.discharge_ready_date.clone(),
            pathway: r.pathway.clone(),
            care_needed: r.care_needed.to_owned(),
            search_postcode: r.search_postcode.to_owned(),
            funding: String::new(),
            preferred_home: String::new(),
            delay_reason: r.delay_reason.to_owned(),
            needs: r.needs.to_owned(),
        };
        let trust = &r.site[..3];
        input
            .check(
                "d".into(),
                trust,
                &r.site,
                trust,
                today,
                &Region::built_in(),
            )
            .map(|_| ())
            .map_err(|p| format!("{:?}", p.problems))
    }

    #[test]
    fn wards_are_acute_and_community_wards_of_both_trusts() {
        let wards = wards();
        assert!(wards.iter().any(|w| w.trust == "RWE"));
        assert!(wards.iter().any(|w| w.trust == "RT5"));
        assert!(wards.iter().all(|w| w.site.starts_with(&w.trust)));
        assert!(
            !wards
                .iter()
                .any(|w| w.site == "RWEVW" || w.site == "RT5VW" || w.site == "RT5BG"),
            "no virtual or mental-health wards"
        );
    }

    #[test]
    fn every_referral_passes_the_referral_rules() {
        let wards = wards();
        let districts = home_districts(&Region::built_in());
        let today = date!(2026 - 11 - 28);
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let r = referral(&wards, &districts, today, 10, &mut rng).expect("wards");
            check(&r, today).unwrap_or_else(|p| panic!("{r:?}: {p}"));
            let number = NhsNumber::parse(&r.nhs_number).expect("valid NHS number");
            assert!(number.is_test_number(), "{}", r.nhs_number);
            let ready =
                pf_discharge_model::record::parse_date(&r.discharge_ready_date).expect("date");
            assert!(ready <= today && ready >= date!(2026 - 11 - 18), "{ready}");
        }
    }

    #[test]
    fn the_pathway_mix_is_mostly_home() {
        let mut rng = StdRng::seed_from_u64(11);
        let mut counts = [0u32; 4];
        let n = 20_000;
        for _ in 0..n {
            counts[pathway(&mut rng) as usize] += 1;
        }
        let share = |p: usize| f64::from(counts[p]) / f64::from(n);
        assert!((0.47..0.53).contains(&share(0)), "{counts:?}");
        assert!((0.42..0.48).contains(&share(1)), "{counts:?}");
        assert!((0.015..0.045).contains(&share(2)), "{counts:?}");
        assert!((0.01..0.035).contains(&share(3)), "{counts:?}");
    }

    #[test]
    fn care_fits_the_pathway() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..500 {
            assert_eq!(care_needed(0, &mut rng), "");
            assert_eq!(care_needed(1, &mut rng), "");
            assert!(care_needed(2, &mut rng).starts_with("short_stay_"));
            let long = care_needed(3, &mut rng);
            assert!(
                !long.is_empty() && !long.starts_with("short_stay_"),
                "{long}"
            );
            assert!(
                long.parse::<pf_care_home_model::CareCategory>().is_ok(),
                "{long}"
            );
        }
    }

    #[test]
    fn patients_live_in_the_region() {
        let region = Region::built_in();
        let districts = home_districts(&region);
        assert_eq!(districts.len(), 21);
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..500 {
            let postcode = home_postcode(&districts, &mut rng).expect("districts");
            assert!(region.place_of(&postcode).is_some(), "{postcode}");
        }
        assert_eq!(home_postcode(&[], &mut rng), None);
    }

    #[test]
    fn delays_scale_with_speed() {
        let mut rng = StdRng::seed_from_u64(5);
        for _ in 0..100 {
            let d = delay(TIMINGS.answer, 1.0, &mut rng);
            assert!(d >= TIMINGS.answer.0 && d < TIMINGS.answer.1);
            let fast = delay(TIMINGS.answer, 10.0, &mut rng);
            assert!(fast < TIMINGS.answer.1 / 10 + Duration::from_millis(1));
        }
        assert!(arrival_chance(10, 120) > arrival_chance(130, 120));
    }
}
