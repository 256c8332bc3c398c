//! The wall's frames at England's size, measured with the gateway's own
//! control-room model.
//!
//! A national deployment keeps all of England in one Redis; a gateway
//! serves one ICS's wall. [`measure`] builds the gateway's
//! [`ControlRoom`] from a live-state [`Snapshot`] holding every ward and
//! care home of the synthetic [`England`] (as the gateway builds it from
//! Redis), with the settings the gateway derives from one ICS's region data
//! set, and serialises the frames the hub sends: the snapshot a wall
//! receives on connecting and the deltas after one change (a bed or a care
//! home, inside the ICS or elsewhere) and after a batch of bed changes
//! spread over England. Sizes are bytes of the JSON text frame.

use std::collections::BTreeMap;
use std::sync::Arc;

use pf_care_home_model::CareHomeRecord;
use pf_gateway::control_room::{ControlRoom, DEFAULT_STALE_AFTER, RoomSettings};
use pf_gateway::discharge_figures::DischargePlan;
use pf_gateway::trends;
use pf_hospital_model::BedState;
use pf_hospital_model::Catalogue;
use pf_live_state::counter::CounterField;
use pf_live_state::{Change, Counters, SYSTEM_SCOPE, Snapshot, TrendHistory, TrendPoint};
use pf_region::DataFile;
use serde::Serialize;
use time::OffsetDateTime;

use crate::england::{England, EnglandError, SyntheticIcs, reported};

/// Bed changes in the batch delta (spread over England's wards in turn).
pub const BATCH: usize = 100;

/// The frames' sizes, in bytes of JSON text.
#[derive(Debug, Clone, Serialize)]
pub struct WallSizes {
    /// The ICS whose wall it is.
    pub ics: String,
    /// Sites its region lists.
    pub region_sites: usize,
    /// Care homes of its region.
    pub region_homes: usize,
    /// Sites in the live state (all England).
    pub england_sites: usize,
    /// Care homes in the live state (all England).
    pub england_homes: usize,
    /// Sites the snapshot frame lists.
    pub snapshot_sites: usize,
    /// Localities the snapshot's care-home figures list.
    pub snapshot_localities: usize,
    /// The snapshot a wall receives on connecting.
    pub snapshot_bytes: usize,
    /// The delta after one bed change at one of the ICS's sites.
    pub delta_bed_inside_bytes: usize,
    /// The delta after one bed change at another ICS's site.
    pub delta_bed_outside_bytes: usize,
    /// The delta after one care-home report in the ICS.
    pub delta_home_inside_bytes: usize,
    /// The delta after one care-home report in another ICS.
    pub delta_home_outside_bytes: usize,
    /// The delta after [`BATCH`] bed changes spread over England.
    pub delta_batch_bytes: usize,
    /// The occupancy trends message (every site's history a reading every
    /// 5 minutes, for the last 24 hours and the same a week earlier), of
    /// the region's sites.
    pub trends_bytes: usize,
    /// The same, of every site in the live state (what the wall was sent
    /// before the trends were scoped to the region).
    pub trends_unscoped_bytes: usize,
}

/// Every ward's counters: core beds 92% occupied, the rest available;
/// escalation beds closed.
fn england_snapshot(england: &England, now: OffsetDateTime) -> Snapshot {
    let mut wards = BTreeMap::new();
    for (_, site) in england.sites() {
        for ward in &site.wards {
            let occupied = i64::from(ward.beds) * 92 / 100;
            let mut counters = Counters::new();
            counters.insert(
                CounterField::new(ward.kind, BedState::Occupied, false),
                occupied,
            );
            counters.insert(
                CounterField::new(ward.kind, BedState::Available, false),
                i64::from(ward.beds) - occupied,
            );
            if ward.escalation_beds > 0 {
                counters.insert(
                    CounterField::new(ward.kind, BedState::Closed, true),
                    i64::from(ward.escalation_beds),
                );
            }
            wards.insert((site.code.to_string(), ward.code.to_string()), counters);
        }
    }
    let care_homes = england
        .homes()
        .map(|(_, registration)| {
            let record = reported(
                &CareHomeRecord::registered(registration.clone()),
                now,
                |_| 2,
            );
            (registration.cqc_location_id.as_str().to_owned(), record)
        })
        .collect();
    Snapshot {
        version: 1,
        wards,
        care_homes,
        discharges: BTreeMap::new(),
    }
}

/// What the gateway derives from the ICS's region data set (as
/// `pf_gateway::run` does from the files `PF_REGION_DIR` names).
fn settings(england: &England, ics: &SyntheticIcs) -> Result<RoomSettings, WallSizeError> {
    let files = england.region_files(ics.code())?;
    let text = |wanted: DataFile| {
        files
            .iter()
            .find(|(file, _)| *file == wanted)
            .map(|(_, text)| text.as_str())
            .unwrap_or_default()
    };
    let catalogue = Catalogue::for_region("sites.json", text(DataFile::Sites), &ics.region)?;
    let labels = pf_gateway::view::site_labels(&catalogue);
    let plan = DischargePlan::from_json(
        text(DataFile::ExpectedDischarges),
        labels.keys().map(String::as_str),
    )?;
    Ok(RoomSettings {
        labels,
        stale_after: DEFAULT_STALE_AFTER,
        plan,
        localities: ics.region.localities.clone(),
    })
}

/// The sizes could not be measured.
#[derive(Debug, thiserror::Error)]
pub enum WallSizeError {
    /// The ICS or its data set.
    #[error(transparent)]
    England(#[from] EnglandError),
    /// Its `sites.json` did not load.
    #[error(transparent)]
    Catalogue(#[from] pf_hospital_model::CatalogueError),
    /// Its discharge plan did not load.
    #[error(transparent)]
    Plan(#[from] pf_gateway::discharge_figures::PlanError),
}

/// The occupancy history of every site of England (and the system): a
/// reading every 5 minutes over the two windows the wall's trends cover.
fn england_history(england: &England, now: i64) -> TrendHistory {
    let bucket = 300;
    let times: Vec<i64> = pf_gateway::trends::windows(now, bucket)
        .iter()
        .flat_map(|&(start, end)| (start..=end).step_by(bucket as usize))
        .collect();
    let mut scopes = BTreeMap::new();
    let mut system = vec![(0, 0); times.len()];
    for (n, (_, site)) in england.sites().enumerate() {
        let usable: i64 = site.wards.iter().map(|w| i64::from(w.beds)).sum();
        let points = times
            .iter()
            .enumerate()
            .map(|(i, &at)| {
                // Occupancy wanders between 80% and 99%.
                let occupied = usable * (80 + ((i * 7 + n * 13) % 20) as i64) / 100;
                system[i].0 += occupied;
                system[i].1 += usable;
                TrendPoint {
                    at,
                    occupied,
                    usable,
                }
            })
            .collect();
        scopes.insert(site.code.to_string(), points);
    }
    let system = times
        .iter()
        .zip(system)
        .map(|(&at, (occupied, usable))| TrendPoint {
            at,
            occupied,
            usable,
        })
        .collect();
    scopes.insert(SYSTEM_SCOPE.to_owned(), system);
    TrendHistory {
        bucket_secs: Some(bucket),
        scopes,
    }
}

/// The bytes of the trends message the wall of `settings` is sent.
fn trends_message_bytes(
    history: &TrendHistory,
    settings: &RoomSettings,
    now: i64,
    scoped: bool,
) -> usize {
    let trust_of: BTreeMap<String, String> = settings
        .labels
        .iter()
        .map(|(code, label)| (code.clone(), label.trust.clone()))
        .collect();
    let history = if scoped {
        trends::for_region(history.clone(), &trust_of)
    } else {
        history.clone()
    };
    let view = trends::build(&trends::with_trusts(&history, &trust_of), now);
    // `{"type":"trends", …}`: the view's fields and the type.
    serde_json::to_string(&view).map_or(0, |text| text.len() + r#""type":"trends","#.len())
}

/// The frames of the wall of the ICS `code`, with all of `england` in the
/// live state.
pub fn measure(england: &England, code: &str) -> Result<WallSizes, WallSizeError> {
    let ics = england.ics(code)?;
    let now = OffsetDateTime::now_utc();
    let snapshot = england_snapshot(england, now);
    let settings = settings(england, ics)?;
    let unix_now = now.unix_timestamp();
    let history = england_history(england, unix_now);
    let trends_bytes = trends_message_bytes(&history, &settings, unix_now, true);
    let trends_unscoped_bytes = trends_message_bytes(&history, &settings, unix_now, false);
    let room = ControlRoom::from_snapshot(Arc::new(settings), &snapshot, now);
    let json = |value: &dyn erased::Json| value.to_json().len();
    let snapshot_message = room.snapshot_message(now);
    let snapshot_bytes = json(&snapshot_message);

    let inside = ics.sites().next().map(|s| s.code.to_string());
    let outside_ics = england
        .icss
        .iter()
        .find(|other| other.code() != ics.code())
        .unwrap_or(ics);
    let outside = outside_ics.sites().next().map(|s| s.code.to_string());
    let one_bed = |site: Option<String>| {
        let mut room = room.clone();
        let site = site.unwrap_or_default();
        let change = bed_change(room.version() + 1, &site, "W1");
        delta_bytes(&mut room, &[change], now)
    };
    let one_home = |home: Option<&pf_care_home_model::Registration>| {
        let mut room = room.clone();
        let Some(home) = home else { return 0 };
        let record = reported(&CareHomeRecord::registered(home.clone()), now, |_| 1);
        let change = Change::CareHome {
            version: room.version() + 1,
            record: Box::new(record),
            event_type: "vacancies_reported".to_owned(),
            occurred_at_ms: 0,
        };
        delta_bytes(&mut room, &[change], now)
    };
    let batch: Vec<Change> = england
        .sites()
        .map(|(_, site)| site.code.to_string())
        .step_by(england.sites().count() / BATCH)
        .take(BATCH)
        .enumerate()
        .map(|(i, site)| bed_change(room.version() + 1 + i as u64, &site, "W1"))
        .collect();
    Ok(WallSizes {
        ics: ics.code().to_owned(),
        region_sites: ics.sites().count(),
        region_homes: ics.homes.len(),
        england_sites: england.sites().count(),
        england_homes: england.homes().count(),
        snapshot_sites: snapshot_message.sites.len(),
        snapshot_localities: snapshot_message.care_homes.localities.len(),
        snapshot_bytes,
        delta_bed_inside_bytes: one_bed(inside),
        delta_bed_outside_bytes: one_bed(outside),
        delta_home_inside_bytes: one_home(ics.homes.first()),
        delta_home_outside_bytes: one_home(outside_ics.homes.first()),
        delta_batch_bytes: delta_bytes(&mut room.clone(), &batch, now),
        trends_bytes,
        trends_unscoped_bytes,
    })
}

/// One bed of ward `ward` at `site` going from occupied to available.
fn bed_change(version: u64, site: &str, ward: &str) -> Change {
    use pf_hospital_model::BedKind;
    Change::Bed {
        version,
        site: site.to_owned(),
        ward: ward.to_owned(),
        bed: "B01".to_owned(),
        from: Some(CounterField::new(
            BedKind::GeneralAcute,
            BedState::Occupied,
            false,
        )),
        to: Some(CounterField::new(
            BedKind::GeneralAcute,
            BedState::Available,
            false,
        )),
        occurred_at_ms: 0,
    }
}

/// The bytes of the delta frame the hub sends after `changes`.
fn delta_bytes(room: &mut ControlRoom, changes: &[Change], now: OffsetDateTime) -> usize {
    let from = room.version();
    match room.apply(changes) {
        Ok(touched) => serde_json::to_string(&room.delta_message(from, &touched, 0, now))
            .map_or(0, |text| text.len()),
        Err(_) => 0,
    }
}

/// Serialisable values behind one closure.
mod erased {
    /// A value that can be written as JSON.
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

impl std::fmt::Display for WallSizes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self;
        writeln!(
            f,
            "Wall of {} ({} sites, {} care homes) with all of England in the live state ({} sites, {} care homes)",
            s.ics, s.region_sites, s.region_homes, s.england_sites, s.england_homes
        )?;
        writeln!(
            f,
            "  snapshot frame:                 {:>9} bytes ({} sites, {} care-home localities)",
            s.snapshot_bytes, s.snapshot_sites, s.snapshot_localities
        )?;
        writeln!(
            f,
            "  delta, 1 bed in the ICS:        {:>9} bytes",
            s.delta_bed_inside_bytes
        )?;
        writeln!(
            f,
            "  delta, 1 bed elsewhere:         {:>9} bytes",
            s.delta_bed_outside_bytes
        )?;
        writeln!(
            f,
            "  delta, 1 care home in the ICS:  {:>9} bytes",
            s.delta_home_inside_bytes
        )?;
        writeln!(
            f,
            "  delta, 1 care home elsewhere:   {:>9} bytes",
            s.delta_home_outside_bytes
        )?;
        writeln!(
            f,
            "  delta, {BATCH} beds across England: {:>8} bytes",
            s.delta_batch_bytes
        )?;
        writeln!(
            f,
            "  trends message:                 {:>9} bytes",
            s.trends_bytes
        )?;
        write!(
            f,
            "  trends message, every site:     {:>9} bytes (before the trends were scoped)",
            s.trends_unscoped_bytes
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ics_wall_carries_its_own_sites_and_localities_only_at_englands_size() {
        let england = England::generate(crate::england::DEFAULT_SEED);
        let ics = &england.icss[4];
        let sizes = measure(&england, ics.code()).expect("measured");
        assert_eq!(sizes.england_sites, crate::england::SITES);
        assert_eq!(sizes.snapshot_sites, ics.sites().count());
        assert_eq!(sizes.snapshot_localities, ics.region.localities.len());
        // Another ICS's change names nothing of it: the delta is no bigger
        // than the smallest delta of the ICS's own.
        assert!(sizes.delta_bed_outside_bytes < sizes.delta_bed_inside_bytes);
        assert!(sizes.delta_home_outside_bytes < sizes.delta_home_inside_bytes);
        assert!(sizes.trends_bytes * 10 < sizes.trends_unscoped_bytes);
        assert!(matches!(
            measure(&england, "QZ9"),
            Err(WallSizeError::England(EnglandError::UnknownIcs { .. }))
        ));
    }
}
