//! The control-room wall in a real headless Chromium, on a region of 20
//! sites: after a scripted sequence of bed, discharge, care-home, ED and
//! ambulance events and OPEL levels with their reasons,
//! every figure of every site, trust and the system on the page equals the
//! projection's state in Redis — first as the page is served, then after a
//! second sequence arrives live, without reload — at 1920×1080 and 3840×2160
//! (one screen, no scrolling) and on a phone (no sideways scrolling), with no
//! WCAG 2.2 A/AA violation (axe-core). The browser side is
//! `dashboards/tests/wall.test.mjs`; set `PF_SCREENSHOT_DIR` to keep the
//! screenshots it takes.
//!
//! The region is the worst the wall must cope with: real-style long site and
//! trust names, care homes offering all 13 categories of the register, OPEL 4
//! on several sites and the whole system, and an alert banner with long
//! alerts. At each size the browser side also checks that nothing is cut off
//! or overlaps (cards, figures, names, OPEL badges, tables), that text is
//! no smaller than 20 px (key figures 40 px) at 1920×1080 and twice that at
//! 3840×2160, on each of the wall's rotating pages, and it writes the
//! README's picture of the wall (`docs/images/control-room-wall.png`).
//!
//! ED and ambulance events are folded into the projection's live state by
//! its own fold (`LiveState::apply_through`, as pf-projection applies them),
//! a burst per acute site; the figures compared are the counts that do not
//! move while the test runs (the longest wait and the hours lost grow by the
//! minute, so arrivals are placed well clear of the 4- and 12-hour and
//! 60-minute marks).
//!
//! The expected figures are computed here from the projection's Redis state
//! with the rules the wall documents (occupancy = occupied ÷ (total − closed),
//! NCTR = waiting patients whose Discharge Ready Date has come, …), not with
//! the gateway's code.

#![allow(clippy::unwrap_used, clippy::too_many_lines)] // test code: fail loudly; the script reads best in one place

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pf_access::{Grant, Principal, Role};
use pf_care_home_log::Clock as _;
use pf_care_home_model::{CareCategory, Register};
use pf_discharge_model::{DischargeStatus, NhsNumber};
use pf_event_log::{EventPublisher, streams};
use pf_integration_tests::{Platform, TEST_REGISTER, dashboards_dir, demo};
use pf_live_state::urgent_care::{self, Departure};
use pf_live_state::{AmbulanceUpdate, EdAttendanceUpdate, Update};
use pf_proto::NewEvent;
use pf_proto::v1::{Actor, ActorKind, OpelLevelChanged, Source, event_envelope::Payload};
use serde_json::{Map, Value, json};

/// Kinds of site, and how many of each the test region has.
const SITES: [(&str, usize); 4] = [
    ("acute", 4),
    ("community", 10),
    ("mental_health", 2),
    ("virtual_ward", 4),
];

/// The trusts: (code, name, short name). The short names are what the wall
/// shows, here as long as a catalogue may make them.
const TRUSTS: [(&str, &str, &str); 2] = [
    (
        "RWE",
        "University Hospitals of Leicester NHS Trust",
        "University Hospitals of Leicester",
    ),
    (
        "RT5",
        "Leicestershire Partnership NHS Trust",
        "Leicestershire Partnership",
    ),
];

/// Site names as long as real ones (in the order of [`SITES`]' kinds).
const SITE_NAMES: [&str; 20] = [
    "Leicester Royal Infirmary",
    "Glenfield Hospital",
    "Leicester General Hospital",
    "Leicester Royal Infirmary Children's Hospital",
    "St Luke's Hospital Market Harborough",
    "Feilding Palmer Community Hospital",
    "Melton Mowbray Hospital",
    "Loughborough Hospital",
    "Rutland Memorial Hospital",
    "Coalville Community Hospital",
    "Hinckley and Bosworth Community Hospital",
    "Evington Centre",
    "Ashby and District Community Hospital",
    "Oakham and Uppingham Community Rehabilitation Unit",
    "Bradgate Mental Health Unit",
    "Stewart House Mental Health Rehabilitation Unit",
    "Acute Respiratory Infection Virtual Ward",
    "Frailty and Falls Virtual Ward (Leicester City)",
    "Heart Failure Virtual Ward",
    "Community Virtual Ward (Leicestershire and Rutland)",
];

/// The OPEL level of site `i` (OPEL 4 on several); the whole system is at 4.
fn opel_level(i: usize) -> u32 {
    [4, 3, 2, 1, 4, 4, 3][i % 7]
}

/// The level's words, as pf-pressure publishes them.
fn opel_words(level: u32) -> &'static str {
    match level {
        1 => "Meeting demand",
        2 => "Moderate pressure",
        3 => "Severe pressure",
        _ => "Extreme pressure: care and safety at risk",
    }
}

/// Why a level is what it is, as pf-pressure words it (the parameters that
/// drive it); the system's names the sites, as long as a real one may be.
fn opel_reason(scope: &str, level: u32) -> String {
    if scope == "system" {
        return "ICS rule: 3 of 4 acute sites at OPEL 3 or above; G&A occupancy 96.2% (OPEL 4 from 95%); 6 patients over 12 hours in ED".to_owned();
    }
    match level {
        1 => "G&A occupancy 84.0%".to_owned(),
        2 => "G&A occupancy 91.5%; 2 handovers over 60 minutes".to_owned(),
        3 => "G&A occupancy 93.8%; NCTR 14".to_owned(),
        _ => "G&A occupancy 97.0%; 3 patients over 12 hours in ED".to_owned(),
    }
}

/// The 20 sites: (trust code, trust short name, site code, kind, name).
fn sites() -> Vec<(
    &'static str,
    &'static str,
    String,
    &'static str,
    &'static str,
)> {
    let mut sites = Vec::new();
    for (kind, count) in SITES {
        for n in 0..count {
            let (trust, _, short) = if kind == "acute" || (kind == "virtual_ward" && n % 2 == 0) {
                TRUSTS[0]
            } else {
                TRUSTS[1]
            };
            let prefix = match kind {
                "acute" => "AC",
                "community" => "CM",
                "mental_health" => "MH",
                _ => "VW",
            };
            let name = SITE_NAMES[sites.len()];
            sites.push((trust, short, format!("{trust}{prefix}{n}"), kind, name));
        }
    }
    sites
}

/// Care homes besides the test register's, so that the wall shows every one of
/// the 13 categories: (CQC location id, locality, categories offered).
fn more_homes() -> Vec<(String, &'static str, Vec<CareCategory>)> {
    vec![
        (
            "1-000000101".to_owned(),
            "leicester_city",
            CareCategory::ALL.to_vec(),
        ),
        (
            "1-000000102".to_owned(),
            "leicestershire",
            CareCategory::ALL.to_vec(),
        ),
        (
            "1-000000103".to_owned(),
            "rutland",
            CareCategory::ALL[..6].to_vec(),
        ),
    ]
}

fn more_homes_register() -> String {
    let homes: Vec<Value> = more_homes()
        .into_iter()
        .enumerate()
        .map(|(i, (cqc, locality, categories))| {
            json!({
                "cqc_location_id": cqc,
                "name": format!("Wall test home {i} (demo)"),
                "address": format!("{i} Test Road, Leicester"), "postcode": "LE2 1AA",
                "latitude": 52.61, "longitude": -1.11, "locality": locality,
                "registered_beds": 120,
                "categories": categories.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "homes": homes }).to_string()
}

/// Wards of a site by kind: (ward code, bed kind, core beds, escalation beds).
fn wards(kind: &str) -> Vec<(&'static str, &'static str, u16, u16)> {
    match kind {
        "acute" => vec![
            ("GA1", "general_acute", 9, 2),
            ("ICU", "adult_critical_care", 3, 0),
        ],
        "community" => vec![("CW1", "community", 5, 0)],
        "mental_health" => vec![("MH1", "mental_health", 5, 0)],
        _ => vec![("VW1", "virtual_ward", 6, 0)],
    }
}

fn catalogue() -> String {
    let mut trusts: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for (i, (trust, _, code, kind, name)) in sites().into_iter().enumerate() {
        let wards: Vec<Value> = wards(kind)
            .into_iter()
            .map(|(ward, bed_kind, beds, escalation)| {
                json!({"code": ward, "name": format!("Ward {ward}"), "kind": bed_kind,
                       "beds": beds, "escalation_beds": escalation})
            })
            .collect();
        let locality = ["Leicester City", "Leicestershire", "Rutland"][i % 3];
        trusts.entry(trust).or_default().push(json!({
            "code": code, "name": name, "kind": kind,
            "locality": locality,
            "postcode": "LE1 5WW", "wards": wards,
        }));
    }
    let trusts: Vec<Value> = TRUSTS
        .iter()
        .map(|(code, name, short)| {
            json!({"code": code, "name": name, "short_name": short, "sites": trusts[code]})
        })
        .collect();
    json!({"region": "Test wall region", "trusts": trusts}).to_string()
}

/// Expected discharges for the first two acute sites only (the others have no plan).
fn plan() -> String {
    json!({"sites": {
        "RWEAC0": {"0": 12, "1": 7, "2": 2, "3": 2},
        "RWEAC1": {"0": 5, "1": 3, "2": 1, "3": 1},
    }})
    .to_string()
}

/// The state the script gives bed `j` of site `i` (a mix of every state).
fn scripted_state(i: usize, j: usize) -> &'static str {
    [
        "occupied",
        "available",
        "occupied",
        "awaiting_clean",
        "occupied",
        "closed",
        "reserved",
    ][(i * 3 + j) % 7]
}

struct Script<'a> {
    platform: &'a Platform,
    coordinator: String,
    feed: String,
}

impl Script<'_> {
    async fn post(&self, url: String, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .platform
            .http
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn referral(&self, n: u32, site: &str, pathway: u8, ready_days_ago: i64) -> String {
        // A Discharge Ready Date is a UK date: days back from the discharges
        // service's UK day (the UTC date is yesterday's between 00:00 and
        // 01:00 UK time in summer).
        let today = pf_web::uk_time::date(self.platform.clock.now());
        let ready = today - time::Duration::days(ready_days_ago);
        let mut body = json!({
            "nhs_number": NhsNumber::test_number(n).as_str(),
            "sex": if n.is_multiple_of(2) { "female" } else { "male" },
            "site": site, "ward": "GA1",
            "discharge_ready_date": ready.to_string(),
            "pathway": pathway,
            "search_postcode": "LE2 7LX",
            "delay_reason": "awaiting_assessment",
            "needs": "Walks with a frame"
        });
        if pathway >= 2 {
            body["care_needed"] = json!("residential");
        }
        let url = format!("{}/api/v1/discharges", self.platform.discharges_url);
        let (status, answer) = self.post(url, &self.coordinator, body).await;
        assert_eq!(status, 201, "referral {n} at {site}: {answer}");
        answer["discharge_id"].as_str().unwrap().to_owned()
    }

    async fn discharge_home(&self, id: &str) {
        let url = format!(
            "{}/api/v1/discharges/{id}/discharge",
            self.platform.discharges_url
        );
        let body = json!({"destination": "usual_residence"});
        let (status, answer) = self.post(url, &self.coordinator, body).await;
        assert_eq!(status, 200, "discharging {id}: {answer}");
    }

    async fn care_home_report(&self, residential: u32) {
        let response = self
            .platform
            .http
            .put(format!(
                "{}/api/v1/care-homes/1-000000001/vacancies",
                self.platform.care_homes_url
            ))
            .bearer_auth(&self.feed)
            .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
            .json(&json!({"vacancies": {
                "residential": {"vacant": residential},
                "residential_dementia": {"vacant": 1}
            }}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
}

/// Registers [`more_homes`] (as the care-homes service does at start-up) and
/// reports vacancies in every category they offer.
async fn more_care_homes(platform: &Platform, feed: &str) {
    let register = Register::from_json(&more_homes_register()).unwrap();
    let log = pf_care_home_log::HomeLog::new(platform.jetstream().await, "pf-care-homes");
    let by = Principal::machine("register", "Care-home register", None);
    assert_eq!(
        log.register(&register, &by).await.unwrap(),
        more_homes().len()
    );
    for (i, (cqc, _, categories)) in more_homes().into_iter().enumerate() {
        let vacancies: Map<String, Value> = categories
            .iter()
            .enumerate()
            .map(|(j, c)| {
                (
                    c.as_str().to_owned(),
                    json!({"vacant": (i * 7 + j * 3) % 11 + 1}),
                )
            })
            .collect();
        let response = platform
            .http
            .put(format!(
                "{}/api/v1/care-homes/{cqc}/vacancies",
                platform.care_homes_url
            ))
            .bearer_auth(feed)
            .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
            .json(&json!({ "vacancies": vacancies }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
}

/// Alerts as pf-pressure words them, oldest first: (kind, severity, title).
const ALERTS: [(&str, &str, &str); 5] = [
    (
        "nctr_surge",
        "warning",
        "Surge of patients with no criteria to reside: 12 more waiting within 60 minutes (148 now)",
    ),
    (
        "occupancy_threshold",
        "warning",
        "Hinckley and Bosworth Community Hospital: bed occupancy 97% (at or above 95%)",
    ),
    (
        "opel_level_changed",
        "critical",
        "Leicester Royal Infirmary Children's Hospital: OPEL 4 (Extreme pressure: care and safety at risk) — was OPEL 3",
    ),
    (
        "opel_level_changed",
        "critical",
        "Oakham and Uppingham Community Rehabilitation Unit: OPEL 4 (Extreme pressure: care and safety at risk) — was OPEL 2",
    ),
    (
        "opel_level_changed",
        "critical",
        "System: OPEL 4 (Extreme pressure: care and safety at risk) — was OPEL 3",
    ),
];

/// Publishes what pf-pressure would: every site's OPEL level and the
/// system's, and [`ALERTS`]; waits until the gateway has them. Returns the
/// levels by scope, `{scope: {level, words}}`.
async fn publish_pressure(platform: &Platform) -> Value {
    let js = platform.jetstream().await;
    let publisher = EventPublisher::new(js.clone());
    let now = time::OffsetDateTime::now_utc();
    let mut scopes: Vec<(String, u32)> = sites()
        .iter()
        .enumerate()
        .map(|(i, s)| (s.2.clone(), opel_level(i)))
        .collect();
    scopes.push(("system".to_owned(), 4));
    let mut levels = Map::new();
    for (scope, level) in scopes {
        let machine = || Actor {
            id: "pf-pressure".to_owned(),
            organisation: "LLR ICB".to_owned(),
            kind: ActorKind::Machine as i32,
        };
        let event = NewEvent {
            source: Source {
                organisation: "LLR ICB".to_owned(),
                service: "pf-pressure".to_owned(),
            },
            entity_id: format!("opel/{scope}"),
            entity_version: 1,
            occurred_at: Some(now),
            actor: machine(),
            payload: Payload::OpelLevelChanged(OpelLevelChanged {
                scope: scope.clone(),
                site_kind: String::new(),
                from_level: 0,
                to_level: level,
                score: f64::from(level),
                parameters: Vec::new(),
                words: opel_words(level).to_owned(),
                reason: opel_reason(&scope, level),
                drivers: Vec::new(),
            }),
        }
        .seal(now);
        publisher
            .publish_confirmed(&streams::opel_subject(&scope), &event, None)
            .await
            .unwrap();
        levels.insert(
            scope.clone(),
            json!({"level": level, "words": opel_words(level), "reason": opel_reason(&scope, level)}),
        );
    }
    for (n, (kind, severity, title)) in ALERTS.iter().enumerate() {
        let at = now + time::Duration::seconds(n as i64 - ALERTS.len() as i64);
        let alert = json!({
            "alert_id": uuid::Uuid::now_v7().to_string(), "kind": kind, "severity": severity,
            "scope": "system", "title": title,
            "at": at.format(&time::format_description::well_known::Rfc3339).unwrap(),
            "details": {},
        });
        js.publish(streams::alert_subject(kind), alert.to_string().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let board: Value = platform.opel_board().await;
        let got_levels = board["levels"].as_object().map_or(0, Map::len);
        let got_alerts = board["alerts"].as_array().map_or(0, Vec::len);
        if got_levels == levels.len() && got_alerts == ALERTS.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the gateway never had every level and alert: {board}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Value::Object(levels)
}

/// Text as the wall shows the occupancy of `occupied` beds out of
/// `usable` (by the platform's one rule), or "–".
fn pct(occupied: i64, usable: i64) -> String {
    pf_hospital_model::Occupancy { occupied, usable }
        .pct()
        .map_or_else(|| "–".to_owned(), |pct| format!("{pct:.1}%"))
}

#[derive(Default, Clone)]
struct Beds {
    by_state: BTreeMap<String, i64>,
    escalation_open: i64,
    by_kind: BTreeMap<String, (i64, i64)>, // kind → (occupied, usable)
}

#[derive(Default, Clone)]
struct Flow {
    nctr: i64,
    delay_days: i64,
    discharged: [i64; 4],
    waiting: [i64; 4],
}

const MIN_MS: i64 = 60_000;

/// Eight days of hourly occupancy history for every site and the system,
/// written where the projection keeps it, so that the 24-hour charts (and
/// the README's picture) have a day and the same day last week to draw:
/// a daily curve, a little fuller last week. The live figures the
/// projection writes from the events come after it and end each line.
async fn seed_history(platform: &Platform) {
    let live = platform.live_state("pf:").await;
    let mut redis = redis::Client::open(platform.redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut system: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for (i, (_, _, code, kind, _)) in sites().iter().enumerate() {
        let usable: i64 = wards(kind).iter().map(|w| i64::from(w.2)).sum();
        let mut pipe = redis::pipe();
        for hours_back in 1..=(8 * 24_i64) {
            let at = (now - hours_back * 3600).div_euclid(300) * 300;
            let hour = (at.div_euclid(3600) % 24) as f64;
            let last_week = if hours_back > 6 * 24 { 0.08 } else { 0.0 };
            let share = 0.6
                + last_week
                + 0.25 * (std::f64::consts::TAU * (hour - 8.0 - i as f64 % 3.0) / 24.0).sin();
            let occupied = ((usable as f64) * share.clamp(0.0, 1.0)).round() as i64;
            let point = pf_live_state::TrendPoint {
                at,
                occupied,
                usable,
            };
            pipe.zadd(live.trend_key(code), point.member(), at).ignore();
            let day = system.entry(at).or_default();
            day.0 += occupied;
            day.1 += usable;
        }
        let () = pipe.query_async(&mut redis).await.unwrap();
    }
    let mut pipe = redis::pipe();
    for (at, (occupied, usable)) in system {
        let point = pf_live_state::TrendPoint {
            at,
            occupied,
            usable,
        };
        pipe.zadd(live.trend_key("system"), point.member(), at)
            .ignore();
    }
    let () = pipe.query_async(&mut redis).await.unwrap();
}

/// One ED attendance as the projection folds it: arrived `arrived_mins_ago`
/// (5 s past the minute), with a decision to admit or departed (admitted).
fn ed_update(
    now_ms: i64,
    site: &str,
    id: &str,
    version: u64,
    arrived_mins_ago: i64,
    dta: bool,
    departed: bool,
) -> Update {
    let arrived = now_ms - arrived_mins_ago * MIN_MS - 5_000;
    Update::Ed(Box::new(EdAttendanceUpdate {
        event_id: format!("ed-{id}-{version}"),
        event_type: "ed.wall-test".into(),
        entity_version: version,
        site: site.into(),
        attendance: id.into(),
        arrived_at_ms: arrived,
        decided_to_admit_at_ms: dta.then_some(arrived + 60 * MIN_MS),
        departed: departed.then_some((now_ms, Departure::Admitted)),
        occurred_at_ms: now_ms,
    }))
}

/// One ambulance arrival: waiting since `arrived_mins_ago`, or handed over
/// `handover` minutes after arriving.
fn ambulance_update(
    now_ms: i64,
    site: &str,
    id: &str,
    version: u64,
    arrived_mins_ago: i64,
    handover: Option<i64>,
) -> Update {
    let arrived = now_ms - arrived_mins_ago * MIN_MS - 5_000;
    Update::Ambulance(Box::new(AmbulanceUpdate {
        event_id: format!("amb-{id}-{version}"),
        event_type: "ambulance.wall-test".into(),
        entity_version: version,
        site: site.into(),
        arrival: id.into(),
        arrived_at_ms: arrived,
        handed_over_at_ms: handover.map(|m| arrived + m * MIN_MS),
        cleared_at_ms: None,
        occurred_at_ms: now_ms,
    }))
}

fn now_ms() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap()
}

/// A burst of ED and ambulance events at each acute site, folded into the
/// live state as pf-projection folds them. Round 0: patients in the
/// department for 30 min, 5 h (over 4 h) and 13 h 20 (over 12 h, waiting for a bed), more at each
/// further site; ambulances waiting 20 and 90 minutes, one handed over
/// after 75. Round 1 (while the page is open): the 5-hour patient at the
/// first site admitted, a new arrival and a new ambulance at each site.
/// Returns the burst's time, in ms.
async fn urgent_burst(platform: &Platform, round: u32) -> i64 {
    let now = now_ms();
    let mut updates = Vec::new();
    for (n, (_, _, code, _, _)) in sites().iter().filter(|s| s.3 == "acute").enumerate() {
        let c = code.as_str();
        if round == 0 {
            updates.push(ed_update(now, c, &format!("{c}-a"), 1, 30, false, false));
            updates.push(ed_update(now, c, &format!("{c}-b"), 1, 300, false, false));
            updates.push(ed_update(now, c, &format!("{c}-c"), 1, 800, true, false));
            for extra in 0..n {
                updates.push(ed_update(
                    now,
                    c,
                    &format!("{c}-x{extra}"),
                    1,
                    100,
                    extra % 2 == 0,
                    false,
                ));
            }
            updates.push(ambulance_update(now, c, &format!("{c}-v1"), 1, 20, None));
            updates.push(ambulance_update(now, c, &format!("{c}-v2"), 1, 90, None));
            updates.push(ambulance_update(now, c, &format!("{c}-v3"), 1, 120, None));
            updates.push(ambulance_update(
                now,
                c,
                &format!("{c}-v3"),
                2,
                120,
                Some(75),
            ));
        } else {
            if n == 0 {
                updates.push(ed_update(now, c, &format!("{c}-b"), 2, 300, true, true));
            }
            updates.push(ed_update(now, c, &format!("{c}-d"), 1, 5, false, false));
            updates.push(ambulance_update(now, c, &format!("{c}-v4"), 1, 2, None));
        }
    }
    // The ambulance service's own level, as its feed sets it.
    let (level, version) = if round == 0 { (3, 1) } else { (5, 2) };
    updates.push(Update::AmbulanceEscalation(Box::new(
        pf_live_state::AmbulanceEscalationUpdate {
            event_id: format!("escalation-{version}"),
            event_type: "ambulance.escalation_set".into(),
            entity_version: version,
            summary: urgent_care::EscalationSummary {
                service: "RX9".into(),
                scale: "reap".into(),
                level,
                set_ms: now,
            },
            occurred_at_ms: now,
        },
    )));
    let mut state = platform.live_state("pf:").await;
    state.apply_through(&updates, None).await.unwrap();
    now
}

/// The ED and ambulance figures compared on the page (the counts: the
/// longest wait and hours lost move with the clock).
const URGENT_FIELDS: [&str; 6] = [
    "in_department",
    "over_4h",
    "over_12h",
    "waiting_for_bed",
    "vehicles_waiting",
    "handovers_over_60",
];

/// The figures every scope (site code, `trust:<short name>`, `system`) must
/// show, from the projection's state: `{scope: {field: text, "pathways": {p: {field: text}}}}`.
async fn expected(platform: &Platform) -> Value {
    let mut live = platform.live_state("pf:").await;
    let snapshot = live.snapshot().await.unwrap();
    let now = time::OffsetDateTime::now_utc();
    let urgent = urgent_care::figures(
        &live
            .urgent_care(pf_live_state::discharge_counts::uk_date(now))
            .await
            .unwrap(),
        now_ms(),
    );
    let site_list = sites();
    let trust_of: BTreeMap<String, &str> = site_list
        .iter()
        .map(|(_, short, code, ..)| (code.clone(), *short))
        .collect();
    let plan: Value = serde_json::from_str(&plan()).unwrap();

    let mut beds: BTreeMap<String, Beds> = BTreeMap::new();
    for ((site, _ward), counters) in &snapshot.wards {
        for (field, &n) in counters {
            let (kind, state) = (field.kind.as_str(), field.state.as_str());
            let escalation = field.escalation;
            for scope in [
                site.clone(),
                format!("trust:{}", trust_of[site]),
                "system".into(),
            ] {
                let b = beds.entry(scope).or_default();
                *b.by_state.entry(state.to_owned()).or_default() += n;
                if escalation && state != "closed" {
                    b.escalation_open += n;
                }
                let k = b.by_kind.entry(kind.to_owned()).or_default();
                if state == "occupied" {
                    k.0 += n;
                }
                if state != "closed" {
                    k.1 += n;
                }
            }
        }
    }
    let today = pf_web::uk_time::date(time::OffsetDateTime::now_utc());
    let mut flow: BTreeMap<String, Flow> = BTreeMap::new();
    for record in snapshot.discharges.values() {
        let p = record.pathway.number() as usize;
        for scope in [
            record.site.clone(),
            format!("trust:{}", trust_of[&record.site]),
            "system".into(),
        ] {
            let f = flow.entry(scope).or_default();
            let waiting = matches!(
                record.status,
                DischargeStatus::Ready | DischargeStatus::Searching
            ) && record.ready <= today;
            if waiting {
                f.nctr += 1;
                f.delay_days += (today - record.ready).whole_days();
                f.waiting[p] += 1;
            }
            if record.status == DischargeStatus::Discharged && record.left_on == Some(today) {
                f.discharged[p] += 1;
            }
        }
    }
    let planned = |scope: &str| -> Option<[i64; 4]> {
        let codes: Vec<&String> = match scope {
            "system" => site_list.iter().map(|s| &s.2).collect(),
            s if s.starts_with("trust:") => site_list
                .iter()
                .filter(|x| format!("trust:{}", x.1) == s)
                .map(|x| &x.2)
                .collect(),
            _ => site_list
                .iter()
                .filter(|x| x.2 == scope)
                .map(|x| &x.2)
                .collect(),
        };
        let mut sum: Option<[i64; 4]> = None;
        for code in codes {
            if let Some(p) = plan["sites"][code.as_str()].as_object() {
                let s = sum.get_or_insert([0; 4]);
                for (k, v) in p {
                    s[k.parse::<usize>().unwrap()] += v.as_i64().unwrap();
                }
            }
        }
        sum
    };

    let mut scopes: Vec<String> = site_list.iter().map(|s| s.2.clone()).collect();
    scopes.extend(TRUSTS.iter().map(|(_, _, short)| format!("trust:{short}")));
    scopes.push("system".into());
    let mut out = Map::new();
    for scope in scopes {
        let b = beds.get(&scope).cloned().unwrap_or_default();
        let f = flow.get(&scope).cloned().unwrap_or_default();
        let state = |s: &str| b.by_state.get(s).copied().unwrap_or(0);
        let total: i64 = b.by_state.values().sum();
        let kind = |k: &str| b.by_kind.get(k).copied().unwrap_or((0, 0));
        let plan = planned(&scope);
        let text = |v: Option<i64>| v.map_or("–".to_owned(), |v| v.to_string());
        let mut fields = json!({
            "total": total.to_string(),
            "available": state("available").to_string(),
            "occupied": state("occupied").to_string(),
            "awaiting_clean": state("awaiting_clean").to_string(),
            "closed": state("closed").to_string(),
            "escalation_open": b.escalation_open.to_string(),
            "occupancy_pct": pct(state("occupied"), total - state("closed")),
            "ga_occupancy_pct": pct(kind("general_acute").0, kind("general_acute").1),
            "critical_care_occupancy_pct": pct(kind("adult_critical_care").0, kind("adult_critical_care").1),
            "nctr_patients": f.nctr.to_string(),
            "delay_days": f.delay_days.to_string(),
            "discharged_today": f.discharged.iter().sum::<i64>().to_string(),
            "expected_today": text(plan.map(|p| p.iter().sum())),
            "pathways": {},
        });
        if !scope.starts_with("trust:") {
            fields["reserved"] = json!(state("reserved").to_string());
        }
        if scope == "system" {
            let vw = kind("virtual_ward");
            fields["virtual_ward_occupied"] = json!(vw.0.to_string());
            fields["virtual_ward_capacity"] = json!(vw.1.to_string());
            fields["virtual_ward_occupancy_pct"] = json!(pct(vw.0, vw.1));
        }
        let acute = site_list.iter().any(|x| x.2 == scope && x.3 == "acute");
        if scope == "system" || acute {
            let figures =
                serde_json::to_value(urgent.get(&scope).cloned().unwrap_or_default()).unwrap();
            for field in URGENT_FIELDS {
                fields[field] = json!(figures[field].to_string());
            }
        }
        if scope == "system" {
            let system = urgent.get("system").cloned().unwrap_or_default();
            fields["ambulance_level"] = json!(system.ambulance_level.as_deref().unwrap_or("–"));
        }
        for p in 0..4 {
            fields["pathways"][p.to_string()] = json!({
                "discharged_today": f.discharged[p].to_string(),
                "expected_today": text(plan.map(|x| x[p])),
                "nctr_patients": f.waiting[p].to_string(),
            });
        }
        out.insert(scope, fields);
    }
    Value::Object(out)
}

/// A folder for the exchange with the browser side, removed afterwards.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("pf-wall-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write_atomically(path: &Path, value: &Value) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(value).unwrap()).unwrap();
    std::fs::rename(partial, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_site_on_the_wall_equals_the_projection_at_wall_and_phone_sizes() {
    let _turn = crate::one_at_a_time().await;
    let platform = Platform::start_with(&catalogue(), &plan()).await;
    let _ = TEST_REGISTER; // the care homes are the test register's
    let script = Script {
        platform: &platform,
        coordinator: platform.token_for(
            &Principal::person("coord-1", "Coordinator", None)
                .with_grant(Grant::parse(Role::DischargeCoordinator, &["RWE"]).unwrap()),
        ),
        feed: platform.token_for(
            &Principal::machine("feed", "Care records", None).with_grant(
                Grant::parse(
                    Role::VacancyPublisher,
                    &["1-000000001", "1-000000101", "1-000000102", "1-000000103"],
                )
                .unwrap(),
            ),
        ),
    };
    more_care_homes(&platform, &script.feed).await;
    seed_history(&platform).await;
    let opel = publish_pressure(&platform).await;

    // Sequence A: every site's beds in a mix of states, patients waiting and discharged.
    let mut scripted_occupied = 0;
    for (i, (_, _, code, kind, _)) in sites().iter().enumerate() {
        for (ward, _, beds, escalation) in wards(kind) {
            let escalation = if i < 2 { escalation } else { 0 };
            let codes = (1..=beds)
                .map(|n| format!("B{n:02}"))
                .chain((1..=escalation).map(|n| format!("E{n:02}")));
            for (j, bed) in codes.enumerate() {
                let address = format!("{code}/{ward}/{bed}");
                platform.open_bed(&address).await;
                let state = scripted_state(i, j);
                if state != "available" {
                    let (status, body) = platform.set_state(&address, state).await;
                    assert_eq!(status, 200, "{address} → {state}: {body}");
                }
                scripted_occupied += i64::from(state == "occupied");
            }
        }
    }
    // The discharges service's clock has stood still since the platform
    // started: set it to now, so that the patients are referred and leave on
    // the UK day the figures below are counted for.
    platform
        .clock
        .advance(time::OffsetDateTime::now_utc() - platform.clock.now());
    let waiting = [
        script.referral(1, "RWEAC0", 3, 6).await,
        script.referral(2, "RWEAC0", 1, 2).await,
        script.referral(3, "RWEAC1", 0, 0).await,
        script.referral(4, "RWEAC0", 2, 1).await,
    ];
    script.referral(5, "RWEAC2", 1, 0).await; // ready today: waiting, no delay day yet
    script.discharge_home(&waiting[1]).await;
    script.care_home_report(4).await;
    let burst = urgent_burst(&platform, 0).await;
    platform.wait_until_projected().await;
    let first = expected(&platform).await;
    // A handover counts on its vehicle's UK arrival day: in the first two
    // hours after UK midnight, v3 (handed over after 75 minutes, over 60)
    // counts on yesterday's.
    let uk_day = |ms: i64| {
        pf_live_state::discharge_counts::uk_date(
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap(),
        )
    };
    let v3_today = i64::from(uk_day(burst - 120 * MIN_MS - 5_000) == uk_day(burst));
    // The projection holds what the script did (so the page is checked against the truth).
    assert_eq!(first["system"]["occupied"], scripted_occupied.to_string());
    assert_eq!(first["system"]["nctr_patients"], "4");
    assert_eq!(first["RWEAC0"]["discharged_today"], "1");
    assert_eq!(first["RWEAC0"]["delay_days"], "7");
    // The burst as folded: 3 + 0, 3 + 1, 3 + 2 and 3 + 3 in the departments.
    assert_eq!(first["system"]["in_department"], "18");
    assert_eq!(first["RWEAC3"]["in_department"], "6");
    assert_eq!(first["system"]["over_12h"], "4");
    assert_eq!(first["RWEAC0"]["vehicles_waiting"], "2");
    assert_eq!(
        first["RWEAC0"]["handovers_over_60"],
        (1 + v3_today).to_string()
    );

    let work = WorkDir::new();
    write_atomically(&work.path().join("expected-a.json"), &first);
    // What the layout checks need: every site's name, the OPEL levels, the alerts.
    let names: Map<String, Value> = sites()
        .into_iter()
        .map(|(_, _, code, _, name)| (code, json!(name)))
        .collect();
    write_atomically(
        &work.path().join("layout.json"),
        &json!({
            "names": names,
            "opel": opel,
            "care_categories": CareCategory::ALL.len(),
            "latest_alert": ALERTS[ALERTS.len() - 1].2,
        }),
    );
    let session = platform
        .sign_in_store()
        .await
        .create_session(&demo("demo-control-room"))
        .await
        .unwrap();
    let dir = dashboards_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "dashboards/node_modules is missing: run the README's test command (it runs `npm ci` in dashboards/)"
    );
    let mut node = tokio::process::Command::new("node")
        .args(["--test", "--test-reporter=spec", "tests/wall.test.mjs"])
        .current_dir(&dir)
        .env("PF_GATEWAY_URL", &platform.gateway_url)
        .env("PF_SESSION_COOKIE", &session.id)
        .env("PF_WALL_WORK_DIR", work.path())
        .env(
            "PF_WALL_SITES",
            sites()
                .iter()
                .map(|s| s.2.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node is not installed: run the README's test command");

    // Sequence B, while the page is open: it must arrive without reload.
    let ready: PathBuf = work.path().join("ready-b");
    let deadline = Instant::now() + Duration::from_secs(180);
    while !ready.exists() {
        if let Ok(Some(status)) = node.try_wait() {
            let output = node.wait_with_output().await.unwrap();
            panic!(
                "the browser test ended ({status}) before the live part:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert!(
            Instant::now() < deadline,
            "the page never became ready for the live part"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (i, (_, _, code, kind, _)) in sites().iter().enumerate().step_by(3) {
        let (ward, ..) = wards(kind)[0];
        let (status, body) = platform
            .set_state(&format!("{code}/{ward}/B02"), "occupied")
            .await;
        assert!(status == 200 || status == 409, "site {i}: {body}");
        let (status, body) = platform
            .set_state(&format!("{code}/{ward}/B01"), "awaiting_clean")
            .await;
        assert!(status == 200 || status == 409, "site {i}: {body}");
    }
    script.discharge_home(&waiting[0]).await;
    script.referral(6, "RWEAC1", 3, 4).await;
    script.care_home_report(2).await;
    urgent_burst(&platform, 1).await;
    platform.wait_until_projected().await;
    let second = expected(&platform).await;
    assert_eq!(
        second["RWEAC0"]["in_department"], "3",
        "one admitted, one arrived"
    );
    assert_eq!(second["system"]["vehicles_waiting"], "12");
    assert_ne!(first, second, "sequence B changed nothing");
    write_atomically(&work.path().join("expected-b.json"), &second);

    let output = tokio::time::timeout(Duration::from_secs(300), node.wait_with_output())
        .await
        .expect("the browser test took more than 5 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "wall browser tests failed:\n{stdout}\n{stderr}"
    );
    println!("{stdout}");
}
