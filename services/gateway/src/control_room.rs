//! The control room's live model: counters per site and system, summed
//! from the snapshot's and kept up to date by each change's move between
//! counters (the change log says which counter a bed left and joined; the
//! projection decided it), the ED and ambulance figures (re-read from the
//! live state after a snapshot, after `urgent_care` changes and when a new
//! UK day begins, worked out again as the clock moves), and the JSON
//! messages clients receive.
//!
//! The wall shows its own region only. The live state may hold other
//! regions too (a national deployment keeps all of England in one Redis):
//! a site the region's catalogue does not list (other than the load test's,
//! [`LOAD_TEST_SITE`]) and a care home outside the region's localities are
//! left out before they reach any counter, figure or message, so what a wall
//! receives depends on its region's size, not on the live state's
//! ([`RoomSettings::shows_site`], [`RoomSettings::shows_home`]). Every
//! care home's record is still kept: the discharge teams' hold notices
//! follow placements across the region's border.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use std::time::Duration;

use pf_care_home_model::CareHomeRecord;
use pf_live_state::counter::add_counters;
use pf_live_state::urgent_care::{self, UrgentCareFigures, UrgentCareState};
use pf_live_state::{Change, Counters, DischargeSummary, Snapshot};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::care_homes::{self, CareHomesView};
use crate::discharge_figures::{self, DischargeFigures, DischargePlan};
use crate::view::{SiteLabel, SiteView, SystemView, TrustView, totals};

/// Care-home figures older than this are stale unless configured otherwise.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The site code of the load test (`pf-loadtest`): the wall shows it though
/// no region lists it (the load test's NATS user may publish only its beds).
pub const LOAD_TEST_SITE: &str = "LOADTEST";

/// What the model needs besides the live state: who the sites are, when
/// care-home figures go stale, and the day's discharge plan.
#[derive(Debug, Clone, Default)]
pub struct RoomSettings {
    /// Site names, trusts and order: the region's sites, the only ones the
    /// wall shows (with [`LOAD_TEST_SITE`]).
    pub labels: BTreeMap<String, SiteLabel>,
    /// Care-home figures older than this are stale.
    pub stale_after: Duration,
    /// Expected discharges per site and pathway.
    pub plan: DischargePlan,
    /// The region's localities, in the order the wall shows them; the wall
    /// counts the care homes in them only.
    pub localities: Vec<pf_region::Locality>,
}

impl RoomSettings {
    /// Whether the wall shows this site: one the region lists, or the load
    /// test's. Settings that list no site at all (the model's own tests)
    /// show every site.
    pub fn shows_site(&self, site: &str) -> bool {
        self.labels.is_empty() || self.labels.contains_key(site) || site == LOAD_TEST_SITE
    }

    /// Whether the wall counts this care home: it lies in one of the
    /// region's localities. Settings with no locality show every home.
    pub fn shows_home(&self, record: &CareHomeRecord) -> bool {
        self.localities.is_empty()
            || self
                .localities
                .iter()
                .any(|l| l.code == record.registration.locality)
    }
}

/// The live model behind the control room.
#[derive(Debug, Clone)]
pub struct ControlRoom {
    settings: Arc<RoomSettings>,
    version: u64,
    /// Counters of the region's sites.
    sites: BTreeMap<String, Counters>,
    /// The region's sites added up.
    system: Counters,
    /// Every care home's record, the region's and others' (the wall's
    /// figures count the region's only).
    care_homes: BTreeMap<String, CareHomeRecord>,
    /// Every discharge's summary (no patient-identifiable data).
    discharges: BTreeMap<String, DischargeSummary>,
    /// The UK date the discharge figures are for.
    today: time::Date,
    flow: BTreeMap<String, DischargeFigures>,
    flow_system: DischargeFigures,
    /// Stale care-home counts last computed (they change with the clock).
    stale_counts: Vec<u32>,
    /// What the ED and ambulance figures are worked out from.
    urgent_state: UrgentCareState,
    /// The UK date whose handover counters `urgent_state` holds (none
    /// before the first read).
    handovers_day: Option<time::Date>,
    /// The ED and ambulance figures by site and for the system
    /// ([`urgent_care::SYSTEM`]), last worked out (they change with the clock).
    urgent: BTreeMap<String, UrgentCareFigures>,
}

/// The ED and ambulance state as read from the live state, with the UK
/// date whose handover counters it holds (the live state keeps them per
/// arrival day).
#[derive(Debug, Clone, PartialEq)]
pub struct UrgentCareRead {
    /// The UK date of the handover counters (`state.today`).
    pub day: time::Date,
    /// What the figures are worked out from.
    pub state: UrgentCareState,
}

/// What a batch of changes touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// Sites whose beds changed.
    pub sites: BTreeSet<String>,
    /// Whether any of the region's care homes changed (the wall's figures).
    pub care_homes: bool,
    /// Whether a care home outside the region changed (not on the wall;
    /// the discharge teams are still told care homes changed).
    pub other_care_homes: bool,
    /// Whether the system's figures may have moved with no site of the
    /// region changing (an ambulance service's escalation level, the clock).
    pub system: bool,
    /// Discharges that changed.
    pub discharges: BTreeSet<String>,
}

/// A change that cannot be folded in: take a new snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeedsSnapshot {
    /// A change was skipped (the log was trimmed past it).
    Gap {
        /// The version the model is at.
        at: u64,
        /// The version that came.
        got: u64,
    },
    /// The state was rebuilt.
    Reset,
}

impl ControlRoom {
    /// A model from a snapshot, with its time-dependent figures as of `now`.
    pub fn from_snapshot(
        settings: Arc<RoomSettings>,
        snapshot: &Snapshot,
        now: OffsetDateTime,
    ) -> Self {
        let mut sites: BTreeMap<String, Counters> = BTreeMap::new();
        let mut system = Counters::new();
        for ((site, _ward), counters) in &snapshot.wards {
            if !settings.shows_site(site) {
                continue;
            }
            add_counters(sites.entry(site.clone()).or_default(), counters);
            add_counters(&mut system, counters);
        }
        let mut room = Self {
            settings,
            version: snapshot.version,
            sites,
            system,
            care_homes: snapshot.care_homes.clone(),
            discharges: snapshot.discharges.clone(),
            today: pf_web::uk_time::date(now),
            flow: BTreeMap::new(),
            flow_system: DischargeFigures::default(),
            stale_counts: Vec::new(),
            urgent_state: UrgentCareState::default(),
            handovers_day: None,
            urgent: BTreeMap::new(),
        };
        room.count_discharges();
        room.stale_counts = room.stale_counts(now);
        room
    }

    /// Takes the ED and ambulance state read from the live state (after a
    /// snapshot, after changes of kind `urgent_care`, and when a new UK day
    /// begins) and works out its figures at `now`, of the region's sites
    /// (every ambulance service's escalation level is kept: a service covers
    /// several regions). Handover counters of a day that is no longer
    /// today's (read just before UK midnight) are not counted as today's.
    /// Returns whether any figure changed.
    pub fn set_urgent_care(&mut self, read: UrgentCareRead, now: OffsetDateTime) -> bool {
        let UrgentCareRead { day, mut state } = read;
        let settings = &self.settings;
        state.ed.retain(|site, _| settings.shows_site(site));
        state.waiting.retain(|site, _| settings.shows_site(site));
        state.today.retain(|site, _| settings.shows_site(site));
        self.urgent_state = state;
        self.handovers_day = Some(day);
        self.forget_past_handovers(pf_web::uk_time::date(now));
        self.count_urgent_care(now)
    }

    /// The UK date whose handover counters the figures count, if read yet.
    /// When it is not today's (a new UK day began), the feed re-reads the
    /// ED and ambulance state for the new day.
    pub fn handovers_day(&self) -> Option<time::Date> {
        self.handovers_day
    }

    /// Drops handover counters of a day other than `today`: until the new day's
    /// are read, the wall shows no handovers today rather than yesterday's.
    fn forget_past_handovers(&mut self, today: time::Date) {
        if self.handovers_day != Some(today) && !self.urgent_state.today.is_empty() {
            tracing::debug!(
                day = ?self.handovers_day,
                %today,
                "handover counters are of another UK day; not counted as today's"
            );
            self.urgent_state.today.clear();
        }
    }

    fn count_urgent_care(&mut self, now: OffsetDateTime) -> bool {
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        let figures = urgent_care::figures(&self.urgent_state, now_ms);
        let changed = figures != self.urgent;
        self.urgent = figures;
        changed
    }

    fn count_discharges(&mut self) {
        let settings = &self.settings;
        let (by_site, system) = discharge_figures::figures(
            self.discharges
                .values()
                .filter(|d| settings.shows_site(&d.site)),
            &settings.plan,
            self.today,
        );
        self.flow = by_site;
        self.flow_system = system;
    }

    fn stale_counts(&self, now: OffsetDateTime) -> Vec<u32> {
        let view = self.care_homes(now);
        std::iter::once(view.system.stale)
            .chain(view.localities.iter().map(|l| l.counts.stale))
            .collect()
    }

    /// Brings the figures that move with the clock up to `now`: the day the
    /// discharge figures count (delay days grow at UK midnight, today's
    /// discharges start again), today's handovers (yesterday's are not
    /// counted once UK midnight passes; the feed reads the new day's) and
    /// which care homes' figures are stale.
    /// Returns whether any figure changed (then clients need a snapshot).
    pub fn refresh(&mut self, now: OffsetDateTime) -> bool {
        let mut changed = false;
        let today = pf_web::uk_time::date(now);
        if today != self.today {
            self.today = today;
            self.count_discharges();
            changed = true;
        }
        self.forget_past_handovers(today);
        let stale = self.stale_counts(now);
        if stale != self.stale_counts {
            self.stale_counts = stale;
            changed = true;
        }
        // Waits grow with the clock.
        changed |= self.count_urgent_care(now);
        changed
    }

    /// Every discharge's summary the model holds (no patient-identifiable
    /// data; the ids are still for discharge coordinators only).
    pub fn discharges(&self) -> &BTreeMap<String, DischargeSummary> {
        &self.discharges
    }

    /// Every care home's record.
    pub fn care_home_records(&self) -> &BTreeMap<String, CareHomeRecord> {
        &self.care_homes
    }

    /// The region's care homes' aggregates at `now`.
    pub fn care_homes(&self, now: OffsetDateTime) -> CareHomesView {
        care_homes::view(
            self.care_homes
                .values()
                .filter(|record| self.settings.shows_home(record)),
            now,
            self.settings.stale_after,
            &self.settings.localities,
        )
    }

    /// The change version the model is at.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Folds in changes (each must be the next version); returns what they
    /// touched.
    pub fn apply(&mut self, changes: &[Change]) -> Result<Touched, NeedsSnapshot> {
        let mut touched = Touched::default();
        for change in changes {
            if change.version() <= self.version {
                continue; // already folded in
            }
            if change.version() != self.version + 1 {
                return Err(NeedsSnapshot::Gap {
                    at: self.version,
                    got: change.version(),
                });
            }
            match change {
                Change::Reset { .. } => return Err(NeedsSnapshot::Reset),
                // Tasks and actions move no figure; the actions panel reads them.
                Change::Task { .. } => {}
                // Another region's bed: not on this wall.
                Change::Bed { site, .. } if !self.settings.shows_site(site) => {}
                Change::Bed { site, from, to, .. } => {
                    let site_counters = self.sites.entry(site.clone()).or_default();
                    if let Some(from) = from {
                        *site_counters.entry(*from).or_default() -= 1;
                        *self.system.entry(*from).or_default() -= 1;
                    }
                    if let Some(to) = to {
                        *site_counters.entry(*to).or_default() += 1;
                        *self.system.entry(*to).or_default() += 1;
                    }
                    touched.sites.insert(site.clone());
                }
                Change::CareHome { record, .. } => {
                    let cqc = record.cqc().as_str().to_owned();
                    let shown = self.settings.shows_home(record)
                        || self
                            .care_homes
                            .get(&cqc)
                            .is_some_and(|before| self.settings.shows_home(before));
                    // A retired home leaves the wall.
                    if record.is_retired() {
                        self.care_homes.remove(&cqc);
                    } else {
                        self.care_homes.insert(cqc, (**record).clone());
                    }
                    if shown {
                        touched.care_homes = true;
                    } else {
                        touched.other_care_homes = true;
                    }
                }
                // An ambulance service's escalation level names no site:
                // only the system's figures move.
                Change::UrgentCare { site, .. } if !site.is_empty() => {
                    if self.settings.shows_site(site) {
                        touched.sites.insert(site.clone());
                    }
                }
                Change::UrgentCare { .. } => touched.system = true,
                Change::Discharge { id, summary, .. } => {
                    touched.discharges.insert(id.clone());
                    if self.settings.shows_site(&summary.site) {
                        touched.sites.insert(summary.site.clone());
                    }
                    if let Some(before) = self.discharges.insert(id.clone(), summary.clone())
                        && before.site != summary.site
                        && self.settings.shows_site(&before.site)
                    {
                        touched.sites.insert(before.site);
                    }
                }
            }
            self.version = change.version();
        }
        if !touched.discharges.is_empty() {
            self.count_discharges();
        }
        Ok(touched)
    }

    /// Every site: the catalogue's in catalogue order, then any other site
    /// that has beds.
    pub fn site_views(&self) -> Vec<SiteView> {
        let labels = &self.settings.labels;
        let mut codes: Vec<&String> = labels.keys().chain(self.sites.keys()).collect();
        codes.sort_by_key(|code| {
            (
                labels.get(*code).map(|l| l.order).unwrap_or(usize::MAX),
                (*code).clone(),
            )
        });
        codes.dedup();
        codes.into_iter().map(|code| self.site_view(code)).collect()
    }

    /// One site.
    pub fn site_view(&self, code: &str) -> SiteView {
        let label = self.settings.labels.get(code);
        SiteView {
            code: code.to_owned(),
            name: label
                .map(|l| l.name.clone())
                .unwrap_or_else(|| code.to_owned()),
            trust: label.map(|l| l.trust.clone()).unwrap_or_default(),
            kind: label.and_then(|l| l.kind),
            locality: label.map(|l| l.locality.clone()).unwrap_or_default(),
            totals: self.sites.get(code).map(totals).unwrap_or_default(),
            discharges: self.flow.get(code).cloned().unwrap_or_default(),
            urgent: self.urgent.get(code).cloned().unwrap_or_default(),
        }
    }

    /// Every trust of the catalogue, in catalogue order.
    pub fn trust_views(&self) -> Vec<TrustView> {
        let mut trusts: Vec<&str> = Vec::new();
        let mut labels: Vec<(&String, &SiteLabel)> = self.settings.labels.iter().collect();
        labels.sort_by_key(|(_, label)| label.order);
        for (_, label) in &labels {
            if !trusts.contains(&label.trust.as_str()) {
                trusts.push(&label.trust);
            }
        }
        trusts
            .into_iter()
            .map(|trust| self.trust_view(trust))
            .collect()
    }

    /// One trust (by short name): its sites added up.
    pub fn trust_view(&self, trust: &str) -> TrustView {
        let mut counters = Counters::new();
        let mut discharges = DischargeFigures::default();
        let mut urgent = UrgentCareFigures::default();
        for (code, label) in &self.settings.labels {
            if label.trust != trust {
                continue;
            }
            if let Some(figures) = self.urgent.get(code) {
                urgent.add(figures);
            }
            if let Some(site) = self.sites.get(code) {
                add_counters(&mut counters, site);
            }
            if let Some(figures) = self.flow.get(code) {
                discharges.add(figures);
            }
        }
        TrustView {
            code: trust.to_owned(),
            totals: totals(&counters),
            discharges,
            urgent,
        }
    }

    /// The whole system.
    pub fn system(&self) -> SystemView {
        SystemView {
            totals: totals(&self.system),
            discharges: self.flow_system.clone(),
            urgent: self
                .urgent
                .get(urgent_care::SYSTEM)
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// The snapshot a new client receives (and the page is rendered from).
    pub fn snapshot_message(&self, now: OffsetDateTime) -> SnapshotMessage {
        SnapshotMessage {
            kind: "snapshot",
            version: self.version,
            as_of: rfc3339(now),
            as_of_hhmm: pf_web::uk_time::hh_mm(now),
            system: self.system(),
            trusts: self.trust_views(),
            sites: self.site_views(),
            care_homes: self.care_homes(now),
        }
    }

    /// The delta for changes after `from_version` that touched `sites`.
    pub fn delta_message(
        &self,
        from_version: u64,
        touched: &Touched,
        occurred_at_ms: i64,
        now: OffsetDateTime,
    ) -> DeltaMessage {
        DeltaMessage {
            kind: "delta",
            from_version,
            version: self.version,
            as_of: rfc3339(now),
            occurred_at_ms,
            system: (touched.system || touched.care_homes || !touched.sites.is_empty())
                .then(|| self.system()),
            trusts: {
                let mut trusts: Vec<&str> = touched
                    .sites
                    .iter()
                    .filter_map(|code| self.settings.labels.get(code))
                    .map(|label| label.trust.as_str())
                    .collect();
                trusts.sort_unstable();
                trusts.dedup();
                trusts.into_iter().map(|t| self.trust_view(t)).collect()
            },
            sites: touched
                .sites
                .iter()
                .map(|code| self.site_view(code))
                .collect(),
            care_homes: touched.care_homes.then(|| self.care_homes(now)),
        }
    }
}

/// `{"type":"snapshot", …}`.
#[derive(Debug, Serialize)]
pub struct SnapshotMessage {
    /// Always `snapshot`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Change version.
    pub version: u64,
    /// When it was taken (RFC 3339).
    pub as_of: String,
    /// The same as `HH:MM` in UK time.
    pub as_of_hhmm: String,
    /// The whole system.
    pub system: SystemView,
    /// Every trust.
    pub trusts: Vec<TrustView>,
    /// Every site.
    pub sites: Vec<SiteView>,
    /// Care homes.
    pub care_homes: CareHomesView,
}

/// `{"type":"delta", …}`: the changes after `from_version` up to `version`.
#[derive(Debug, Serialize)]
pub struct DeltaMessage {
    /// Always `delta`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The version the client must be at to apply this delta.
    pub from_version: u64,
    /// The version after it.
    pub version: u64,
    /// When it was sent (RFC 3339).
    pub as_of: String,
    /// When the oldest event in it happened (ms since the epoch), for latency.
    pub occurred_at_ms: i64,
    /// The whole system; left out when nothing the wall shows changed (a
    /// change of another region's site or care home only moves the version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemView>,
    /// The trusts of the sites that changed.
    pub trusts: Vec<TrustView>,
    /// The sites that changed.
    pub sites: Vec<SiteView>,
    /// Care homes, when any changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub care_homes: Option<CareHomesView>,
}

/// RFC 3339 text of a time.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_care_home_model::{CareCategory, CqcLocationId, LocalityCode, Registration};
    use pf_live_state::CounterField;

    fn bed_change(version: u64, site: &str, from: Option<&str>, to: Option<&str>) -> Change {
        Change::Bed {
            version,
            site: site.into(),
            ward: "W1".into(),
            bed: "B01".into(),
            from: from.map(|f| f.parse().expect("a counter field")),
            to: to.map(|f| f.parse().expect("a counter field")),
            occurred_at_ms: 0,
        }
    }

    #[test]
    fn changes_fold_into_site_and_system_totals_in_version_order() {
        let mut room = ControlRoom::from_snapshot(
            Arc::new(RoomSettings::default()),
            &Snapshot::default(),
            OffsetDateTime::now_utc(),
        );
        let touched = room
            .apply(&[
                bed_change(1, "RWEAA", None, Some("general_acute:available")),
                bed_change(
                    2,
                    "RWEAA",
                    Some("general_acute:available"),
                    Some("general_acute:occupied"),
                ),
                bed_change(3, "RWEAE", None, Some("general_acute:available")),
            ])
            .expect("contiguous");
        assert_eq!(touched.sites.len(), 2);
        assert_eq!(room.version(), 3);
        assert_eq!(room.site_view("RWEAA").totals.counts.occupied, 1);
        assert_eq!(room.system().totals.counts.total, 2);
        // Replaying an old change is ignored; a skipped version is a gap.
        assert_eq!(
            room.apply(&[bed_change(3, "RWEAE", None, Some("community:closed"))]),
            Ok(Touched::default())
        );
        assert_eq!(
            room.apply(&[bed_change(5, "RWEAA", None, None)]),
            Err(NeedsSnapshot::Gap { at: 3, got: 5 })
        );
        assert_eq!(
            room.apply(&[Change::Reset { version: 4 }]),
            Err(NeedsSnapshot::Reset)
        );
    }

    fn home(cqc: &str, locality: &str) -> CareHomeRecord {
        CareHomeRecord::registered(Registration {
            cqc_location_id: CqcLocationId::parse(cqc).expect("a CQC id"),
            name: "Test (demo)".into(),
            address: String::new(),
            postcode: "LE1 1AA".into(),
            latitude: 52.6,
            longitude: -1.1,
            locality: LocalityCode::parse(locality).expect("a locality code"),
            registered_beds: 20,
            categories: vec![CareCategory::Nursing],
            phone: None,
        })
    }

    fn available(n: i64) -> Counters {
        Counters::from([(
            "general_acute:available"
                .parse::<CounterField>()
                .expect("a counter field"),
            n,
        )])
    }

    /// The LLR region's settings, as a gateway for LLR has them.
    fn llr_settings() -> Arc<RoomSettings> {
        let catalogue = pf_hospital_model::Catalogue::llr().expect("the built-in catalogue");
        Arc::new(RoomSettings {
            labels: crate::view::site_labels(&catalogue),
            stale_after: DEFAULT_STALE_AFTER,
            plan: DischargePlan::default(),
            localities: pf_region::Region::built_in().localities,
        })
    }

    #[test]
    fn the_wall_shows_only_its_regions_sites_and_care_homes() {
        let now = OffsetDateTime::now_utc();
        // One live state for two regions: LLR's RWEAA and a home in
        // Leicestershire, another region's site RZZAA and a home in its
        // locality `dales_north`.
        let snapshot = Snapshot {
            version: 10,
            wards: BTreeMap::from([
                (("RWEAA".into(), "WD15".into()), available(3)),
                (("RZZAA".into(), "W1".into()), available(5)),
            ]),
            care_homes: BTreeMap::from([
                ("1-000000001".into(), home("1-000000001", "leicestershire")),
                ("1-900000001".into(), home("1-900000001", "dales_north")),
            ]),
            discharges: BTreeMap::new(),
        };
        let mut room = ControlRoom::from_snapshot(llr_settings(), &snapshot, now);
        let sent = serde_json::to_value(room.snapshot_message(now)).expect("JSON");
        let codes = |frame: &serde_json::Value| -> Vec<String> {
            frame["sites"]
                .as_array()
                .map(|sites| {
                    sites
                        .iter()
                        .filter_map(|s| s["code"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let localities = |frame: &serde_json::Value| -> Vec<String> {
            frame["care_homes"]["localities"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .filter_map(|l| l["locality"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        assert!(codes(&sent).contains(&"RWEAA".to_owned()));
        assert!(
            !codes(&sent).contains(&"RZZAA".to_owned()),
            "{:?}",
            codes(&sent)
        );
        assert_eq!(sent["system"]["total"], 3, "the system is the region's");
        assert_eq!(
            localities(&sent),
            ["leicester_city", "leicestershire", "rutland"]
        );
        assert_eq!(sent["care_homes"]["system"]["homes"], 1);

        // Changes elsewhere: no site, no care homes in the delta.
        let mut moved = home("1-900000001", "dales_north");
        moved.vacancies[0].vacant = 4;
        let touched = room
            .apply(&[
                bed_change(11, "RZZAA", None, Some("general_acute:available")),
                Change::CareHome {
                    version: 12,
                    record: Box::new(moved),
                    event_type: "care_home.vacancies_reported".into(),
                    occurred_at_ms: 0,
                },
            ])
            .expect("contiguous");
        let delta = serde_json::to_value(room.delta_message(10, &touched, 0, now)).expect("JSON");
        assert_eq!(codes(&delta), Vec::<String>::new(), "{delta}");
        assert!(delta.get("care_homes").is_none(), "{delta}");
        assert!(
            delta.get("system").is_none(),
            "nothing of the region moved: {delta}"
        );
        assert_eq!(room.version(), 12);

        // Changes in the region: its site and its care homes.
        let touched = room
            .apply(&[
                bed_change(13, "RWEAA", None, Some("general_acute:available")),
                Change::CareHome {
                    version: 14,
                    record: Box::new(home("1-000000002", "rutland")),
                    event_type: "care_home.registered".into(),
                    occurred_at_ms: 0,
                },
            ])
            .expect("contiguous");
        let delta = serde_json::to_value(room.delta_message(12, &touched, 0, now)).expect("JSON");
        assert_eq!(codes(&delta), ["RWEAA"]);
        assert_eq!(delta["system"]["total"], 4);
        assert_eq!(delta["care_homes"]["system"]["homes"], 2);
        assert_eq!(
            localities(&delta),
            ["leicester_city", "leicestershire", "rutland"]
        );

        // Every home's record is still there for the discharge teams'
        // notices (a placement may cross the region's border).
        assert!(room.care_home_records().contains_key("1-900000001"));
        // Another region's site is not listed even when asked for by code
        // through a snapshot taken now.
        let again = serde_json::to_value(room.snapshot_message(now)).expect("JSON");
        assert!(!codes(&again).contains(&"RZZAA".to_owned()));
    }

    #[test]
    fn the_walls_ed_and_ambulance_figures_are_its_regions() {
        let now = OffsetDateTime::now_utc();
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).expect("ms");
        let mut room = ControlRoom::from_snapshot(llr_settings(), &Snapshot::default(), now);
        let attendance = |id: &str| {
            (
                id.to_owned(),
                urgent_care::EdSummary {
                    arrived_ms: now_ms - 60_000,
                    dta_ms: None,
                },
            )
        };
        let vehicle = urgent_care::AmbulanceSummary {
            arrived_ms: now_ms - 60_000,
        };
        let state = UrgentCareState {
            ed: BTreeMap::from([
                ("RWEAA".to_owned(), BTreeMap::from([attendance("a1")])),
                (
                    "RZZAA".to_owned(),
                    BTreeMap::from([attendance("b1"), attendance("b2")]),
                ),
            ]),
            waiting: BTreeMap::from([(
                "RZZAA".to_owned(),
                BTreeMap::from([("v1".to_owned(), vehicle)]),
            )]),
            ..UrgentCareState::default()
        };
        room.set_urgent_care(
            UrgentCareRead {
                day: pf_web::uk_time::date(now),
                state,
            },
            now,
        );
        let system = room.system();
        assert_eq!(
            (system.urgent.in_department, system.urgent.vehicles_waiting),
            (1, 0),
            "another region's ED and ambulances are not the system's"
        );
        assert_eq!(room.site_view("RWEAA").urgent.in_department, 1);
    }
}
