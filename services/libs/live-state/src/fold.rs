//! The one fold: what applying an event of any kind changes, decided in
//! Rust.
//!
//! [`fold`] turns an [`Update`] into a [`Plan`]: the entity's hash and the
//! fields it gets, what the entity contributes to which counter hashes
//! (the bed counters by [`CounterField`](crate::CounterField), the
//! occupancy figures by [`Occupancy::of_bed`]), the indexes and summaries
//! beside it, the change-log entry (counts only) and, for patient-level
//! entities, the notice. The [`writer`](crate::writer) checks the entity's
//! version and writes it: it takes the entity's previous contributions off
//! its counters and adds the new ones, so every counter always equals the
//! sum over the entities' newest contributions.

use std::collections::BTreeMap;

use pf_hospital_model::Occupancy;
use serde::Serialize;

use crate::change::{BedUpdate, CareHomeUpdate, DischargeUpdate, ItemUpdate, TeamsUpdate, Update};
use crate::keys::Keys;
use crate::store::LiveStateError;
use crate::trend::TrendSettings;
use crate::urgent_care::{
    AmbulanceEscalationUpdate, AmbulanceSummary, AmbulanceUpdate, EdAttendanceUpdate, EdSummary,
};

/// The field of a figures hash counting beds occupied.
pub const OCCUPIED: &str = "occupied";
/// The field of a figures hash counting beds usable.
pub const USABLE: &str = "usable";

/// What an entity adds to one counter hash: field → amount (no zeros).
pub type Contribution = BTreeMap<String, i64>;

/// Everything one update writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The entity's hash; nothing is written unless `entity_version` is
    /// newer than the version stored there.
    pub entity: String,
    /// The entity's version after the event.
    pub entity_version: u64,
    /// Fields the entity's hash gets (besides `version` and `contrib`).
    pub fields: Vec<(&'static str, String)>,
    /// Counter hashes and what the entity contributes to each now.
    pub counters: Vec<(String, Contribution)>,
    /// Members added to sets: (set, member).
    pub sets: Vec<(String, String)>,
    /// Fields set in other hashes: (hash, field, value).
    pub puts: Vec<(String, String, String)>,
    /// Fields removed from other hashes: (hash, field).
    pub removes: Vec<(String, String)>,
    /// A place in a geo set: (set, longitude, latitude, member).
    pub geo: Option<(String, f64, f64, String)>,
    /// The change-log entry's fields.
    pub change: Vec<(&'static str, String)>,
    /// A field of the change-log entry holding the value an entity field
    /// had before the event: (entry field, entity field).
    pub previous: Option<(&'static str, &'static str)>,
    /// The notice beside the change (patient-level entities), with the same
    /// change version: its fields.
    pub notice: Option<Vec<(&'static str, String)>>,
    /// The occupancy history the event moves.
    pub history: Option<History>,
}

/// The occupancy history an event keeps (see [`trend`](crate::trend)).
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// How it is bucketed and kept.
    pub settings: TrendSettings,
    /// The event's time, ms since the epoch.
    pub at_ms: i64,
    /// The scopes whose history it moves.
    pub scopes: Vec<HistoryScope>,
}

/// One scope of the history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryScope {
    /// Its figures hash (one of the plan's counters).
    pub figures: String,
    /// Its field in the newest buckets' hash.
    pub newest_field: String,
    /// Its sorted set of closed buckets.
    pub history: String,
}

/// Folds an update of any kind into what it writes.
pub fn fold(update: &Update, keys: &Keys, trends: TrendSettings) -> Result<Plan, LiveStateError> {
    match update {
        Update::Bed(update) => Ok(fold_bed(update, keys, trends)),
        Update::CareHome(update) => fold_care_home(update, keys),
        Update::Discharge(update) => fold_discharge(update, keys),
        Update::Item(update) => fold_item(update, keys),
        Update::Teams(update) => fold_teams(update, keys),
        Update::Ed(update) => fold_ed(update, keys),
        Update::Ambulance(update) => fold_ambulance(update, keys),
        Update::AmbulanceEscalation(update) => fold_escalation(update, keys),
    }
}

fn optional_ms(ms: Option<i64>) -> String {
    ms.map(|ms| ms.to_string()).unwrap_or_default()
}

/// The change-log entry of an ED or ambulance event: the site only (the
/// figures depend on the time, so readers re-read them).
fn urgent_change(site: &str, at_ms: i64, event_type: &str) -> Vec<(&'static str, String)> {
    vec![
        ("kind", "urgent_care".into()),
        ("site", site.to_owned()),
        ("at", at_ms.to_string()),
        ("event_type", event_type.to_owned()),
    ]
}

/// An attendance: its record, and its summary kept while it is in the
/// department (removed when it leaves).
fn fold_ed(update: &EdAttendanceUpdate, keys: &Keys) -> Result<Plan, LiveStateError> {
    let site = update.site.as_str();
    let member = Keys::urgent_member(site, &update.attendance);
    let (puts, removes) = match update.departed {
        None => {
            let summary = EdSummary {
                arrived_ms: update.arrived_at_ms,
                dta_ms: update.decided_to_admit_at_ms,
            };
            (
                vec![(
                    keys.ed_in_department(),
                    member,
                    json(&summary, "ED summary")?,
                )],
                Vec::new(),
            )
        }
        Some(_) => (Vec::new(), vec![(keys.ed_in_department(), member)]),
    };
    Ok(Plan {
        entity: keys.ed_attendance(site, &update.attendance),
        entity_version: update.entity_version,
        fields: vec![
            ("site", site.to_owned()),
            ("arrived_at", update.arrived_at_ms.to_string()),
            (
                "decided_to_admit_at",
                optional_ms(update.decided_to_admit_at_ms),
            ),
            (
                "departed_at",
                optional_ms(update.departed.map(|(at, _)| at)),
            ),
            (
                "departure",
                update
                    .departed
                    .map(|(_, d)| d.as_str())
                    .unwrap_or("")
                    .into(),
            ),
            ("event_id", update.event_id.clone()),
            ("occurred_at", update.occurred_at_ms.to_string()),
        ],
        counters: Vec::new(),
        sets: Vec::new(),
        puts,
        removes,
        geo: None,
        change: urgent_change(site, update.occurred_at_ms, &update.event_type),
        previous: None,
        notice: None,
        history: None,
    })
}

/// An ambulance service's escalation level: its record and its summary
/// (the change-log entry names no site: only the system's figures move).
fn fold_escalation(
    update: &AmbulanceEscalationUpdate,
    keys: &Keys,
) -> Result<Plan, LiveStateError> {
    let summary = &update.summary;
    let service = summary.service.as_str();
    Ok(Plan {
        entity: keys.ambulance_service(service),
        entity_version: update.entity_version,
        fields: vec![
            ("service", service.to_owned()),
            ("scale", summary.scale.clone()),
            ("level", summary.level.to_string()),
            ("set_at", summary.set_ms.to_string()),
            ("event_id", update.event_id.clone()),
            ("occurred_at", update.occurred_at_ms.to_string()),
        ],
        counters: Vec::new(),
        sets: Vec::new(),
        puts: vec![(
            keys.ambulance_escalations(),
            service.to_owned(),
            json(summary, "escalation summary")?,
        )],
        removes: Vec::new(),
        geo: None,
        change: urgent_change("", update.occurred_at_ms, &update.event_type),
        previous: None,
        notice: None,
        history: None,
    })
}

/// An ambulance arrival: its record; while it waits, its summary; once
/// handed over, its part in its arrival day's handover counters (always
/// the same counter hash, so a correction moves the counts).
fn fold_ambulance(update: &AmbulanceUpdate, keys: &Keys) -> Result<Plan, LiveStateError> {
    let site = update.site.as_str();
    let member = Keys::urgent_member(site, &update.arrival);
    let arrived = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(update.arrived_at_ms) * 1_000_000,
    )
    .map_err(|e| LiveStateError::Unexpected(format!("ambulance arrival time: {e}")))?;
    let day = crate::discharge_counts::uk_date(arrived);
    let counted: Contribution = update
        .handover_counts()
        .into_iter()
        .flatten()
        .filter(|(_, n)| *n != 0)
        .map(|(field, n)| (format!("{site}:{field}"), n))
        .collect();
    let (puts, removes) = match update.handed_over_at_ms {
        None => {
            let summary = AmbulanceSummary {
                arrived_ms: update.arrived_at_ms,
            };
            (
                vec![(
                    keys.ambulances_waiting(),
                    member,
                    json(&summary, "ambulance summary")?,
                )],
                Vec::new(),
            )
        }
        Some(_) => (Vec::new(), vec![(keys.ambulances_waiting(), member)]),
    };
    Ok(Plan {
        entity: keys.ambulance(site, &update.arrival),
        entity_version: update.entity_version,
        fields: vec![
            ("site", site.to_owned()),
            ("arrived_at", update.arrived_at_ms.to_string()),
            ("handed_over_at", optional_ms(update.handed_over_at_ms)),
            ("cleared_at", optional_ms(update.cleared_at_ms)),
            ("event_id", update.event_id.clone()),
            ("occurred_at", update.occurred_at_ms.to_string()),
        ],
        counters: vec![(keys.ambulance_day(day), counted)],
        sets: Vec::new(),
        puts,
        removes,
        geo: None,
        change: urgent_change(site, update.occurred_at_ms, &update.event_type),
        previous: None,
        notice: None,
        history: None,
    })
}

fn flag(on: bool) -> String {
    if on { "1" } else { "0" }.to_owned()
}

fn fold_bed(update: &BedUpdate, keys: &Keys, trends: TrendSettings) -> Plan {
    let site = update.site.as_str();
    let counter = update.counter();
    let counted: Contribution = counter.iter().map(|field| (field.to_field(), 1)).collect();
    let occupancy = Occupancy::of_bed(counter.map(|field| field.state));
    let figures: Contribution = [(OCCUPIED, occupancy.occupied), (USABLE, occupancy.usable)]
        .into_iter()
        .filter(|(_, n)| *n != 0)
        .map(|(field, n)| (field.to_owned(), n))
        .collect();
    let to = counter.map(|field| field.to_field()).unwrap_or_default();
    Plan {
        entity: keys.bed(site, &update.ward, &update.bed),
        entity_version: update.entity_version,
        fields: vec![
            ("open", flag(update.open)),
            (
                "state",
                update.state.map(|s| s.as_str()).unwrap_or("").into(),
            ),
            ("kind", update.kind.as_str().into()),
            ("escalation", flag(update.escalation)),
            ("reason", update.reason.clone()),
            ("event_id", update.event_id.clone()),
            ("occurred_at", update.occurred_at_ms.to_string()),
            ("counter", to.clone()),
        ],
        counters: vec![
            (keys.ward(site, &update.ward), counted.clone()),
            (keys.site(site), counted.clone()),
            (keys.system(), counted),
            (keys.figures_site(site), figures.clone()),
            (keys.figures_system(), figures),
        ],
        sets: vec![
            (keys.wards_index(), Keys::ward_member(site, &update.ward)),
            (keys.sites_index(), site.to_owned()),
        ],
        puts: Vec::new(),
        removes: Vec::new(),
        geo: None,
        change: vec![
            ("kind", "bed".into()),
            ("site", site.to_owned()),
            ("ward", update.ward.clone()),
            ("bed", update.bed.clone()),
            ("to", to),
            ("at", update.occurred_at_ms.to_string()),
            ("event_type", update.event_type.clone()),
        ],
        previous: Some(("from", "counter")),
        notice: None,
        history: Some(History {
            settings: trends,
            at_ms: update.occurred_at_ms,
            scopes: vec![
                HistoryScope {
                    figures: keys.figures_site(site),
                    newest_field: format!("{}{site}", Keys::TREND_NEWEST_SITE),
                    history: keys.trend_site(site),
                },
                HistoryScope {
                    figures: keys.figures_system(),
                    newest_field: Keys::TREND_NEWEST_SYSTEM.to_owned(),
                    history: keys.trend_system(),
                },
            ],
        }),
    }
}

fn fold_care_home(update: &CareHomeUpdate, keys: &Keys) -> Result<Plan, LiveStateError> {
    let registration = &update.record.registration;
    let cqc = registration.cqc_location_id.as_str();
    let record = json(&update.shared_record(), "care-home record")?;
    Ok(Plan {
        entity: keys.care_home(cqc),
        entity_version: update.entity_version,
        fields: vec![
            ("record", record.clone()),
            ("event_id", update.event_id.clone()),
            ("occurred_at", update.occurred_at_ms.to_string()),
        ],
        counters: Vec::new(),
        sets: vec![(keys.care_homes_index(), cqc.to_owned())],
        puts: Vec::new(),
        removes: Vec::new(),
        geo: Some((
            keys.care_homes_geo(),
            registration.longitude,
            registration.latitude,
            cqc.to_owned(),
        )),
        change: vec![
            ("kind", "care_home".into()),
            ("id", cqc.to_owned()),
            ("record", record),
            ("at", update.occurred_at_ms.to_string()),
            ("event_type", update.event_type.clone()),
        ],
        previous: None,
        notice: None,
        history: None,
    })
}

fn fold_discharge(update: &DischargeUpdate, keys: &Keys) -> Result<Plan, LiveStateError> {
    let id = update.record.discharge_id.as_str();
    let summary = json(&update.summary(), "discharge summary")?;
    Ok(Plan {
        entity: keys.discharge(id),
        entity_version: update.entity_version,
        fields: vec![
            ("record", json(&update.record, "discharge record")?),
            ("event_id", update.event_id.clone()),
            ("occurred_at", update.occurred_at_ms.to_string()),
        ],
        counters: Vec::new(),
        sets: vec![(keys.discharges_index(), id.to_owned())],
        puts: vec![(keys.discharge_summaries(), id.to_owned(), summary.clone())],
        removes: Vec::new(),
        geo: None,
        change: vec![
            ("kind", "discharge".into()),
            ("id", id.to_owned()),
            ("summary", summary),
            ("at", update.occurred_at_ms.to_string()),
            ("event_type", update.event_type.clone()),
        ],
        previous: None,
        notice: Some(vec![
            ("kind", "discharge".into()),
            ("id", id.to_owned()),
            ("version", update.entity_version.to_string()),
            ("managed_by", update.record.managed_by.clone()),
            ("at", update.occurred_at_ms.to_string()),
            ("event_type", update.event_type.clone()),
        ]),
        history: None,
    })
}

fn fold_item(update: &ItemUpdate, keys: &Keys) -> Result<Plan, LiveStateError> {
    let id = update.record.item_id.as_str();
    Ok(Plan {
        entity: keys.item(id),
        entity_version: update.entity_version,
        fields: vec![
            ("record", json(&update.record, "item record")?),
            ("event_id", update.event_id.clone()),
            ("occurred_at", update.occurred_at_ms.to_string()),
        ],
        counters: Vec::new(),
        sets: vec![(keys.items_index(), id.to_owned())],
        puts: Vec::new(),
        removes: Vec::new(),
        geo: None,
        change: vec![
            ("kind", "item".into()),
            ("id", id.to_owned()),
            ("at", update.occurred_at_ms.to_string()),
            ("event_type", update.event_type.clone()),
        ],
        previous: None,
        notice: None,
        history: None,
    })
}

fn fold_teams(update: &TeamsUpdate, keys: &Keys) -> Result<Plan, LiveStateError> {
    let ods = update.register.organisation.as_str();
    Ok(Plan {
        entity: keys.teams(ods),
        entity_version: update.entity_version,
        fields: vec![
            ("record", json(&update.register, "team register")?),
            ("event_id", update.event_id.clone()),
            ("occurred_at", update.occurred_at_ms.to_string()),
        ],
        counters: Vec::new(),
        sets: vec![(keys.teams_index(), ods.to_owned())],
        puts: Vec::new(),
        removes: Vec::new(),
        geo: None,
        change: vec![
            ("kind", "teams".into()),
            ("id", ods.to_owned()),
            ("at", update.occurred_at_ms.to_string()),
            ("event_type", "teams.changed".into()),
        ],
        previous: None,
        notice: None,
        history: None,
    })
}

fn json(value: &impl Serialize, what: &str) -> Result<String, LiveStateError> {
    serde_json::to_string(value).map_err(|e| LiveStateError::Unexpected(format!("{what}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use pf_hospital_model::{BedKind, BedState};

    fn bed(open: bool, state: Option<BedState>, escalation: bool) -> BedUpdate {
        BedUpdate {
            event_id: "e1".into(),
            event_type: "bed.state_changed".into(),
            entity_version: 4,
            site: "RWEAA".into(),
            ward: "WD15".into(),
            bed: "B01".into(),
            open,
            state,
            kind: BedKind::GeneralAcute,
            escalation,
            reason: "admitted".into(),
            occurred_at_ms: 1_764_493_200_000,
        }
    }

    fn contribution(pairs: &[(&str, i64)]) -> Contribution {
        pairs.iter().map(|(f, n)| ((*f).to_owned(), *n)).collect()
    }

    /// Each bed event kind, what it contributes to the counters and to the
    /// occupancy figures, and what the change says it joined.
    #[test]
    fn a_bed_counts_in_one_counter_and_in_the_occupancy_by_its_state() {
        let cases = [
            // (open, state, escalation) → counter field, occupied, usable
            (
                (true, Some(BedState::Available), false),
                "general_acute:available",
                0,
                1,
            ),
            (
                (true, Some(BedState::Occupied), false),
                "general_acute:occupied",
                1,
                1,
            ),
            (
                (true, Some(BedState::Occupied), true),
                "general_acute:occupied:escalation",
                1,
                1,
            ),
            (
                (true, Some(BedState::AwaitingClean), false),
                "general_acute:awaiting_clean",
                0,
                1,
            ),
            (
                (true, Some(BedState::Reserved), false),
                "general_acute:reserved",
                0,
                1,
            ),
            (
                (true, Some(BedState::Closed), true),
                "general_acute:closed:escalation",
                0,
                0,
            ),
            ((false, None, false), "", 0, 0),
        ];
        let keys = Keys::default();
        for ((open, state, escalation), field, occupied, usable) in cases {
            let plan = fold(
                &Update::Bed(bed(open, state, escalation)),
                &keys,
                TrendSettings::default(),
            )
            .expect("a plan");
            let counted = if field.is_empty() {
                Contribution::new()
            } else {
                contribution(&[(field, 1)])
            };
            let figures: Contribution = [(OCCUPIED, occupied), (USABLE, usable)]
                .into_iter()
                .filter(|(_, n)| *n != 0)
                .map(|(f, n)| (f.to_owned(), n))
                .collect();
            assert_eq!(
                plan.counters,
                vec![
                    ("pf:ward:RWEAA:WD15".to_owned(), counted.clone()),
                    ("pf:site:RWEAA".to_owned(), counted.clone()),
                    ("pf:system".to_owned(), counted),
                    ("pf:figures:site:RWEAA".to_owned(), figures.clone()),
                    ("pf:figures:system".to_owned(), figures),
                ],
                "{field}"
            );
            assert!(plan.change.contains(&("to", field.to_owned())), "{field}");
            assert!(plan.fields.contains(&("counter", field.to_owned())));
            assert_eq!(plan.previous, Some(("from", "counter")));
            assert_eq!(plan.entity, "pf:bed:RWEAA:WD15:B01");
            assert_eq!(plan.notice, None, "a bed is no patient's");
            let history = plan.history.expect("beds keep the history");
            assert_eq!(history.scopes.len(), 2);
        }
    }

    fn care_home() -> CareHomeUpdate {
        let record = serde_json::from_value(serde_json::json!({
            "registration": {
                "cqc_location_id": "1-000000001", "name": "Test House (demo)",
                "address": "1 Test Road", "postcode": "LE2 1AA", "latitude": 52.6,
                "longitude": -1.1, "locality": "leicester_city", "registered_beds": 10,
                "categories": ["residential"]
            },
            "vacancies": [{ "category": "residential", "vacant": 2, "unavailable": 0, "sex": "either" }],
            "closure": null, "accepting_hospital_discharges": true, "note": "",
            "confirmed": null, "holds": []
        }))
        .expect("a care-home record");
        CareHomeUpdate {
            event_id: "e2".into(),
            event_type: "care_home.vacancies_reported".into(),
            entity_version: 2,
            record,
            occurred_at_ms: 1,
        }
    }

    fn discharge() -> DischargeUpdate {
        use pf_discharge_model::{
            DelayReason, DischargeRecord, DischargeStatus, Funding, NhsNumber, Pathway,
        };
        DischargeUpdate {
            event_id: "e3".into(),
            event_type: "discharge.patient_ready".into(),
            entity_version: 3,
            record: DischargeRecord {
                discharge_id: "d1".to_owned(),
                nhs_number: Some(NhsNumber::parse("9434765919").expect("valid")),
                sex: pf_care_home_model::SexAccepted::Female,
                trust: "RWE".to_owned(),
                site: "RWEAA".to_owned(),
                ward: "WD15".to_owned(),
                discharge_ready_date: time::macros::date!(2026 - 11 - 20),
                pathway: Pathway::P1,
                care_needed: None,
                search_postcode: "LE1 5WW".to_owned(),
                place: None,
                funding: Funding::NotYetKnown,
                preferred_home: None,
                delay_reason: DelayReason::NotYetKnown,
                status: DischargeStatus::Ready,
                needs: "Walks with a frame".to_owned(),
                destination: None,
                destination_home: None,
                discharged_at: None,
                cancel_reason: String::new(),
                managed_by: "RWE".to_owned(),
                sealed: None,
            },
            occurred_at_ms: 1,
        }
    }

    /// Care homes and discharges move no counter (nothing reads totals of
    /// them); the discharge's record goes under the patient prefix, the
    /// count feed gets its summary only, and the notice names it.
    #[test]
    fn records_move_no_counter_and_only_discharges_send_a_notice() {
        let keys = Keys::default();
        let home = fold(
            &Update::CareHome(Box::new(care_home())),
            &keys,
            TrendSettings::default(),
        )
        .expect("a plan");
        assert_eq!(home.entity, "pf:care-home:1-000000001");
        assert!(home.counters.is_empty());
        assert_eq!(
            home.sets,
            vec![("pf:index:care-homes".to_owned(), "1-000000001".to_owned())]
        );
        assert!(home.geo.is_some());
        assert_eq!(
            (home.notice, home.history, home.previous),
            (None, None, None)
        );
        assert!(home.change.contains(&("kind", "care_home".to_owned())));

        let discharge = fold(
            &Update::Discharge(Box::new(discharge())),
            &keys,
            TrendSettings::default(),
        )
        .expect("a plan");
        assert_eq!(discharge.entity, "pf-patient:discharge:d1");
        assert!(discharge.counters.is_empty());
        assert_eq!(
            discharge.sets,
            vec![("pf-patient:index:discharges".to_owned(), "d1".to_owned())]
        );
        assert_eq!(discharge.puts[0].0, "pf:discharges:summary");
        let feed: String = discharge.change.iter().map(|(_, v)| v.as_str()).collect();
        assert!(
            !feed.contains("9434765919"),
            "no NHS number in the count feed"
        );
        assert!(
            discharge
                .fields
                .iter()
                .any(|(_, v)| v.contains("9434765919"))
        );
        let notice = discharge.notice.expect("a notice");
        assert!(notice.contains(&("version", "3".to_owned())));
        assert!(notice.contains(&("managed_by", "RWE".to_owned())));
        assert_eq!(discharge.history, None);
    }
}
