//! The hub: the one live model every client is served from.
//!
//! The feed folds changes into the hub; each change batch becomes one delta
//! frame, kept in a short history (for clients that resume) and broadcast.
//! A client's broadcast receiver is its bounded queue: a client that falls
//! more than the queue behind is told it lagged and is sent a fresh
//! snapshot, so a slow client never slows the others.
//!
//! Figures that move with the clock (ED waits, stale care homes, the day's
//! discharges, the day's handovers re-read when a new UK day begins) are
//! not a reason to resync anyone: the sites they changed
//! go out in the next delta, so resuming clients keep their history. Only in
//! a quiet system, where no delta has carried them for
//! [`QUIET_CLOCK_RESYNC`], does every client get a fresh snapshot instead
//! (a wall must not show a wait under four hours long after it passed).

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::ws::Utf8Bytes;
use time::OffsetDateTime;
use tokio::sync::broadcast;

use crate::control_room::{ControlRoom, NeedsSnapshot, Touched, UrgentCareRead};
use crate::notices::{self, Notice};
use crate::view::SiteView;
use pf_live_state::Change;

/// What clients receive from the hub.
#[derive(Debug, Clone)]
pub enum Frame {
    /// The changes after `from` up to `to`, encoded once for every client.
    Delta {
        /// Version the client must be at.
        from: u64,
        /// Version after it.
        to: u64,
        /// The JSON message.
        json: Utf8Bytes,
    },
    /// The model was replaced (rebuilt state, or a gap): every client needs
    /// a new snapshot.
    Resync,
}

/// How a new or resuming client starts.
#[derive(Debug)]
pub enum Start {
    /// Send this snapshot (version, JSON).
    Snapshot(u64, Utf8Bytes),
    /// Send these deltas; the client is then at the last one's version.
    Resume(Vec<(u64, Utf8Bytes)>),
    /// No state yet (Redis not reached).
    NotReady,
}

struct Inner {
    room: Option<ControlRoom>,
    history: VecDeque<(u64, u64, Utf8Bytes)>,
    snapshot: Option<(u64, Utf8Bytes)>,
    /// What the clock changed since the last delta: sent with the next one.
    clock: Touched,
    /// When the clock first changed figures no delta has carried yet.
    clock_since: Option<OffsetDateTime>,
}

/// How long figures the clock moved may wait for a delta to carry them
/// before every client is sent a fresh snapshot (a quiet system, e.g. at
/// night): two of the feed's 30-second refreshes.
pub const QUIET_CLOCK_RESYNC: time::Duration = time::Duration::seconds(60);

/// Shared by the feed, the page and every websocket client.
pub struct Hub {
    inner: Mutex<Inner>,
    sender: broadcast::Sender<Frame>,
    notices: broadcast::Sender<Arc<Vec<Notice>>>,
    history_len: usize,
}

impl Hub {
    /// A hub whose clients may fall `client_queue` frames behind, keeping
    /// `history_len` frames for resuming clients.
    pub fn new(client_queue: usize, history_len: usize) -> Self {
        let (sender, _) = broadcast::channel(client_queue.max(1));
        let (notices, _) = broadcast::channel(client_queue.max(1));
        Self {
            inner: Mutex::new(Inner {
                room: None,
                history: VecDeque::with_capacity(history_len),
                snapshot: None,
                clock: Touched::default(),
                clock_since: None,
            }),
            sender,
            notices,
            history_len,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere; the data is still consistent
        // because every update below is completed before the guard is dropped.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The model's version, if there is a model.
    pub fn version(&self) -> Option<u64> {
        self.lock().room.as_ref().map(ControlRoom::version)
    }

    /// Replaces the model (after a snapshot from Redis) and tells every
    /// client to start again.
    pub fn replace(&self, room: ControlRoom) {
        let mut inner = self.lock();
        inner.room = Some(room);
        inner.history.clear();
        inner.snapshot = None;
        inner.clock = Touched::default();
        inner.clock_since = None;
        let _ = self.sender.send(Frame::Resync);
        let _ = self.notices.send(Arc::new(vec![Notice::Resync]));
    }

    /// Brings the model's time-dependent figures up to `now`; returns
    /// whether any changed. The sites whose figures changed (and the care
    /// homes, and the system) go out with the next delta, like any change:
    /// no client is resynced, and the history stays good for resuming.
    pub fn refresh(&self, now: OffsetDateTime) -> bool {
        let mut inner = self.lock();
        let Some(room) = inner.room.as_mut() else {
            return false;
        };
        let before = room.site_views();
        let changed = room.refresh(now);
        if changed {
            let moved = moved_sites(&before, &room.site_views());
            inner.clock.care_homes = true;
            clock_moved(&mut inner, moved, now);
        }
        // A quiet system: no delta has carried them for a while, so every
        // client starts again from a fresh snapshot.
        if inner
            .clock_since
            .is_some_and(|since| now - since >= QUIET_CLOCK_RESYNC)
        {
            inner.history.clear();
            inner.snapshot = None;
            inner.clock = Touched::default();
            inner.clock_since = None;
            let _ = self.sender.send(Frame::Resync);
            return true;
        }
        changed
    }

    /// Whether the model's handover counters are not of `now`'s UK day (a
    /// new day began since they were read, or none were): the feed then
    /// re-reads the ED and ambulance state for the new day.
    pub fn needs_urgent_care(&self, now: OffsetDateTime) -> bool {
        self.lock()
            .room
            .as_ref()
            .is_some_and(|room| room.handovers_day() != Some(pf_web::uk_time::date(now)))
    }

    /// Takes the ED and ambulance state re-read with no change to carry it
    /// (a new UK day began); returns whether any figure changed. Like the
    /// figures the clock moves, the sites whose figures changed go out with
    /// the next delta, or in a fresh snapshot in a quiet system.
    pub fn renew_urgent_care(&self, urgent: UrgentCareRead, now: OffsetDateTime) -> bool {
        let mut inner = self.lock();
        let Some(room) = inner.room.as_mut() else {
            return false;
        };
        let before = room.site_views();
        let changed = room.set_urgent_care(urgent, now);
        if changed {
            let moved = moved_sites(&before, &room.site_views());
            clock_moved(&mut inner, moved, now);
        }
        changed
    }

    /// Folds changes into the model and sends one delta for them. `urgent`
    /// is the ED and ambulance state read after `changes` when any of them
    /// is of kind `urgent_care` (the delta carries its figures for the sites
    /// they touched and for the system; when it is of a new UK day, for
    /// every site whose handover figures changed too).
    pub fn publish(
        &self,
        changes: &[Change],
        urgent: Option<UrgentCareRead>,
        now: OffsetDateTime,
    ) -> Result<(), NeedsSnapshot> {
        let mut inner = self.lock();
        let clock = std::mem::take(&mut inner.clock);
        let Some(room) = inner.room.as_mut() else {
            return Err(NeedsSnapshot::Reset);
        };
        let from = room.version();
        let homes: BTreeSet<String> = changes
            .iter()
            .filter(|c| c.version() > from)
            .filter_map(|c| match c {
                Change::CareHome { record, .. } => Some(record.cqc().as_str().to_owned()),
                _ => None,
            })
            .collect();
        let before = notices::holds_before(room, homes);
        let mut touched = room.apply(changes)?;
        if let Some(urgent) = urgent {
            if room.handovers_day() == Some(urgent.day) {
                room.set_urgent_care(urgent, now);
            } else {
                // A new day's handover counters: sites the changes did not
                // touch may move too.
                let before = room.site_views();
                room.set_urgent_care(urgent, now);
                touched
                    .sites
                    .extend(moved_sites(&before, &room.site_views()));
            }
        }
        let notices = notices::after_batch(room, &before, &touched);
        if !notices.is_empty() {
            let _ = self.notices.send(Arc::new(notices));
        }
        let to = room.version();
        if to == from {
            inner.clock = clock;
            return Ok(());
        }
        // The figures the clock moved since the last delta go out with this one.
        touched.sites.extend(clock.sites);
        touched.care_homes |= clock.care_homes;
        touched.system |= clock.system;
        let occurred_at_ms = changes
            .iter()
            .filter(|c| c.version() > from)
            .filter_map(|c| match c {
                Change::Bed { occurred_at_ms, .. }
                | Change::CareHome { occurred_at_ms, .. }
                | Change::Discharge { occurred_at_ms, .. }
                | Change::Task { occurred_at_ms, .. } => Some(*occurred_at_ms),
                Change::UrgentCare { occurred_at_ms, .. } => Some(*occurred_at_ms),
                Change::Reset { .. } => None,
            })
            .min()
            .unwrap_or(0);
        let message = room.delta_message(from, &touched, occurred_at_ms, now);
        let json: Utf8Bytes = serde_json::to_string(&message).unwrap_or_default().into();
        inner.clock_since = None;
        if inner.history.len() >= self.history_len {
            inner.history.pop_front();
        }
        inner.history.push_back((from, to, json.clone()));
        inner.snapshot = None;
        let _ = self.sender.send(Frame::Delta { from, to, json });
        Ok(())
    }

    /// Subscribes a client: how it starts, and its queue of what follows.
    /// Both are taken under one lock, so nothing falls between them.
    pub fn subscribe(
        &self,
        since: Option<u64>,
        now: OffsetDateTime,
    ) -> (Start, broadcast::Receiver<Frame>) {
        let mut inner = self.lock();
        let receiver = self.sender.subscribe();
        let start = match since {
            Some(since) => match resume(
                &inner.history,
                since,
                inner.room.as_ref().map(ControlRoom::version),
            ) {
                Some(frames) => Start::Resume(frames),
                None => snapshot_start(&mut inner, now),
            },
            None => snapshot_start(&mut inner, now),
        };
        (start, receiver)
    }

    /// A snapshot now (for a client that lagged or must resync).
    pub fn snapshot(&self, now: OffsetDateTime) -> Start {
        snapshot_start(&mut self.lock(), now)
    }

    /// Runs `f` on the model (for rendering the page).
    pub fn with_room<T>(&self, f: impl FnOnce(&ControlRoom) -> T) -> Option<T> {
        self.lock().room.as_ref().map(f)
    }

    /// A discharge coordinator's queue of notices (see [`notices`]); a
    /// receiver that falls behind lags and must re-read everything.
    pub fn subscribe_notices(&self) -> broadcast::Receiver<Arc<Vec<Notice>>> {
        self.notices.subscribe()
    }

    /// Clients subscribed now.
    pub fn receivers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// The sites whose view is not the same `after` as `before`.
fn moved_sites(before: &[SiteView], after: &[SiteView]) -> BTreeSet<String> {
    after
        .iter()
        .filter(|site| !before.iter().any(|b| b == *site))
        .map(|site| site.code.clone())
        .collect()
}

/// Figures moved with no change to carry them (the clock, a new UK day's
/// handovers): the `moved` sites and the system go out with the next delta.
fn clock_moved(inner: &mut Inner, mut moved: BTreeSet<String>, now: OffsetDateTime) {
    inner.clock.sites.append(&mut moved);
    inner.clock.system = true;
    inner.clock_since.get_or_insert(now);
    // The snapshot kept for new clients is of the figures before.
    inner.snapshot = None;
}

fn snapshot_start(inner: &mut Inner, now: OffsetDateTime) -> Start {
    let Some(room) = inner.room.as_ref() else {
        return Start::NotReady;
    };
    if let Some((version, json)) = &inner.snapshot
        && *version == room.version()
    {
        return Start::Snapshot(*version, json.clone());
    }
    let json: Utf8Bytes = serde_json::to_string(&room.snapshot_message(now))
        .unwrap_or_default()
        .into();
    inner.snapshot = Some((room.version(), json.clone()));
    Start::Snapshot(room.version(), json)
}

/// The deltas after `since`, when the history reaches back to it.
fn resume(
    history: &VecDeque<(u64, u64, Utf8Bytes)>,
    since: u64,
    current: Option<u64>,
) -> Option<Vec<(u64, Utf8Bytes)>> {
    let current = current?;
    if since == current {
        return Some(Vec::new());
    }
    let first = history.iter().position(|(from, _, _)| *from == since)?;
    Some(
        history
            .iter()
            .skip(first)
            .map(|(_, to, json)| (*to, json.clone()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Noon on a UK day: the minutes the tests move the clock on stay on
    /// that day, so no figure moves because a new UK day began (the day the
    /// discharge figures count turns over at UK midnight).
    const NOON: OffsetDateTime = time::macros::datetime!(2026-11-30 12:00 UTC);

    /// A change of bed `B` on ward `W` at `site` that moves no counter.
    fn bed_touched(version: u64, site: &str, occurred_at_ms: i64) -> Change {
        Change::Bed {
            version,
            site: site.into(),
            ward: "W".into(),
            bed: "B".into(),
            from: None,
            to: None,
            occurred_at_ms,
        }
    }

    /// The ED and ambulance state as the feed reads it at `now`: with the
    /// handover counters of that UK day.
    fn read_on(now: OffsetDateTime, state: pf_live_state::UrgentCareState) -> UrgentCareRead {
        UrgentCareRead {
            day: pf_web::uk_time::date(now),
            state,
        }
    }

    fn hub_with_changes(n: u64) -> Hub {
        let hub = Hub::new(8, 4);
        hub.replace(ControlRoom::from_snapshot(
            Arc::new(crate::control_room::RoomSettings::default()),
            &Default::default(),
            NOON,
        ));
        for version in 1..=n {
            let change = Change::Bed {
                version,
                site: "S".into(),
                ward: "W".into(),
                bed: format!("B{version}"),
                from: None,
                to: Some(pf_live_state::CounterField::new(
                    pf_hospital_model::BedKind::Community,
                    pf_hospital_model::BedState::Available,
                    false,
                )),
                occurred_at_ms: 1,
            };
            hub.publish(&[change], None, NOON).expect("contiguous");
        }
        hub
    }

    #[test]
    fn a_client_resumes_from_history_or_gets_a_snapshot() {
        let hub = hub_with_changes(6);
        let now = NOON;
        // History keeps the last 4 deltas: versions 3..=6, starting from 2.
        match hub.subscribe(Some(3), now).0 {
            Start::Resume(frames) => assert_eq!(
                frames.iter().map(|f| f.0).collect::<Vec<_>>(),
                vec![4, 5, 6]
            ),
            other => panic!("expected resume, got {other:?}"),
        }
        match hub.subscribe(Some(6), now).0 {
            Start::Resume(frames) => assert!(frames.is_empty()),
            other => panic!("expected resume, got {other:?}"),
        }
        assert!(matches!(
            hub.subscribe(Some(1), now).0,
            Start::Snapshot(6, _)
        ));
        // A version this hub never had (e.g. another gateway's) gets a snapshot.
        assert!(matches!(
            hub.subscribe(Some(99), now).0,
            Start::Snapshot(6, _)
        ));
        assert!(matches!(hub.subscribe(None, now).0, Start::Snapshot(6, _)));
    }

    #[test]
    fn an_ed_arrival_goes_out_as_a_delta_with_the_sites_figures_not_a_resync() {
        let hub = hub_with_changes(2);
        let now = NOON;
        let (_, mut client) = hub.subscribe(None, now);
        let mut urgent = pf_live_state::UrgentCareState::default();
        let arrived_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).expect("now");
        urgent.ed.entry("S".into()).or_default().insert(
            "A1".into(),
            pf_live_state::urgent_care::EdSummary {
                arrived_ms: arrived_ms - 5 * 3_600_000,
                dta_ms: None,
            },
        );
        let change = Change::UrgentCare {
            version: 3,
            site: "S".into(),
            event_type: "ed_arrival".into(),
            occurred_at_ms: arrived_ms,
        };
        hub.publish(&[change], Some(read_on(now, urgent)), now)
            .expect("contiguous");
        match client.try_recv().expect("a frame") {
            Frame::Delta { from, to, json } => {
                assert_eq!((from, to), (2, 3));
                let message: serde_json::Value = serde_json::from_str(json.as_str()).expect("JSON");
                let site = &message["sites"][0];
                assert_eq!(site["code"], "S", "{message}");
                assert_eq!(site["in_department"], 1, "{message}");
                assert_eq!(site["over_4h"], 1, "{message}");
                assert_eq!(message["system"]["in_department"], 1, "{message}");
            }
            other => panic!("expected a delta, got {other:?}"),
        }
        // A client that was at version 2 resumes from history, no snapshot.
        assert!(matches!(hub.subscribe(Some(2), now).0, Start::Resume(f) if f.len() == 1));
    }

    /// A hub at version 3 whose last change is an ED arrival at site S of a
    /// patient who has waited a minute short of four hours; and now (also in
    /// milliseconds).
    fn a_patient_a_minute_short_of_four_hours() -> (Hub, OffsetDateTime, i64) {
        let hub = hub_with_changes(2);
        let now = NOON;
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).expect("now");
        let mut urgent = pf_live_state::UrgentCareState::default();
        urgent.ed.entry("S".into()).or_default().insert(
            "A1".into(),
            pf_live_state::urgent_care::EdSummary {
                arrived_ms: now_ms - 4 * 3_600_000 + 60_000,
                dta_ms: None,
            },
        );
        let change = Change::UrgentCare {
            version: 3,
            site: "S".into(),
            event_type: "ed_arrival".into(),
            occurred_at_ms: now_ms,
        };
        hub.publish(&[change], Some(read_on(now, urgent)), now)
            .expect("contiguous");
        (hub, now, now_ms)
    }

    #[test]
    fn in_a_quiet_system_a_clock_change_resyncs_every_client_after_a_minute() {
        let (hub, now, _) = a_patient_a_minute_short_of_four_hours();
        let (_, mut client) = hub.subscribe(Some(3), now);
        // The wait passes four hours; no event comes to carry it.
        let passed = now + time::Duration::minutes(2);
        assert!(hub.refresh(passed));
        assert!(!hub.refresh(passed + time::Duration::seconds(30)));
        assert!(
            matches!(
                client.try_recv(),
                Err(broadcast::error::TryRecvError::Empty)
            ),
            "not yet: a delta may still carry it"
        );
        assert!(hub.refresh(passed + QUIET_CLOCK_RESYNC));
        assert!(
            matches!(client.try_recv(), Ok(Frame::Resync)),
            "a fresh snapshot for every client"
        );
        match hub.snapshot(passed + QUIET_CLOCK_RESYNC) {
            Start::Snapshot(_, json) => {
                let message: serde_json::Value = serde_json::from_str(json.as_str()).expect("JSON");
                assert_eq!(message["system"]["over_4h"], 1, "{message}");
            }
            _ => panic!("a snapshot"),
        }
        // Once only.
        assert!(!hub.refresh(passed + QUIET_CLOCK_RESYNC + time::Duration::seconds(30)));
    }

    #[test]
    fn a_clock_change_goes_out_with_the_next_delta_not_a_resync() {
        let (hub, now, now_ms) = a_patient_a_minute_short_of_four_hours();
        let (_, mut client) = hub.subscribe(Some(3), now);
        // Two minutes on, the wait is over four hours: figures changed.
        let later = now + time::Duration::minutes(2);
        assert!(hub.refresh(later));
        assert!(
            matches!(
                client.try_recv(),
                Err(broadcast::error::TryRecvError::Empty)
            ),
            "no resync for a clock change"
        );
        // A client at version 2 still resumes from history.
        assert!(matches!(hub.subscribe(Some(2), later).0, Start::Resume(f) if f.len() == 1));
        // The next change (at another site) carries site S's new figures.
        let change = bed_touched(4, "T", now_ms);
        hub.publish(&[change], None, later).expect("contiguous");
        match client.try_recv().expect("a frame") {
            Frame::Delta { from, to, json } => {
                assert_eq!((from, to), (3, 4));
                let message: serde_json::Value = serde_json::from_str(json.as_str()).expect("JSON");
                let site = message["sites"]
                    .as_array()
                    .expect("sites")
                    .iter()
                    .find(|s| s["code"] == "S")
                    .unwrap_or_else(|| panic!("site S in {message}"));
                assert_eq!(site["over_4h"], 1, "{message}");
                assert_eq!(message["system"]["over_4h"], 1, "{message}");
                assert!(message.get("care_homes").is_some(), "{message}");
            }
            other => panic!("expected a delta, got {other:?}"),
        }
        // And only that one: the clock's figures are not repeated.
        let change = bed_touched(5, "T", now_ms);
        hub.publish(&[change], None, later).expect("contiguous");
        match client.try_recv().expect("a frame") {
            Frame::Delta { json, .. } => {
                let message: serde_json::Value = serde_json::from_str(json.as_str()).expect("JSON");
                assert!(
                    !message["sites"]
                        .as_array()
                        .expect("sites")
                        .iter()
                        .any(|s| s["code"] == "S"),
                    "{message}"
                );
            }
            other => panic!("expected a delta, got {other:?}"),
        }
    }

    /// Site S's handover counters as the live state keeps them for a day:
    /// handovers done, over 30 and over 60 minutes, seconds lost.
    fn handover_counters(
        handovers: i64,
        over_30: i64,
        over_60: i64,
        lost_secs: i64,
    ) -> pf_live_state::UrgentCareState {
        use pf_live_state::urgent_care::{HANDOVERS, LOST_SECS, OVER_30, OVER_60};
        let mut urgent = pf_live_state::UrgentCareState::default();
        urgent.today.insert(
            "S".into(),
            [
                (HANDOVERS, handovers),
                (OVER_30, over_30),
                (OVER_60, over_60),
                (LOST_SECS, lost_secs),
            ]
            .into_iter()
            .map(|(field, n)| (field.to_owned(), n))
            .collect(),
        );
        urgent
    }

    fn system_handovers(hub: &Hub, now: OffsetDateTime) -> (i64, i64, i64, f64) {
        let Start::Snapshot(_, json) = hub.snapshot(now) else {
            panic!("a snapshot");
        };
        let message: serde_json::Value = serde_json::from_str(json.as_str()).expect("JSON");
        let system = &message["system"];
        (
            system["handovers"].as_i64().unwrap_or(-1),
            system["handovers_over_30"].as_i64().unwrap_or(-1),
            system["handovers_over_60"].as_i64().unwrap_or(-1),
            system["hours_lost"].as_f64().unwrap_or(-1.0),
        )
    }

    /// Change `version`: an ambulance handed over at site S.
    fn handed_over(version: u64, occurred_at_ms: i64) -> Change {
        Change::UrgentCare {
            version,
            site: "S".into(),
            event_type: "ambulance.handed_over".into(),
            occurred_at_ms,
        }
    }

    #[test]
    fn after_uk_midnight_yesterdays_handovers_are_not_shown_as_todays() {
        let hub = hub_with_changes(2);
        let noon_ms = i64::try_from(NOON.unix_timestamp_nanos() / 1_000_000).expect("noon");
        // By noon site S handed over five patients: two took over 30
        // minutes, one of them over 60, and two hours were lost.
        hub.publish(
            &[handed_over(3, noon_ms)],
            Some(read_on(NOON, handover_counters(5, 2, 1, 7200))),
            NOON,
        )
        .expect("contiguous");
        assert_eq!(system_handovers(&hub, NOON), (5, 2, 1, 2.0));
        assert!(!hub.needs_urgent_care(NOON));
        let (_, mut client) = hub.subscribe(Some(3), NOON);

        // UK midnight passes (GMT in December) and no ambulance comes.
        let after_midnight = time::macros::datetime!(2026-12-01 00:00:30 UTC);
        assert!(hub.refresh(after_midnight));
        assert_eq!(
            system_handovers(&hub, after_midnight),
            (0, 0, 0, 0.0),
            "yesterday's handovers are not today's"
        );
        // The feed re-reads the state for the new day: one handover so far,
        // of 40 minutes (25 lost).
        assert!(hub.needs_urgent_care(after_midnight));
        assert!(hub.renew_urgent_care(
            read_on(after_midnight, handover_counters(1, 1, 0, 1500)),
            after_midnight
        ));
        assert!(!hub.needs_urgent_care(after_midnight));
        assert_eq!(system_handovers(&hub, after_midnight), (1, 1, 0, 0.4));
        assert!(
            matches!(
                client.try_recv(),
                Err(broadcast::error::TryRecvError::Empty)
            ),
            "no resync for a new day's figures"
        );
        // They go out with the next delta, for site S and the system.
        hub.publish(&[bed_touched(4, "T", noon_ms)], None, after_midnight)
            .expect("contiguous");
        match client.try_recv().expect("a frame") {
            Frame::Delta { json, .. } => {
                let message: serde_json::Value = serde_json::from_str(json.as_str()).expect("JSON");
                let site = message["sites"]
                    .as_array()
                    .expect("sites")
                    .iter()
                    .find(|s| s["code"] == "S")
                    .unwrap_or_else(|| panic!("site S in {message}"));
                assert_eq!(site["handovers"], 1, "{message}");
                assert_eq!(site["handovers_over_60"], 0, "{message}");
                assert_eq!(message["system"]["handovers"], 1, "{message}");
            }
            other => panic!("expected a delta, got {other:?}"),
        }
    }

    #[test]
    fn a_state_read_just_before_uk_midnight_is_read_again_for_the_new_day() {
        let hub = hub_with_changes(2);
        let before_midnight = time::macros::datetime!(2026-11-30 23:59:59 UTC);
        let after_midnight = time::macros::datetime!(2026-12-01 00:00:01 UTC);
        let ms = i64::try_from(after_midnight.unix_timestamp_nanos() / 1_000_000).expect("ms");
        // Read at 23:59:59 for an event folded in after midnight.
        hub.publish(
            &[handed_over(3, ms)],
            Some(read_on(before_midnight, handover_counters(5, 2, 1, 7200))),
            after_midnight,
        )
        .expect("contiguous");
        assert_eq!(
            system_handovers(&hub, after_midnight),
            (0, 0, 0, 0.0),
            "30 November's handovers are not 1 December's"
        );
        assert!(hub.needs_urgent_care(after_midnight));
    }

    #[test]
    fn a_slow_receiver_lags_instead_of_blocking_the_hub() {
        let hub = hub_with_changes(0);
        let (_, mut slow) = hub.subscribe(None, NOON);
        let more = hub_with_changes(0);
        drop(more);
        for version in 1..=20 {
            let change = bed_touched(version, "S", 0);
            hub.publish(&[change], None, NOON)
                .expect("publish never waits");
        }
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(_))
        ));
    }
}
