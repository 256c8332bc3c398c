//! Events → hourly series: the history the forecasts learn from.
//!
//! The fold takes the platform's events in the order they happened
//! (`occurred_at`) and keeps, for every hour of the window, per site: G&A
//! admissions (a bed becoming occupied), discharges (an occupied bed
//! freed), discharges from the discharge list by pathway, and at the end of
//! the hour the occupied G&A beds and the patients with no criteria to
//! reside (NCTR); and for the system, care-home beds free to offer by
//! category (vacant less unavailable, homes closed to admissions count
//! none). Events before the window build the state without counting.

use std::collections::{BTreeMap, HashMap};

use pf_care_home_model::{CareCategory, CareHomeRecord};
use pf_hospital_model::{BedFigures, BedKind, BedState, Catalogue, GA_KINDS, SiteKind};
use pf_proto::envelope::unix_millis;
use pf_proto::v1::{self, EventEnvelope, event_envelope::Payload};
use time::OffsetDateTime;

/// The system scope's name.
pub const SYSTEM: &str = "system";

/// Which kind of scope a series is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// A hospital site (ODS site code).
    Site,
    /// An NHS trust (ODS code): its sites together.
    Trust,
    /// The whole region.
    System,
}

/// A scope the platform forecasts for.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Scope {
    /// `RWEAA`, `RWE` or `system`.
    pub code: String,
    /// Its name for people.
    pub name: String,
    /// Site, trust or system.
    pub kind: ScopeKind,
    /// The OPEL kind of site (`acute`, …; `system` for the system), when
    /// OPEL is computed for it.
    pub opel_kind: Option<String>,
}

/// The per-hour figures of one site.
#[derive(Debug, Clone, Default)]
pub struct SiteHours {
    /// G&A admissions per hour.
    pub admissions: Vec<f64>,
    /// G&A discharges (occupied beds freed) per hour.
    pub discharges: Vec<f64>,
    /// Discharges from the discharge list per hour, by pathway 0-3.
    pub pathway_discharges: [Vec<f64>; 4],
    /// Occupied G&A beds at the end of each hour.
    pub occupied: Vec<f64>,
    /// NCTR patients at the end of each hour.
    pub nctr: Vec<f64>,
}

impl SiteHours {
    fn new(hours: usize) -> Self {
        let zeros = vec![0.0; hours];
        Self {
            admissions: zeros.clone(),
            discharges: zeros.clone(),
            pathway_discharges: [zeros.clone(), zeros.clone(), zeros.clone(), zeros.clone()],
            occupied: zeros.clone(),
            nctr: zeros,
        }
    }

    fn add(&mut self, other: &SiteHours) {
        let sum = |a: &mut Vec<f64>, b: &Vec<f64>| {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        };
        sum(&mut self.admissions, &other.admissions);
        sum(&mut self.discharges, &other.discharges);
        for p in 0..4 {
            sum(
                &mut self.pathway_discharges[p],
                &other.pathway_discharges[p],
            );
        }
        sum(&mut self.occupied, &other.occupied);
        sum(&mut self.nctr, &other.nctr);
    }
}

/// What the fold knows at the end of the window: the series and the
/// latest figures that are held, not forecast.
#[derive(Debug, Clone)]
pub struct Folded {
    /// The start of the first hour.
    pub start: OffsetDateTime,
    /// Hours in the window.
    pub hours: usize,
    /// Every scope, the system first.
    pub scopes: Vec<Scope>,
    /// The hourly figures by scope code.
    pub by_scope: BTreeMap<String, SiteHours>,
    /// Care-home beds free to offer at the end of each hour, by category
    /// (system only).
    pub vacancies: BTreeMap<CareCategory, Vec<f64>>,
    /// Bed figures of G&A beds now, by scope (usable beds, escalation open).
    pub ga_beds: BTreeMap<String, BedFigures>,
    /// Events folded.
    pub events: usize,
    /// Events that were synthetic history.
    pub synthetic: usize,
}

/// One event to fold.
#[derive(Debug, Clone)]
pub struct Timed {
    /// When it happened (ms since the epoch).
    pub at_ms: i64,
    /// The event.
    pub event: EventEnvelope,
    /// Whether it was marked synthetic history.
    pub synthetic: bool,
}

impl Timed {
    /// An event, timed by its `occurred_at`.
    pub fn new(event: EventEnvelope, synthetic: bool) -> Self {
        Self {
            at_ms: unix_millis(event.occurred_at.as_ref()),
            event,
            synthetic,
        }
    }
}

struct Bed {
    site: String,
    kind: BedKind,
    escalation: bool,
    state: BedState,
}

/// The scopes of a catalogue: the system, each trust, each site.
pub fn scopes(catalogue: &Catalogue) -> Vec<Scope> {
    let mut scopes = vec![Scope {
        code: SYSTEM.to_owned(),
        name: format!("{} system", catalogue.region),
        kind: ScopeKind::System,
        opel_kind: Some("system".to_owned()),
    }];
    for trust in &catalogue.trusts {
        scopes.push(Scope {
            code: trust.code.clone(),
            name: trust.name.clone(),
            kind: ScopeKind::Trust,
            opel_kind: None,
        });
        for site in &trust.sites {
            let has_ga = site.wards.iter().any(|w| GA_KINDS.contains(&w.kind));
            scopes.push(Scope {
                code: site.code.as_str().to_owned(),
                name: site.name.clone(),
                kind: ScopeKind::Site,
                opel_kind: (has_ga && site.kind == SiteKind::Acute).then(|| "acute".to_owned()),
            });
        }
    }
    scopes
}

/// Folds `events` (any order) into hourly series over the `hours` hours
/// before `end` (the start of the current hour).
pub fn fold(
    catalogue: &Catalogue,
    mut events: Vec<Timed>,
    end: OffsetDateTime,
    hours: usize,
) -> Folded {
    events.sort_by_key(|e| e.at_ms);
    let start = end - time::Duration::hours(hours as i64);
    let start_ms = (start.unix_timestamp_nanos() / 1_000_000) as i64;
    let site_trust: HashMap<String, String> = catalogue
        .trusts
        .iter()
        .flat_map(|t| {
            t.sites
                .iter()
                .map(move |s| (s.code.as_str().to_owned(), t.code.clone()))
        })
        .collect();
    let mut sites: BTreeMap<String, SiteHours> = site_trust
        .keys()
        .map(|s| (s.clone(), SiteHours::new(hours)))
        .collect();
    let mut beds: HashMap<String, Bed> = HashMap::new();
    let mut occupied: HashMap<String, f64> = HashMap::new();
    let mut waiting: HashMap<String, String> = HashMap::new();
    let mut nctr: HashMap<String, f64> = HashMap::new();
    let mut homes: HashMap<String, CareHomeRecord> = HashMap::new();
    let mut vacancies: BTreeMap<CareCategory, Vec<f64>> = CareCategory::ALL
        .iter()
        .map(|c| (*c, vec![0.0; hours]))
        .collect();
    let mut synthetic = 0;
    let total = events.len();
    let mut hour = 0usize;
    let snapshot = |hour: usize,
                    sites: &mut BTreeMap<String, SiteHours>,
                    occupied: &HashMap<String, f64>,
                    nctr: &HashMap<String, f64>,
                    homes: &HashMap<String, CareHomeRecord>,
                    vacancies: &mut BTreeMap<CareCategory, Vec<f64>>| {
        for (site, figures) in sites.iter_mut() {
            figures.occupied[hour] = occupied.get(site).copied().unwrap_or(0.0);
            figures.nctr[hour] = nctr.get(site).copied().unwrap_or(0.0);
        }
        for home in homes.values() {
            if home.closure.is_some() {
                continue;
            }
            for v in &home.vacancies {
                if let Some(series) = vacancies.get_mut(&v.category) {
                    series[hour] += f64::from(v.available());
                }
            }
        }
    };
    for timed in events {
        let index = if timed.at_ms < start_ms {
            None
        } else {
            Some(((timed.at_ms - start_ms) / 3_600_000) as usize)
        };
        if index.is_some_and(|i| i >= hours) {
            break;
        }
        if let Some(i) = index {
            while hour < i {
                snapshot(hour, &mut sites, &occupied, &nctr, &homes, &mut vacancies);
                hour += 1;
            }
        }
        if timed.synthetic {
            synthetic += 1;
        }
        match &timed.event.payload {
            Some(Payload::BedOpened(o)) => {
                if let (Some(bed), Some(kind)) = (&o.bed, BedKind::from_proto(o.kind)) {
                    beds.insert(
                        timed.event.entity_id.clone(),
                        Bed {
                            site: bed.site.clone(),
                            kind,
                            escalation: o.escalation,
                            state: BedState::Available,
                        },
                    );
                }
            }
            Some(Payload::BedStateChanged(c)) => {
                let (Some(bed), Some(kind), Some(to)) = (
                    &c.bed,
                    BedKind::from_proto(c.kind),
                    BedState::from_proto(c.state),
                ) else {
                    continue;
                };
                let entry = beds.entry(timed.event.entity_id.clone()).or_insert(Bed {
                    site: bed.site.clone(),
                    kind,
                    escalation: c.escalation,
                    state: BedState::Available,
                });
                let from = entry.state;
                entry.state = to;
                if !GA_KINDS.contains(&kind) || from == to {
                    continue;
                }
                let count = occupied.entry(bed.site.clone()).or_insert(0.0);
                if to == BedState::Occupied {
                    *count += 1.0;
                    if let (Some(i), Some(site)) = (index, sites.get_mut(&bed.site)) {
                        site.admissions[i] += 1.0;
                    }
                } else if from == BedState::Occupied {
                    *count -= 1.0;
                    if let (Some(i), Some(site)) = (index, sites.get_mut(&bed.site)) {
                        site.discharges[i] += 1.0;
                    }
                }
            }
            Some(Payload::BedWithdrawn(w)) => {
                if let Some(bed) = beds.remove(&timed.event.entity_id)
                    && bed.state == BedState::Occupied
                    && GA_KINDS.contains(&bed.kind)
                    && let Some(count) = occupied.get_mut(&bed.site)
                {
                    *count -= 1.0;
                }
                let _ = w;
            }
            Some(payload) => {
                if let Some(Some(d)) = pf_discharge_model::record::discharge_in(payload) {
                    fold_discharge(d, payload, index, &mut waiting, &mut nctr, &mut sites);
                } else if let Some(Some(home)) = pf_care_home_model::record::home_in(payload)
                    && let Ok(record) = CareHomeRecord::from_proto(Some(home))
                {
                    homes.insert(home.cqc_location_id.clone(), record);
                }
            }
            None => {}
        }
    }
    while hour < hours {
        snapshot(hour, &mut sites, &occupied, &nctr, &homes, &mut vacancies);
        hour += 1;
    }

    let scopes = scopes(catalogue);
    let mut by_scope: BTreeMap<String, SiteHours> = BTreeMap::new();
    let mut system = SiteHours::new(hours);
    for (site, figures) in &sites {
        system.add(figures);
        if let Some(trust) = site_trust.get(site) {
            by_scope
                .entry(trust.clone())
                .or_insert_with(|| SiteHours::new(hours))
                .add(figures);
        }
    }
    by_scope.extend(sites);
    by_scope.insert(SYSTEM.to_owned(), system);

    let mut ga_beds: BTreeMap<String, BedFigures> = BTreeMap::new();
    for bed in beds.values().filter(|b| GA_KINDS.contains(&b.kind)) {
        let mut targets = vec![bed.site.clone(), SYSTEM.to_owned()];
        if let Some(trust) = site_trust.get(&bed.site) {
            targets.push(trust.clone());
        }
        for target in targets {
            ga_beds
                .entry(target)
                .or_default()
                .add(bed.state, bed.escalation, 1);
        }
    }
    Folded {
        start,
        hours,
        scopes,
        by_scope,
        vacancies,
        ga_beds,
        events: total,
        synthetic,
    }
}

fn fold_discharge(
    d: &v1::Discharge,
    payload: &Payload,
    index: Option<usize>,
    waiting: &mut HashMap<String, String>,
    nctr: &mut HashMap<String, f64>,
    sites: &mut BTreeMap<String, SiteHours>,
) {
    let still_waiting = d.status == v1::DischargeStatus::Ready as i32
        || d.status == v1::DischargeStatus::Searching as i32;
    let was_waiting = waiting.contains_key(&d.discharge_id);
    if still_waiting && !was_waiting {
        waiting.insert(d.discharge_id.clone(), d.site.clone());
        *nctr.entry(d.site.clone()).or_insert(0.0) += 1.0;
    } else if !still_waiting
        && was_waiting
        && let Some(site) = waiting.remove(&d.discharge_id)
    {
        *nctr.entry(site).or_insert(0.0) -= 1.0;
    }
    if let (Payload::PatientDischarged(_), Some(i)) = (payload, index)
        && let Some(site) = sites.get_mut(&d.site)
    {
        let pathway = match v1::Pathway::try_from(d.pathway) {
            Ok(v1::Pathway::Pathway0) => 0,
            Ok(v1::Pathway::Pathway1) => 1,
            Ok(v1::Pathway::Pathway2) => 2,
            Ok(v1::Pathway::Pathway3) => 3,
            _ => return,
        };
        site.pathway_discharges[pathway][i] += 1.0;
    }
}
