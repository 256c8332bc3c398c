//! Fast-forward history: weeks of believable past written straight into
//! the event streams, so a fresh platform has something to forecast from.
//!
//! [`generate`] walks the region hour by hour from `weeks` ago to the
//! current hour and makes the events a real region would have made: beds
//! opened, admissions (a daily curve in UK time, quieter weekends, a Monday
//! surge, bank holidays like Sundays with a busier day after, a winter
//! rise, day-to-day noise), discharges (mostly between 10:00 and 19:00,
//! fewer at weekends), cleans, patients becoming ready for discharge and
//! leaving by pathway, care homes reporting vacancies, an outbreak that
//! closes a cluster of homes for a fortnight, and regime changes the
//! forecaster is not told about (a site's admissions rise for good, the
//! region's discharges get quicker). [`History::regime_weeks`] says where
//! they are, for the backtest to report them separately.
//!
//! [`write`] publishes the events with the same shapes the services write,
//! straight to JetStream (not through the HTTP edge: no rate limits and no
//! audit records, since no person did anything), each with the header
//! `Pf-Synthetic: history`. It refuses streams that already hold events:
//! history is for a fresh platform, not to be mixed with real events.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Range;

use async_nats::jetstream::{self, context::PublishAckFuture, message::PublishMessage};
use pf_care_home_model::{
    CareCategory, CareHomeRecord, ClosureReason, Confirmation, Register, SexAccepted, Vacancy,
    VacancyReport, report::Closure,
};
use pf_event_log::streams;
use pf_hl7_adt::timestamp::is_summer_time;
use pf_hospital_model::{BedKind, BedState, Catalogue, GA_KINDS};
use pf_proto::NewEvent;
use pf_proto::v1::{self, EventEnvelope, event_envelope::Payload};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::{Date, Duration, Month, OffsetDateTime, Weekday};

/// The header that marks an event as synthetic history.
pub const SYNTHETIC_HEADER: &str = "Pf-Synthetic";

/// The service name on every history event's source.
pub const SERVICE: &str = "simulator-history";

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct HistoryPlan {
    /// Weeks of history before `end`.
    pub weeks: u32,
    /// Seed of every random choice: the same seed makes the same history.
    pub seed: u64,
    /// The hour history ends at (exclusive); the current hour by default.
    pub end: OffsetDateTime,
}

/// One event and where it goes.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Its subject.
    pub subject: String,
    /// The event.
    pub event: EventEnvelope,
}

/// Generated history: the events in time order, and what the generator
/// knows that the forecaster is not told.
#[derive(Debug, Clone)]
pub struct History {
    /// The start of the first hour.
    pub start: OffsetDateTime,
    /// Hours of history.
    pub hours: usize,
    /// Every event, oldest first.
    pub events: Vec<Planned>,
    /// The hours (indices from `start`) of the week after each regime
    /// change.
    pub regime_weeks: Vec<Range<usize>>,
    /// The hours the outbreak kept homes closed.
    pub outbreak: Range<usize>,
}

/// Why history could not be written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The streams already hold events.
    #[error(
        "stream {stream} already holds {events} events: history is only written to a fresh platform"
    )]
    NotFresh {
        /// The stream.
        stream: &'static str,
        /// Its events.
        events: u64,
    },
    /// NATS refused or did not answer.
    #[error("could not write history to NATS: {0}")]
    Nats(String),
}

/// How many events were written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Events stored.
    pub stored: u64,
    /// Events JetStream already had (same id).
    pub duplicates: u64,
}

/// The bank holidays of England and Wales in `year` (with substitute days).
pub fn bank_holidays(year: i32) -> Vec<Date> {
    let mut days = Vec::new();
    let date = |m: Month, d: u8| Date::from_calendar_date(year, m, d).ok();
    let weekday_on_or_after = |d: Date| {
        let mut d = d;
        while matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            d = d.next_day().unwrap_or(d);
        }
        d
    };
    if let Some(new_year) = date(Month::January, 1) {
        days.push(weekday_on_or_after(new_year));
    }
    if let Some(easter) = easter_sunday(year) {
        days.push(easter - Duration::days(2));
        days.push(easter + Duration::days(1));
    }
    let first_monday = |m: Month| {
        let mut d = date(m, 1)?;
        while d.weekday() != Weekday::Monday {
            d = d.next_day()?;
        }
        Some(d)
    };
    let last_monday = |m: Month, last: u8| {
        let mut d = date(m, last)?;
        while d.weekday() != Weekday::Monday {
            d = d.previous_day()?;
        }
        Some(d)
    };
    days.extend(first_monday(Month::May));
    days.extend(last_monday(Month::May, 31));
    days.extend(last_monday(Month::August, 31));
    if let (Some(christmas), Some(boxing)) = (date(Month::December, 25), date(Month::December, 26))
    {
        let c = weekday_on_or_after(christmas);
        let mut b = weekday_on_or_after(boxing);
        if b <= c {
            b = weekday_on_or_after(c + Duration::days(1));
        }
        days.push(c);
        days.push(b);
    }
    days
}

/// Easter Sunday (the anonymous Gregorian algorithm).
fn easter_sunday(year: i32) -> Option<Date> {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::from_calendar_date(year, Month::try_from(month as u8).ok()?, day as u8).ok()
}

/// The UK local hour and date of an instant.
fn uk_local(at: OffsetDateTime) -> (u8, Date) {
    let local = if is_summer_time(at) {
        at + Duration::hours(1)
    } else {
        at
    };
    (local.hour(), local.date())
}

/// Relative admissions by UK hour of day (mean 1): quiet small hours, a
/// late-morning rise, busiest in the afternoon and evening.
pub const ADMISSIONS_BY_HOUR: [f64; 24] = [
    0.55, 0.45, 0.40, 0.35, 0.35, 0.40, 0.50, 0.70, 0.95, 1.20, 1.35, 1.45, 1.50, 1.50, 1.50, 1.45,
    1.40, 1.35, 1.30, 1.20, 1.05, 0.90, 0.75, 0.65,
];

/// Relative discharges by UK hour of day (mean 1): almost none overnight,
/// most between 10:00 and 19:00.
const DISCHARGES_BY_HOUR: [f64; 24] = [
    0.10, 0.05, 0.05, 0.05, 0.05, 0.05, 0.10, 0.20, 0.50, 0.90, 1.40, 1.80, 2.00, 2.10, 2.20, 2.20,
    2.10, 1.90, 1.50, 1.10, 0.70, 0.40, 0.25, 0.15,
];

/// The winter rise: 1 in summer, up to 1.12 around 10 January.
fn winter(date: Date) -> f64 {
    let day = f64::from(date.ordinal());
    let wave = (2.0 * std::f64::consts::PI * (day - 10.0) / 365.25).cos();
    1.0 + 0.12 * wave.max(0.0)
}

/// A Poisson draw (Knuth below 30, a rounded normal above).
fn poisson(rng: &mut StdRng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean < 30.0 {
        let limit = (-mean).exp();
        let (mut k, mut p) = (0u32, 1.0);
        loop {
            p *= rng.random::<f64>();
            if p <= limit {
                return k;
            }
            k += 1;
        }
    }
    let normal: f64 = (0..12).map(|_| rng.random::<f64>()).sum::<f64>() - 6.0;
    (mean + normal * mean.sqrt()).round().max(0.0) as u32
}

/// One bed as the generator tracks it.
struct Bed {
    kind: BedKind,
    address: pf_hospital_model::BedAddress,
    state: BedState,
    version: u64,
}

/// One patient on a discharge list.
struct Waiting {
    record: v1::Discharge,
    version: u64,
    leaves_at: usize,
}

/// A site's figures the generator steers by.
struct SiteFlow {
    code: String,
    trust: String,
    ga_wards: Vec<String>,
    postcode: String,
    ga_beds: Vec<usize>,
    other_beds: Vec<usize>,
    /// Admissions a day at the start of history.
    daily_admissions: f64,
}

/// Generates `plan.weeks` weeks of history of the region in `catalogue`
/// and `register`.
pub fn generate(catalogue: &Catalogue, register: &Register, plan: &HistoryPlan) -> History {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let end = plan
        .end
        .replace_minute(0)
        .and_then(|t| t.replace_second(0))
        .and_then(|t| t.replace_nanosecond(0))
        .unwrap_or(plan.end);
    let hours = plan.weeks as usize * 168;
    let start = end - Duration::hours(hours as i64);
    let mut events: Vec<Planned> = Vec::new();
    let at_hour = |h: usize, rng: &mut StdRng| {
        start + Duration::hours(h as i64) + Duration::seconds(rng.random_range(0..3600))
    };

    // Beds: every core bed of the catalogue, opened before history starts.
    let mut beds: Vec<Bed> = Vec::new();
    let mut sites: Vec<SiteFlow> = Vec::new();
    let mut site_index: HashMap<String, usize> = HashMap::new();
    for trust in &catalogue.trusts {
        for site in &trust.sites {
            site_index.insert(site.code.as_str().to_owned(), sites.len());
            sites.push(SiteFlow {
                code: site.code.as_str().to_owned(),
                trust: trust.code.clone(),
                ga_wards: site
                    .wards
                    .iter()
                    .filter(|w| GA_KINDS.contains(&w.kind))
                    .map(|w| w.code.as_str().to_owned())
                    .collect(),
                postcode: site.postcode.clone(),
                ga_beds: Vec::new(),
                other_beds: Vec::new(),
                daily_admissions: 0.0,
            });
        }
    }
    for bed in catalogue.beds().into_iter().filter(|b| !b.escalation) {
        let Some(&s) = site_index.get(bed.address.site.as_str()) else {
            continue;
        };
        let index = beds.len();
        if GA_KINDS.contains(&bed.kind) {
            sites[s].ga_beds.push(index);
        } else {
            sites[s].other_beds.push(index);
        }
        beds.push(Bed {
            kind: bed.kind,
            address: bed.address,
            state: BedState::Available,
            version: 0,
        });
    }
    let opened_at = start - Duration::minutes(30);
    for bed in &mut beds {
        let payload = Payload::BedOpened(v1::BedOpened {
            bed: Some(bed.address.to_proto()),
            kind: bed.kind.to_proto() as i32,
            escalation: false,
            reason: "synthetic history".to_owned(),
        });
        push_bed(&mut events, bed, payload, opened_at);
    }
    // Starting occupancy: about 90% of G&A and 80% of other beds.
    for site in &mut sites {
        let ga = site.ga_beds.len() as f64;
        // A mean stay of about 4.5 days keeps 90% of the beds full.
        site.daily_admissions = ga * 0.90 / 4.5;
    }
    for site in &sites {
        for (list, share) in [(&site.ga_beds, 0.90), (&site.other_beds, 0.80)] {
            for &i in list {
                if rng.random::<f64>() < share {
                    change_bed(&mut events, &mut beds[i], BedState::Occupied, opened_at);
                }
            }
        }
    }

    // The regime changes: from 55% of the way, the busiest site's
    // admissions are 15% higher for good; from 80%, discharges everywhere
    // are 12% quicker (a discharge initiative).
    let admissions_shift_at = hours * 55 / 100;
    let discharge_shift_at = hours * 80 / 100;
    let busiest = (0..sites.len())
        .max_by_key(|&s| sites[s].ga_beds.len())
        .unwrap_or(0);
    let regime_weeks = vec![
        admissions_shift_at..(admissions_shift_at + 168).min(hours),
        discharge_shift_at..(discharge_shift_at + 168).min(hours),
    ];
    let outbreak = hours * 35 / 100..(hours * 35 / 100 + 16 * 24).min(hours);

    // Care homes: registered and first reports before history starts.
    let mut homes: Vec<(CareHomeRecord, u64)> = register
        .homes()
        .map(|r| (CareHomeRecord::registered(r.clone()), 0))
        .collect();
    let confirmed = |at: OffsetDateTime| Confirmation {
        at,
        by_id: SERVICE.to_owned(),
        by_name: "Synthetic history".to_owned(),
    };
    for (home, version) in &mut homes {
        let payload = Payload::CareHomeRegistered(v1::CareHomeRegistered {
            home: Some(home.to_proto()),
        });
        push_home(&mut events, home, version, payload, opened_at);
        let report = random_report(home, &mut rng, None);
        *home = home.with_report(&report, confirmed(opened_at));
        let payload = Payload::VacanciesReported(v1::VacanciesReported {
            home: Some(home.to_proto()),
            ..Default::default()
        });
        push_home(&mut events, home, version, payload, opened_at);
    }
    // The outbreak closes homes of one locality (about one in eight of them).
    let outbreak_locality = homes.first().map(|(h, _)| h.registration.locality.clone());
    let outbreak_homes: Vec<usize> = (0..homes.len())
        .filter(|&i| Some(&homes[i].0.registration.locality) == outbreak_locality.as_ref())
        .filter(|_| rng.random::<f64>() < 0.35)
        .take((homes.len() / 8).max(1))
        .collect();

    let mut cleaning: VecDeque<(usize, usize)> = VecDeque::new();
    let mut waiting: Vec<Vec<Waiting>> = (0..sites.len()).map(|_| Vec::new()).collect();
    let mut patients = 0u32;
    let holidays: Vec<Date> = (start.year()..=end.year())
        .flat_map(bank_holidays)
        .collect();
    let mut day_noise: BTreeMap<Date, f64> = BTreeMap::new();

    for h in 0..hours {
        let now = start + Duration::hours(h as i64);
        let (hour, date) = uk_local(now);
        let weekday = date.weekday();
        let holiday = holidays.contains(&date);
        let after_holiday = date.previous_day().is_some_and(|d| holidays.contains(&d));
        let weekend = matches!(weekday, Weekday::Saturday | Weekday::Sunday) || holiday;
        let noise = *day_noise
            .entry(date)
            .or_insert_with(|| 1.0 + (rng.random::<f64>() - 0.5) * 0.16);
        let mut admit_day = if weekend { 0.85 } else { 1.0 } * winter(date) * noise;
        if weekday == Weekday::Monday && !holiday {
            admit_day *= 1.15;
        }
        if after_holiday {
            admit_day *= 1.20;
        }
        let discharge_day =
            if weekend { 0.65 } else { 1.07 } * if h >= discharge_shift_at { 1.12 } else { 1.0 };

        // Cleans due this hour.
        while cleaning.front().is_some_and(|(due, _)| *due <= h) {
            if let Some((_, i)) = cleaning.pop_front() {
                let at = at_hour(h, &mut rng);
                change_bed(&mut events, &mut beds[i], BedState::Available, at);
            }
        }
        for s in 0..sites.len() {
            if sites[s].ga_beds.is_empty() {
                continue;
            }
            // Discharges: each occupied bed's patient leaves at a rate that
            // keeps a mean stay of about 4.5 days, shaped by the hour.
            let occupied: Vec<usize> = sites[s]
                .ga_beds
                .iter()
                .copied()
                .filter(|&i| beds[i].state == BedState::Occupied)
                .collect();
            let rate = occupied.len() as f64 / (4.5 * 24.0)
                * DISCHARGES_BY_HOUR[usize::from(hour)]
                * discharge_day;
            let leaving = (poisson(&mut rng, rate) as usize).min(occupied.len());
            // Patients on the discharge list whose day has come leave first.
            let due: Vec<usize> = waiting[s]
                .iter()
                .enumerate()
                .filter(|(_, w)| w.leaves_at <= h)
                .map(|(i, _)| i)
                .take(leaving)
                .collect();
            for i in due.into_iter().rev() {
                let mut patient = waiting[s].remove(i);
                let at = at_hour(h, &mut rng);
                patient.record.status = v1::DischargeStatus::Discharged as i32;
                patient.record.discharged_at = Some(pf_proto::envelope::timestamp(at));
                patient.record.destination =
                    if patient.record.pathway >= v1::Pathway::Pathway2 as i32 {
                        "care_home".to_owned()
                    } else {
                        "usual_residence".to_owned()
                    };
                let payload = Payload::PatientDischarged(v1::PatientDischarged {
                    discharge: Some(patient.record.clone()),
                });
                push_discharge(&mut events, &mut patient, payload, at);
            }
            let mut candidates = occupied;
            for _ in 0..leaving {
                if candidates.is_empty() {
                    break;
                }
                let pick = rng.random_range(0..candidates.len());
                let i = candidates.swap_remove(pick);
                let at = at_hour(h, &mut rng);
                change_bed(&mut events, &mut beds[i], BedState::AwaitingClean, at);
                cleaning.push_back((h + 1 + rng.random_range(0..2usize), i));
            }

            // Admissions into free beds.
            let shift = if s == busiest && h >= admissions_shift_at {
                1.15
            } else {
                1.0
            };
            let mean = sites[s].daily_admissions / 24.0
                * ADMISSIONS_BY_HOUR[usize::from(hour)]
                * admit_day
                * shift;
            let mut free: Vec<usize> = sites[s]
                .ga_beds
                .iter()
                .copied()
                .filter(|&i| beds[i].state == BedState::Available)
                .collect();
            for _ in 0..poisson(&mut rng, mean) {
                if free.is_empty() {
                    break;
                }
                let i = free.swap_remove(rng.random_range(0..free.len()));
                let at = at_hour(h, &mut rng);
                change_bed(&mut events, &mut beds[i], BedState::Occupied, at);
            }

            // Patients becoming ready for discharge (NCTR), in the day.
            if (8..18).contains(&hour) {
                let ready_mean = sites[s].daily_admissions * 0.25 / 10.0;
                for _ in 0..poisson(&mut rng, ready_mean) {
                    patients += 1;
                    let at = at_hour(h, &mut rng);
                    let roll = rng.random::<f64>();
                    let (pathway, days) = if roll < 0.40 {
                        (v1::Pathway::Pathway0, 0.5 + rng.random::<f64>())
                    } else if roll < 0.85 {
                        (v1::Pathway::Pathway1, 1.0 + 3.0 * rng.random::<f64>())
                    } else if roll < 0.97 {
                        (v1::Pathway::Pathway2, 3.0 + 5.0 * rng.random::<f64>())
                    } else {
                        (v1::Pathway::Pathway3, 5.0 + 9.0 * rng.random::<f64>())
                    };
                    let closed = outbreak.contains(&h) && pathway >= v1::Pathway::Pathway2;
                    let days = if closed { days + 5.0 } else { days };
                    let mut patient = Waiting {
                        record: discharge_record(&sites[s], patients, pathway, at, &mut rng),
                        version: 0,
                        leaves_at: h + (days * 24.0) as usize,
                    };
                    let payload = Payload::PatientReadyForDischarge(v1::PatientReadyForDischarge {
                        discharge: Some(patient.record.clone()),
                    });
                    push_discharge(&mut events, &mut patient, payload, at);
                    waiting[s].push(patient);
                }
            }
        }

        // Care homes: about one home in 30 reports each hour of the day.
        if (8..20).contains(&hour) {
            for (i, (home, version)) in homes.iter_mut().enumerate() {
                let starts = h == outbreak.start && outbreak_homes.contains(&i);
                let ends = h == outbreak.end.saturating_sub(1) && outbreak_homes.contains(&i);
                if !(starts || ends || rng.random::<f64>() < 1.0 / 30.0) {
                    continue;
                }
                let at = at_hour(h, &mut rng);
                let closure = if outbreak.contains(&h) && outbreak_homes.contains(&i) && !ends {
                    Some(Closure {
                        reason: ClosureReason::Outbreak,
                        detail: "Norovirus outbreak (synthetic history)".to_owned(),
                    })
                } else {
                    None
                };
                let was_closed = home.closure.is_some();
                let report = random_report(home, &mut rng, closure);
                let now_closed = report.closure.is_some();
                *home = home.with_report(&report, confirmed(at));
                let proto = home.to_proto();
                let payload = match (was_closed, now_closed) {
                    (false, true) => Payload::ClosedToAdmissions(v1::ClosedToAdmissions {
                        home: Some(proto),
                        ..Default::default()
                    }),
                    (true, false) => Payload::ReopenedToAdmissions(v1::ReopenedToAdmissions {
                        home: Some(proto),
                        ..Default::default()
                    }),
                    _ => Payload::VacanciesReported(v1::VacanciesReported {
                        home: Some(proto),
                        ..Default::default()
                    }),
                };
                push_home(&mut events, home, version, payload, at);
            }
        }
    }
    events.sort_by_key(|e| {
        e.event
            .occurred_at
            .as_ref()
            .map(|t| (t.seconds, t.nanos))
            .unwrap_or_default()
    });
    History {
        start,
        hours,
        events,
        regime_weeks,
        outbreak,
    }
}

/// A vacancy report: most categories 0-3 vacant beds, some none.
fn random_report(
    home: &CareHomeRecord,
    rng: &mut StdRng,
    closure: Option<Closure>,
) -> VacancyReport {
    VacancyReport {
        vacancies: home
            .registration
            .categories
            .iter()
            .map(|c| Vacancy {
                category: *c,
                vacant: if rng.random::<f64>() < 0.3 {
                    0
                } else {
                    rng.random_range(0..4)
                },
                unavailable: 0,
                sex: SexAccepted::Either,
            })
            .collect(),
        closure,
        accepting_hospital_discharges: true,
        note: String::new(),
        // Synthetic history gives vacancies only, as the simulator's live
        // reports do.
        capacity: None,
    }
}

fn discharge_record(
    site: &SiteFlow,
    n: u32,
    pathway: v1::Pathway,
    at: OffsetDateTime,
    rng: &mut StdRng,
) -> v1::Discharge {
    let ward = site
        .ga_wards
        .get(rng.random_range(0..site.ga_wards.len().max(1)))
        .cloned()
        .unwrap_or_default();
    let (_, date) = uk_local(at);
    let care = match pathway {
        v1::Pathway::Pathway2 => CareCategory::ShortStayDischargeToAssess,
        v1::Pathway::Pathway3 => CareCategory::Nursing,
        _ => CareCategory::Residential,
    };
    v1::Discharge {
        discharge_id: uuid::Uuid::now_v7().to_string(),
        nhs_number: pf_discharge_model::NhsNumber::test_number(500_000 + n)
            .as_str()
            .to_owned(),
        sex: if rng.random::<bool>() {
            v1::SexAccepted::Male as i32
        } else {
            v1::SexAccepted::Female as i32
        },
        trust: site.trust.clone(),
        site: site.code.clone(),
        ward,
        discharge_ready_date: pf_discharge_model::record::format_date(date),
        pathway: pathway as i32,
        care_needed: if pathway >= v1::Pathway::Pathway2 {
            care.to_proto() as i32
        } else {
            0
        },
        search_postcode: site.postcode.clone(),
        funding: v1::Funding::NotYetKnown as i32,
        delay_reason: "not_yet_known".to_owned(),
        status: v1::DischargeStatus::Ready as i32,
        managed_by: site.trust.clone(),
        ..Default::default()
    }
}

fn source(organisation: &str) -> v1::Source {
    v1::Source {
        organisation: organisation.to_owned(),
        service: SERVICE.to_owned(),
    }
}

fn actor(organisation: &str) -> v1::Actor {
    v1::Actor {
        id: SERVICE.to_owned(),
        organisation: organisation.to_owned(),
        kind: v1::ActorKind::Machine as i32,
    }
}

/// Seals an event at `at`: history was recorded when it happened.
fn seal(
    organisation: &str,
    entity_id: String,
    version: u64,
    payload: Payload,
    at: OffsetDateTime,
) -> EventEnvelope {
    NewEvent {
        source: source(organisation),
        entity_id,
        entity_version: version,
        occurred_at: Some(at),
        actor: actor(organisation),
        payload,
    }
    .seal(at)
}

fn push_bed(events: &mut Vec<Planned>, bed: &mut Bed, payload: Payload, at: OffsetDateTime) {
    bed.version += 1;
    let a = &bed.address;
    events.push(Planned {
        subject: streams::bed_subject(a.site.as_str(), a.ward.as_str(), a.bed.as_str()),
        event: seal(a.site.as_str(), a.entity_id(), bed.version, payload, at),
    });
}

fn change_bed(events: &mut Vec<Planned>, bed: &mut Bed, to: BedState, at: OffsetDateTime) {
    let payload = Payload::BedStateChanged(v1::BedStateChanged {
        bed: Some(bed.address.to_proto()),
        kind: bed.kind.to_proto() as i32,
        escalation: false,
        previous_state: bed.state.to_proto() as i32,
        state: to.to_proto() as i32,
        reason: String::new(),
    });
    bed.state = to;
    push_bed(events, bed, payload, at);
}

fn push_home(
    events: &mut Vec<Planned>,
    home: &CareHomeRecord,
    version: &mut u64,
    payload: Payload,
    at: OffsetDateTime,
) {
    *version += 1;
    let cqc = home.cqc().as_str().to_owned();
    events.push(Planned {
        subject: streams::care_home_subject(&cqc),
        event: seal(&cqc, format!("care-home/{cqc}"), *version, payload, at),
    });
}

fn push_discharge(
    events: &mut Vec<Planned>,
    patient: &mut Waiting,
    payload: Payload,
    at: OffsetDateTime,
) {
    patient.version += 1;
    let id = patient.record.discharge_id.clone();
    events.push(Planned {
        subject: streams::discharge_subject(&id),
        event: seal(
            &patient.record.trust,
            format!("discharge/{id}"),
            patient.version,
            payload,
            at,
        ),
    });
}

/// Events in flight before waiting for their acknowledgements.
const IN_FLIGHT: usize = 512;

/// Writes `history` to the streams, marked synthetic. Refuses streams that
/// already hold events.
pub async fn write(
    jetstream: &jetstream::Context,
    history: &History,
) -> Result<WriteReport, HistoryError> {
    for spec in streams::EVENT_STREAMS {
        let mut stream = jetstream
            .get_stream(spec.name)
            .await
            .map_err(|e| HistoryError::Nats(format!("{}: {e}", spec.name)))?;
        let info = stream
            .info()
            .await
            .map_err(|e| HistoryError::Nats(format!("{}: {e}", spec.name)))?;
        if info.state.messages > 0 {
            return Err(HistoryError::NotFresh {
                stream: spec.name,
                events: info.state.messages,
            });
        }
    }
    let mut report = WriteReport::default();
    let mut pending: Vec<PublishAckFuture> = Vec::with_capacity(IN_FLIGHT);
    for planned in &history.events {
        let message = PublishMessage::build()
            .payload(planned.event.to_bytes().into())
            .message_id(&planned.event.event_id)
            .header("Pf-Event-Type", planned.event.event_type.as_str())
            .header(SYNTHETIC_HEADER, "history");
        let ack = jetstream
            .send_publish(planned.subject.clone(), message)
            .await
            .map_err(|e| HistoryError::Nats(e.to_string()))?;
        pending.push(ack);
        if pending.len() >= IN_FLIGHT {
            settle(&mut pending, &mut report).await?;
        }
    }
    settle(&mut pending, &mut report).await?;
    Ok(report)
}

async fn settle(
    pending: &mut Vec<PublishAckFuture>,
    report: &mut WriteReport,
) -> Result<(), HistoryError> {
    for ack in pending.drain(..) {
        let ack = ack.await.map_err(|e| HistoryError::Nats(e.to_string()))?;
        if ack.duplicate {
            report.duplicates += 1;
        } else {
            report.stored += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bank_holidays_of_2026_are_the_published_ones() {
        let days: Vec<String> = bank_holidays(2026).iter().map(|d| d.to_string()).collect();
        assert_eq!(
            days,
            [
                "2026-01-01",
                "2026-04-03",
                "2026-04-06",
                "2026-05-04",
                "2026-05-25",
                "2026-08-31",
                "2026-12-25",
                "2026-12-28"
            ]
        );
    }

    #[test]
    fn a_week_of_history_has_a_daily_and_weekly_shape_and_valid_records() {
        let (Ok(catalogue), Ok(register)) = (Catalogue::llr(), Register::llr_demo()) else {
            panic!("the built-in region reads");
        };
        let plan = HistoryPlan {
            weeks: 2,
            seed: 7,
            end: time::macros::datetime!(2026-11-30 00:00 UTC),
        };
        let history = generate(&catalogue, &register, &plan);
        assert_eq!(history.hours, 336);
        let mut by_hour = [0u32; 24];
        let mut discharged = 0;
        for planned in &history.events {
            match &planned.event.payload {
                Some(Payload::BedStateChanged(c))
                    if c.state == v1::BedState::Occupied as i32
                        && c.previous_state == v1::BedState::Available as i32 =>
                {
                    let at = pf_proto::envelope::unix_millis(planned.event.occurred_at.as_ref());
                    if let Ok(t) = OffsetDateTime::from_unix_timestamp(at / 1000)
                        && t >= history.start
                    {
                        by_hour[usize::from(t.hour())] += 1;
                    }
                }
                Some(Payload::PatientDischarged(d)) => {
                    discharged += 1;
                    let record =
                        pf_discharge_model::DischargeRecord::from_proto(d.discharge.as_ref());
                    assert!(record.is_ok(), "{record:?}");
                }
                _ => {}
            }
        }
        assert!(
            by_hour[14] > 2 * by_hour[4],
            "afternoon {} vs small hours {}",
            by_hour[14],
            by_hour[4]
        );
        assert!(
            discharged > 50,
            "{discharged} patients left the discharge list"
        );
        assert!(history.events.iter().all(|p| {
            p.event
                .source
                .as_ref()
                .is_some_and(|s| s.service == SERVICE)
        }));
    }
}
