//! The live state of the system, held in Redis.
//!
//! The projection writes it; the gateway, pressure and the discharges
//! service read it. All go through this crate so the key layout and the
//! scripts exist once. Patient-identifiable data (discharge records) lives
//! under a prefix of its own that only the projection and the discharges
//! service may touch; the wall and pressure read de-identified summaries
//! and counts (see [`discharge_counts`]).
//!
//! # Layout
//! - [`keys`]: every Redis key, under a configurable live prefix and a
//!   patient prefix beside it.
//! - [`fold`]: the one fold: what an update of any kind writes (the
//!   entity's hash, its contributions to the bed counters and the occupancy
//!   figures, indexes, the change-log entry, the patient notice, the
//!   occupancy history), decided in Rust.
//! - [`writer`]: the one writer: reads what a batch's entities hold, decides
//!   in Rust what applying the batch's plans in order leaves (an event not
//!   newer than the stored version changes nothing; counter moves are
//!   summed over the batch and written once) and writes it in one
//!   transaction, guarded by `WATCH` against any other writer.
//! - [`scripts`]: the Lua scripts, each in its own file under `lua/`:
//!   `close_bucket.lua` closes an occupancy-history bucket inside the
//!   writer's transaction; `snapshot.lua` reads every ward's counters, every
//!   care home's record, every discharge's summary and the change version
//!   in one atomic step; `read_trends.lua` reads the occupancy history;
//!   `announce_reset.lua`.
//! - [`store`]: [`LiveState`], the typed way to apply updates, take
//!   snapshots, read beds ([`LiveBed`]), follow the change log, wipe and compare state.
//! - [`change`]: [`Change`], one entry of the change log (the count feed),
//!   and [`PatientNotice`], one of the discharge views' notices.
//! - [`counter`]: [`CounterField`], the one definition of the bed counter
//!   field `{kind}:{state}[:escalation]`, [`Counters`] and the figures
//!   summed from them (`pf_hospital_model::figures` holds the occupancy
//!   rule).
//! - [`discharge_counts`]: [`DischargeSummary`], what the counts need of one
//!   discharge, and [`discharge_counts::count`], the one definition of the
//!   discharge figures (NCTR patients, delay days, discharges today) the
//!   wall and pressure share.
//! - [`urgent_care`]: ED attendances and ambulance arrivals as the fold
//!   takes them ([`EdAttendanceUpdate`], [`AmbulanceUpdate`]), what is kept
//!   of them (attendances in the department, vehicles waiting, each day's
//!   handover counters) and [`urgent_care::figures`], the one definition of
//!   the ED and ambulance figures (in department, over 4 h / 12 h, waiting
//!   for a bed, longest wait, handovers over 30 / 60 min, hours lost).
//! - [`trend`]: the occupancy history a bed's update keeps per site and for
//!   the system (bucketed by the events' own time, bounded), and
//!   [`TrendHistory`], what [`LiveState::trend_history`] reads back.
#![forbid(unsafe_code)]

pub mod change;
pub mod counter;
pub mod discharge_counts;
pub mod fold;
pub mod keys;
pub mod scripts;
pub mod store;
pub mod trend;
pub mod urgent_care;
pub mod writer;

pub use change::{
    BedUpdate, CareHomeUpdate, Change, DischargeUpdate, ItemUpdate, PatientNotice, Snapshot,
    TeamsUpdate, Update, WardKey,
};
pub use counter::{CounterField, CounterFieldError, Counters};
pub use discharge_counts::{DischargeCounts, DischargeSummary, PathwayCounts};
pub use keys::Keys;
pub use store::{Applied, LAYOUT, LiveBed, LiveState, LiveStateError, StateDigest, differences};
pub use trend::{SYSTEM_SCOPE, TrendHistory, TrendPoint, TrendSettings};
pub use urgent_care::{
    AmbulanceEscalationUpdate, AmbulanceUpdate, EdAttendanceUpdate, UrgentCareFigures,
    UrgentCareState,
};
pub use writer::PreparedBatch;
