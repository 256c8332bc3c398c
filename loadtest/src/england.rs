//! A synthetic England: 42 ICSs, 140 acute trusts, 1,500 sites, about
//! 100,000 beds and 15,000 care homes, generated from a seed.
//!
//! Everything is invented (codes have the shape of ODS and CQC codes, names
//! say "synthetic"), and everything is in the shapes the platform reads: each
//! ICS is a [`Region`] with its localities and postcode districts, its trusts
//! and sites a [`Catalogue`], its homes [`Registration`]s, so one ICS can be
//! written out as a region data set ([`England::write_region`], the
//! `data/regions/<x>/` shape) and a gateway started for it, while the load
//! test publishes bed and care-home events for the whole country
//! ([`EnglandEvents`]) in the same shapes the producers publish.
//!
//! The same seed always gives the same data (a [`StdRng`] seeded once, the
//! country built in one fixed order).
//!
//! Sizes: [`ICSS`] ICSs, [`TRUSTS`] trusts, [`SITES`] sites and [`HOMES`]
//! care homes exactly; beds are drawn per ward (1 to 5 wards a site, 16 to
//! 28 core beds a ward, a few escalation beds on some), about 99,000 in all.

use std::collections::BTreeMap;
use std::path::Path;

use pf_care_home_model::{
    CareCategory, CareHomeRecord, Confirmation, CqcLocationId, LocalityCode, Registration,
    SexAccepted, Vacancy, VacancyReport,
};
use pf_hospital_model::{
    BedKind, Catalogue, SiteCode, SiteKind, SiteSpec, TrustSpec, WardCode, WardSpec,
};
use pf_proto::NewEvent;
use pf_proto::v1::event_envelope::Payload;
use pf_proto::v1::{self, Actor, ActorKind, Source};
use pf_region::{DataFile, District, Ics, Locality, Region, RegionFiles};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::Serialize;

use crate::beds::{BedCycle, Planned};

/// Integrated Care Systems in England.
pub const ICSS: usize = 42;
/// Acute trusts, spread over the ICSs (3 or 4 each).
pub const TRUSTS: usize = 140;
/// Hospital sites, spread over the trusts.
pub const SITES: usize = 1_500;
/// Care homes, spread over the ICSs.
pub const HOMES: usize = 15_000;
/// The beds aimed at; the drawn total lies within [`BEDS_TOLERANCE`] of it.
pub const BEDS_TARGET: u32 = 100_000;
/// How far the drawn number of beds may lie from [`BEDS_TARGET`] (a fraction).
pub const BEDS_TOLERANCE: f64 = 0.05;
/// The seed used when none is given.
pub const DEFAULT_SEED: u64 = 2026;

/// Organisation, service and actor of care-home events the load test publishes.
const SERVICE: &str = "loadtest";

/// Locality names; each ICS takes 3 to 6 of them, its code in front.
const LOCALITY_WORDS: [&str; 8] = [
    "north", "south", "east", "west", "central", "vale", "coast", "downs",
];
/// Words house names are made of.
const HOME_WORDS: [&str; 12] = [
    "Oak", "Willow", "Meadow", "Beech", "Cedar", "Rose", "Brook", "Field", "Holly", "Elm", "Ash",
    "Orchard",
];
const HOME_KINDS: [&str; 6] = ["House", "Lodge", "Court", "Manor", "View", "Grange"];
const WARD_KINDS: [(BedKind, &str); 4] = [
    (BedKind::GeneralAcute, "Medical"),
    (BedKind::GeneralAcute, "Surgical"),
    (BedKind::AdultCriticalCare, "Critical Care"),
    (BedKind::Paediatric, "Children's"),
];
const LETTERS: &[u8; 26] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// One synthetic ICS: its region, trusts and sites, and care homes.
#[derive(Debug, Clone)]
pub struct SyntheticIcs {
    /// The region (`region.json`): ICS, localities, postcode districts.
    pub region: Region,
    /// Its trusts and their sites (`sites.json`).
    pub catalogue: Catalogue,
    /// Its care homes (`care-homes.json`), in CQC-id order.
    pub homes: Vec<Registration>,
}

impl SyntheticIcs {
    /// The ICB's code (`QB3`).
    pub fn code(&self) -> &str {
        &self.region.ics.code
    }

    /// Its sites, trust by trust.
    pub fn sites(&self) -> impl Iterator<Item = &SiteSpec> {
        self.catalogue.sites()
    }

    /// Its beds (core and escalation).
    pub fn beds(&self) -> u32 {
        self.sites()
            .flat_map(|s| &s.wards)
            .map(|w| u32::from(w.beds) + u32::from(w.escalation_beds))
            .sum()
    }
}

/// The synthetic country.
#[derive(Debug, Clone)]
pub struct England {
    /// The seed it was built from.
    pub seed: u64,
    /// Every ICS, in code order.
    pub icss: Vec<SyntheticIcs>,
}

/// The region data set could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EnglandError {
    /// No ICS has that code.
    #[error("no synthetic ICS has the code `{code}` (they are {known})")]
    UnknownIcs {
        /// What was asked for.
        code: String,
        /// The codes there are.
        known: String,
    },
    /// A file could not be written.
    #[error("could not write {path}: {cause}")]
    Io {
        /// Which file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// A file could not be put into JSON.
    #[error("could not write {file} as JSON: {cause}")]
    Json {
        /// Which file.
        file: &'static str,
        /// Why.
        cause: serde_json::Error,
    },
    /// The built-in OPEL configuration could not be read.
    #[error(transparent)]
    Region(#[from] pf_region::RegionError),
}

/// Splits `total` into parts proportional to `weights` (largest remainder),
/// so the parts add up to `total` exactly.
fn apportion(total: usize, weights: &[f64]) -> Vec<usize> {
    let sum: f64 = weights.iter().sum();
    let exact: Vec<f64> = weights.iter().map(|w| w / sum * total as f64).collect();
    let mut parts: Vec<usize> = exact.iter().map(|x| x.floor() as usize).collect();
    let mut short = total - parts.iter().sum::<usize>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for i in order {
        if short == 0 {
            break;
        }
        parts[i] += 1;
        short -= 1;
    }
    parts
}

/// Two letters from a number below 676 (`0` → `AA`).
fn two_letters(n: usize) -> String {
    let (a, b) = (LETTERS[(n / 26) % 26], LETTERS[n % 26]);
    String::from_utf8_lossy(&[a, b]).into_owned()
}

impl England {
    /// England from `seed`.
    pub fn generate(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        // 3 trusts each, 4 for 14 of them chosen by the seed: 140 in all.
        let mut trusts_per_ics = vec![3usize; ICSS];
        let mut extra = TRUSTS - 3 * ICSS;
        while extra > 0 {
            let i = rng.random_range(0..ICSS);
            if trusts_per_ics[i] == 3 {
                trusts_per_ics[i] = 4;
                extra -= 1;
            }
        }
        let trust_weights: Vec<f64> = (0..TRUSTS).map(|_| rng.random_range(0.5..1.5)).collect();
        let sites_per_trust = apportion(SITES, &trust_weights);
        let ics_weights: Vec<f64> = (0..ICSS).map(|_| rng.random_range(0.6..1.4)).collect();
        let homes_per_ics = apportion(HOMES, &ics_weights);

        let mut icss = Vec::with_capacity(ICSS);
        let mut trust_index = 0usize;
        let mut home_index = 0usize;
        for i in 0..ICSS {
            // ICBs `QA1` … `QG6`; centres on a 6 × 7 grid over England.
            let code = format!("Q{}{}", char::from(LETTERS[i / 6]), i % 6 + 1);
            let (row, col) = (i / 7, i % 7);
            let centre = (
                50.8 + row as f64 * 0.7 + rng.random_range(-0.1..0.1),
                -3.6 + col as f64 * 0.7 + rng.random_range(-0.1..0.1),
            );
            let region = Self::region(&mut rng, i, &code, centre);
            let trusts: Vec<TrustSpec> = (0..trusts_per_ics[i])
                .map(|_| {
                    let t = trust_index;
                    trust_index += 1;
                    Self::trust(&mut rng, t, sites_per_trust[t], &region)
                })
                .collect();
            let catalogue = Catalogue {
                region: region.ics.name.clone(),
                trusts,
            };
            let homes = (0..homes_per_ics[i])
                .map(|_| {
                    home_index += 1;
                    Self::home(&mut rng, home_index, &region)
                })
                .collect();
            icss.push(SyntheticIcs {
                region,
                catalogue,
                homes,
            });
        }
        England { seed, icss }
    }

    fn region(rng: &mut StdRng, i: usize, code: &str, centre: (f64, f64)) -> Region {
        let area = two_letters(i + 26); // `BA`, `BB`, …: one postcode area per ICS
        let localities_n = rng.random_range(3..=6);
        let mut district_n = 0;
        let localities = LOCALITY_WORDS[..localities_n]
            .iter()
            .enumerate()
            .map(|(l, word)| {
                let angle = l as f64 / localities_n as f64 * std::f64::consts::TAU;
                let (lat, lon) = (centre.0 + 0.15 * angle.sin(), centre.1 + 0.2 * angle.cos());
                let districts = (0..rng.random_range(2..=5))
                    .map(|_| {
                        district_n += 1;
                        District {
                            district: format!("{area}{district_n}"),
                            latitude: round(lat + rng.random_range(-0.05..0.05), 3),
                            longitude: round(lon + rng.random_range(-0.05..0.05), 3),
                        }
                    })
                    .collect();
                Locality {
                    code: LocalityCode::parse(&format!("{}_{word}", code.to_ascii_lowercase()))
                        .expect("lower-case letters, digits and _"),
                    name: format!("{} {}", capitalise(word), code),
                    postcode_districts: districts,
                }
            })
            .collect();
        Region {
            ics: Ics {
                code: code.to_owned(),
                name: format!("Synthetic ICS {code}"),
                short_name: format!("{code} ICB"),
            },
            example_postcode: format!("{area}1 1AA"),
            localities,
        }
    }

    fn trust(rng: &mut StdRng, t: usize, sites: usize, region: &Region) -> TrustSpec {
        // ODS-style trust codes `RA0` … (R, a letter, a letter or digit).
        let code = format!(
            "R{}{}",
            char::from(LETTERS[t / 36]),
            char::from(ALNUM[t % 36])
        );
        let sites = (0..sites)
            .map(|s| {
                let locality = &region.localities[rng.random_range(0..region.localities.len())];
                let kind = if s == 0 || rng.random_bool(0.8) {
                    SiteKind::Acute
                } else {
                    SiteKind::Community
                };
                let wards = (0..rng.random_range(1..=5))
                    .map(|w| {
                        let (bed_kind, label) = if kind == SiteKind::Community {
                            (BedKind::Community, "Community")
                        } else {
                            WARD_KINDS[rng.random_range(0..WARD_KINDS.len())]
                        };
                        WardSpec {
                            code: WardCode::parse(&format!("W{}", w + 1)).expect("a ward code"),
                            name: format!("{label} Ward {}", w + 1),
                            kind: bed_kind,
                            beds: rng.random_range(16..=28),
                            escalation_beds: if rng.random_bool(0.25) {
                                rng.random_range(1..=4)
                            } else {
                                0
                            },
                        }
                    })
                    .collect();
                let district = pick_district(rng, locality);
                SiteSpec {
                    code: SiteCode::parse(&format!("{code}{}", two_letters(s)))
                        .expect("a site code"),
                    name: format!("{code} Site {} (synthetic)", s + 1),
                    kind,
                    locality: locality.code.to_string(),
                    locality_name: String::new(),
                    postcode: format!("{} {}", district.district, inward(rng)),
                    wards,
                }
            })
            .collect();
        TrustSpec {
            name: format!("Synthetic Trust {code} NHS Trust"),
            short_name: format!("T-{code}"),
            code,
            sites,
        }
    }

    fn home(rng: &mut StdRng, n: usize, region: &Region) -> Registration {
        let locality = &region.localities[rng.random_range(0..region.localities.len())];
        let district = pick_district(rng, locality);
        let mut categories: Vec<CareCategory> = CareCategory::ALL
            .iter()
            .copied()
            .filter(|_| rng.random_bool(0.3))
            .collect();
        if categories.is_empty() {
            categories.push(CareCategory::ALL[rng.random_range(0..CareCategory::ALL.len())]);
        }
        let name = format!(
            "{} {} (synthetic)",
            HOME_WORDS[rng.random_range(0..HOME_WORDS.len())],
            HOME_KINDS[rng.random_range(0..HOME_KINDS.len())]
        );
        Registration {
            // CQC-style location ids `1-` and ten digits.
            cqc_location_id: CqcLocationId::parse(&format!("1-{:010}", 2_000_000_000 + n))
                .expect("a CQC location id"),
            name,
            address: format!("{} Station Road", rng.random_range(1..300)),
            postcode: format!("{} {}", district.district, inward(rng)),
            latitude: round(district.latitude + rng.random_range(-0.02..0.02), 5),
            longitude: round(district.longitude + rng.random_range(-0.02..0.02), 5),
            locality: locality.code.clone(),
            registered_beds: rng.random_range(10..=80),
            categories,
            phone: None,
        }
    }

    /// The ICS with this code (`QB3`, any case).
    pub fn ics(&self, code: &str) -> Result<&SyntheticIcs, EnglandError> {
        self.icss
            .iter()
            .find(|ics| ics.code().eq_ignore_ascii_case(code))
            .ok_or_else(|| EnglandError::UnknownIcs {
                code: code.to_owned(),
                known: format!(
                    "{} … {}",
                    self.icss.first().map_or("", |i| i.code()),
                    self.icss.last().map_or("", |i| i.code())
                ),
            })
    }

    /// Every site of England, with the ICS it belongs to.
    pub fn sites(&self) -> impl Iterator<Item = (&SyntheticIcs, &SiteSpec)> {
        self.icss
            .iter()
            .flat_map(|ics| ics.sites().map(move |site| (ics, site)))
    }

    /// Every care home of England, with the ICS it belongs to.
    pub fn homes(&self) -> impl Iterator<Item = (&SyntheticIcs, &Registration)> {
        self.icss
            .iter()
            .flat_map(|ics| ics.homes.iter().map(move |home| (ics, home)))
    }

    /// Every bed of England.
    pub fn beds(&self) -> u32 {
        self.icss.iter().map(SyntheticIcs::beds).sum()
    }

    /// The region data set of the ICS `code`: each file and its text
    /// (`region.json`, `sites.json`, `care-homes.json`,
    /// `expected-discharges.json`, and the built-in `opel.json`, which names
    /// no site).
    pub fn region_files(&self, code: &str) -> Result<Vec<(DataFile, String)>, EnglandError> {
        let ics = self.ics(code)?;
        let json = |file: &'static str, value: &dyn erased::Json| {
            value
                .to_json()
                .map_err(|cause| EnglandError::Json { file, cause })
        };
        let homes = HomesFile {
            about: "Synthetic care homes of a synthetic ICS (pf-loadtest's England); \
                    every name, id and place is invented.",
            homes: &ics.homes,
        };
        let plan = PlanFile {
            about: "Synthetic daily discharge plan (pf-loadtest's England).",
            sites: ics
                .sites()
                .map(|s| {
                    let beds: u32 = s.wards.iter().map(|w| u32::from(w.beds)).sum();
                    let n = beds / 20;
                    let by_pathway =
                        BTreeMap::from([("0", n), ("1", n / 2), ("2", n / 4), ("3", n / 8)]);
                    (s.code.to_string(), by_pathway)
                })
                .collect(),
        };
        let opel = RegionFiles::BuiltIn.read(DataFile::Opel)?;
        Ok(vec![
            (DataFile::Region, json("region.json", &ics.region)?),
            (DataFile::Sites, json("sites.json", &ics.catalogue)?),
            (DataFile::CareHomes, json("care-homes.json", &homes)?),
            (
                DataFile::ExpectedDischarges,
                json("expected-discharges.json", &plan)?,
            ),
            (DataFile::Opel, opel.text.into_owned()),
        ])
    }

    /// Writes the region data set of the ICS `code` ([`region_files`](Self::region_files))
    /// into `dir` (created if missing). `PF_REGION_DIR={dir}` then starts a
    /// service for that ICS.
    pub fn write_region(&self, code: &str, dir: &Path) -> Result<(), EnglandError> {
        let files = self.region_files(code)?;
        std::fs::create_dir_all(dir).map_err(|cause| EnglandError::Io {
            path: dir.display().to_string(),
            cause,
        })?;
        for (file, text) in files {
            let path = dir.join(file.file_name());
            std::fs::write(&path, text).map_err(|cause| EnglandError::Io {
                path: path.display().to_string(),
                cause,
            })?;
        }
        Ok(())
    }
}

/// `care-homes.json`'s shape.
#[derive(Serialize)]
struct HomesFile<'a> {
    about: &'static str,
    homes: &'a [Registration],
}

/// `expected-discharges.json`'s shape.
#[derive(Serialize)]
struct PlanFile {
    about: &'static str,
    sites: BTreeMap<String, BTreeMap<&'static str, u32>>,
}

/// Pretty JSON of any serialisable value behind one closure.
mod erased {
    /// A value that can be written as pretty JSON.
    pub trait Json {
        fn to_json(&self) -> Result<String, serde_json::Error>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Result<String, serde_json::Error> {
            serde_json::to_string_pretty(self)
        }
    }
}

fn pick_district<'a>(rng: &mut StdRng, locality: &'a Locality) -> &'a District {
    &locality.postcode_districts[rng.random_range(0..locality.postcode_districts.len())]
}

/// A postcode's inward code: a digit and two letters (`4DG`).
fn inward(rng: &mut StdRng) -> String {
    format!(
        "{}{}{}",
        rng.random_range(0..10),
        char::from(LETTERS[rng.random_range(0..26)]),
        char::from(LETTERS[rng.random_range(0..26)])
    )
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The events that open every bed of England, ward by ward, and then keep
/// them turning over, the wards taking turns; one event in `homes_every` is
/// a care home's registration or vacancy report.
#[derive(Debug)]
pub struct EnglandEvents {
    wards: Vec<BedCycle>,
    /// The ward being opened and how many of its beds are still to open;
    /// `None` once every bed is open.
    opening: Option<(usize, u32)>,
    /// Beds of each ward.
    beds: Vec<u32>,
    homes: Vec<(CareHomeRecord, u64)>,
    next_ward: usize,
    next_home: usize,
    homes_every: u64,
    count: u64,
    rng: StdRng,
}

impl EnglandEvents {
    /// Events for every ward and home of `england`; one event in
    /// `homes_every` (0: none) is a care home's vacancy report. Each home is
    /// registered (`CareHomeRegistered`) before its first report.
    pub fn new(england: &England, homes_every: u64) -> Self {
        let wards = england
            .sites()
            .flat_map(|(_, site)| {
                site.wards.iter().map(|w| {
                    BedCycle::new(
                        site.code.as_str(),
                        w.code.as_str(),
                        u32::from(w.beds).max(1),
                    )
                })
            })
            .collect();
        let beds: Vec<u32> = england
            .sites()
            .flat_map(|(_, site)| site.wards.iter().map(|w| u32::from(w.beds).max(1)))
            .collect();
        let homes = england
            .homes()
            .map(|(_, r)| (CareHomeRecord::registered(r.clone()), 0))
            .collect();
        Self {
            wards,
            opening: beds.first().map(|&n| (0, n)),
            beds,
            homes,
            next_ward: 0,
            next_home: 0,
            homes_every,
            count: 0,
            rng: StdRng::seed_from_u64(england.seed),
        }
    }

    /// The next event: every bed's `BedOpened`, ward by ward, then the
    /// wards' state changes in turn (with the homes' events among them).
    pub fn next_event(&mut self) -> Planned {
        self.count += 1;
        if self.homes_every > 0
            && self.count.is_multiple_of(self.homes_every)
            && !self.homes.is_empty()
        {
            let index = self.next_home;
            self.next_home = (self.next_home + 1) % self.homes.len();
            return self.home_event(index);
        }
        if let Some((ward, left)) = self.opening {
            self.opening = if left > 1 {
                Some((ward, left - 1))
            } else {
                self.beds.get(ward + 1).map(|&n| (ward + 1, n))
            };
            return self.wards[ward].next_event();
        }
        let index = self.next_ward;
        self.next_ward = (self.next_ward + 1) % self.wards.len();
        self.wards[index].next_event()
    }

    fn home_event(&mut self, index: usize) -> Planned {
        let (record, version) = &mut self.homes[index];
        let payload = if *version == 0 {
            Payload::CareHomeRegistered(v1::CareHomeRegistered {
                home: Some(record.to_proto()),
            })
        } else {
            let rng = &mut self.rng;
            *record = reported(record, time::OffsetDateTime::now_utc(), |_| {
                rng.random_range(0..4)
            });
            Payload::VacanciesReported(v1::VacanciesReported {
                home: Some(record.to_proto()),
                ..Default::default()
            })
        };
        *version += 1;
        let cqc = record.cqc().as_str().to_owned();
        Planned {
            subject: pf_event_log::streams::care_home_subject(&cqc),
            event: NewEvent {
                source: Source {
                    organisation: cqc.clone(),
                    service: SERVICE.to_owned(),
                },
                entity_id: format!("care-home/{cqc}"),
                entity_version: *version,
                occurred_at: None,
                actor: Actor {
                    id: SERVICE.to_owned(),
                    organisation: cqc,
                    kind: ActorKind::Machine as i32,
                },
                payload,
            },
        }
    }
}

/// `record` after the load test reports `vacant(category)` beds in each of
/// its categories at `at`.
pub fn reported(
    record: &CareHomeRecord,
    at: time::OffsetDateTime,
    mut vacant: impl FnMut(CareCategory) -> u32,
) -> CareHomeRecord {
    let report = VacancyReport {
        vacancies: record
            .registration
            .categories
            .iter()
            .map(|c| Vacancy {
                category: *c,
                vacant: vacant(*c),
                unavailable: 0,
                sex: SexAccepted::Either,
            })
            .collect(),
        closure: None,
        accepting_hospital_discharges: true,
        note: String::new(),
        capacity: None,
    };
    record.with_report(
        &report,
        Confirmation {
            at,
            by_id: SERVICE.to_owned(),
            by_name: "Load test".to_owned(),
        },
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use pf_care_home_model::Register;

    use super::*;

    fn england() -> &'static England {
        static ENGLAND: std::sync::OnceLock<England> = std::sync::OnceLock::new();
        ENGLAND.get_or_init(|| England::generate(DEFAULT_SEED))
    }

    #[test]
    fn england_has_the_stated_numbers() {
        let england = england();
        assert_eq!(england.icss.len(), ICSS);
        let trusts: usize = england.icss.iter().map(|i| i.catalogue.trusts.len()).sum();
        assert_eq!(trusts, TRUSTS);
        assert_eq!(england.sites().count(), SITES);
        assert_eq!(england.homes().count(), HOMES);
        let beds = f64::from(england.beds());
        let target = f64::from(BEDS_TARGET);
        assert!(
            (beds - target).abs() <= target * BEDS_TOLERANCE,
            "{beds} beds, wanted {target} ± {BEDS_TOLERANCE}"
        );
        let codes: HashSet<&str> = england.icss.iter().map(|i| i.code()).collect();
        assert_eq!(codes.len(), ICSS, "ICS codes are unique");
        for ics in &england.icss {
            assert!(!ics.region.ics.name.is_empty());
            assert!(
                (3..=4).contains(&ics.catalogue.trusts.len()),
                "{}",
                ics.code()
            );
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_england_and_another_seed_another() {
        let again = England::generate(DEFAULT_SEED);
        let first = england();
        let json = |e: &England| {
            e.icss
                .iter()
                .map(|i| serde_json::to_string(&(&i.region, &i.catalogue, &i.homes)).expect("JSON"))
                .collect::<Vec<_>>()
        };
        assert_eq!(json(first), json(&again));
        assert_ne!(json(first), json(&England::generate(DEFAULT_SEED + 1)));
    }

    #[test]
    fn every_site_home_and_locality_belongs_to_exactly_one_ics() {
        let england = england();
        let mut sites = HashSet::new();
        let mut trusts = HashSet::new();
        for (ics, site) in england.sites() {
            assert!(
                sites.insert(site.code.to_string()),
                "site {} twice",
                site.code
            );
            assert!(
                ics.region.locality(&site.locality).is_some(),
                "site {} lies in its ICS",
                site.code
            );
        }
        for ics in &england.icss {
            for trust in &ics.catalogue.trusts {
                assert!(trusts.insert(trust.code.clone()), "trust {}", trust.code);
                assert!(
                    trust
                        .sites
                        .iter()
                        .all(|s| s.code.as_str().starts_with(&trust.code))
                );
            }
        }
        let mut homes = HashSet::new();
        for (ics, home) in england.homes() {
            assert!(homes.insert(home.cqc_location_id.clone()));
            assert!(ics.region.locality(home.locality.as_str()).is_some());
            assert!(
                ics.region.place_of(&home.postcode).is_some(),
                "{}",
                home.postcode
            );
        }
        // A locality code names one ICS's locality only, so a home's
        // locality says which ICS it is in.
        let mut localities = HashSet::new();
        let mut districts = HashSet::new();
        for ics in &england.icss {
            for locality in &ics.region.localities {
                assert!(localities.insert(locality.code.clone()));
                for d in &locality.postcode_districts {
                    assert!(districts.insert(d.district.clone()), "{}", d.district);
                }
            }
        }
    }

    #[test]
    fn an_ics_region_data_set_passes_the_regions_own_checks() {
        let england = england();
        let ics = &england.icss[7];
        let dir = tempfile::tempdir().expect("temp dir");
        england
            .write_region(&ics.code().to_ascii_lowercase(), dir.path())
            .expect("written");
        let files = RegionFiles::dir(dir.path());
        let region = files.region().expect("region.json is valid");
        assert_eq!(region, ics.region);
        let catalogue = Catalogue::load(&files, &region).expect("sites.json is valid");
        assert_eq!(catalogue.sites().count(), ics.sites().count());
        let register = Register::load(&files, &region).expect("care-homes.json is valid");
        assert_eq!(register.len(), ics.homes.len());
        let plan = files
            .read(DataFile::ExpectedDischarges)
            .expect("expected-discharges.json");
        let labels = pf_gateway::view::site_labels(&catalogue);
        pf_gateway::discharge_figures::DischargePlan::from_json(
            &plan.text,
            labels.keys().map(String::as_str),
        )
        .expect("the discharge plan names the ICS's sites");
        let opel = files.read(DataFile::Opel).expect("opel.json");
        pf_opel::OpelConfig::from_json(&opel.text).expect("opel.json is valid");
        assert!(matches!(
            england.write_region("QZ9", dir.path()),
            Err(EnglandError::UnknownIcs { .. })
        ));
    }

    #[test]
    fn events_open_every_ward_and_register_homes_before_reporting() {
        let england = england();
        let mut events = EnglandEvents::new(england, 10);
        let first: Vec<Planned> = (0..40).map(|_| events.next_event()).collect();
        let homes: Vec<&Planned> = first
            .iter()
            .filter(|p| p.subject.starts_with("pf.care-homes."))
            .collect();
        assert_eq!(homes.len(), 4);
        assert!(matches!(
            homes[0].event.payload,
            Payload::CareHomeRegistered(_)
        ));
        let (_, site) = england.sites().next().expect("a site");
        assert!(
            first[0]
                .subject
                .starts_with(&format!("pf.beds.{}.", site.code))
        );
        // The first ward's beds are all opened before the next ward's.
        let ward = &site.wards[0];
        let beds: Vec<&Planned> = first
            .iter()
            .filter(|p| p.subject.starts_with("pf.beds."))
            .collect();
        let prefix = format!("pf.beds.{}.{}.", site.code, ward.code);
        let opened = usize::from(ward.beds).min(beds.len());
        assert!(
            beds[..opened].iter().all(|p| p.subject.starts_with(&prefix)
                && matches!(p.event.payload, Payload::BedOpened(_)))
        );

        // Every bed is opened once, then beds change state.
        let total: usize = england
            .sites()
            .flat_map(|(_, s)| &s.wards)
            .map(|w| usize::from(w.beds))
            .sum();
        let mut events = EnglandEvents::new(england, 0);
        let mut subjects = HashSet::new();
        for _ in 0..total {
            let planned = events.next_event();
            assert!(matches!(planned.event.payload, Payload::BedOpened(_)));
            assert!(subjects.insert(planned.subject));
        }
        assert!(matches!(
            events.next_event().event.payload,
            Payload::BedStateChanged(_)
        ));
        for planned in &first {
            let sealed = planned.event.clone().seal(time::OffsetDateTime::now_utc());
            let back = v1::EventEnvelope::decode_checked(&sealed.to_bytes());
            assert!(back.is_ok(), "{}: {back:?}", planned.subject);
        }
    }
}
