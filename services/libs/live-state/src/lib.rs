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
//! - [`scripts`]: the Lua scripts. `APPLY_BED` applies one bed event
//!   atomically: ignores it unless its entity version is newer, moves the
//!   bed between the ward/site/system counters, and appends a change with the
//!   next change version to the change log. `SNAPSHOT` reads every ward's
//!   counters, every care home's record, every discharge's summary and the
//!   change version in one atomic step. `APPLY_RECORD` replaces a care
//!   home's record and moves its contributions to the care-home totals, and
//!   keeps the geo index the distance search uses. `APPLY_DISCHARGE` replaces
//!   a discharge's record (patient prefix) and its summary (live prefix),
//!   moves its contributions to the discharge totals, and appends the change
//!   to the count feed (summary only) and to the discharge views' notices
//!   (patient prefix).
//! - [`store`]: [`LiveState`], the typed way to apply updates, take
//!   snapshots, follow the change log, wipe and compare state.
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
//! - [`trend`]: the occupancy history `APPLY_BED` keeps per site and for
//!   the system (bucketed by the events' own time, bounded), and
//!   [`TrendHistory`], what [`LiveState::trend_history`] reads back.
#![forbid(unsafe_code)]

pub mod change;
pub mod counter;
pub mod discharge_counts;
pub mod keys;
pub mod scripts;
pub mod store;
pub mod trend;

pub use change::{
    BedUpdate, CareHomeUpdate, Change, DischargeUpdate, PatientNotice, Snapshot, Update, WardKey,
};
pub use counter::{CounterField, CounterFieldError, Counters};
pub use discharge_counts::{DischargeCounts, DischargeSummary, PathwayCounts};
pub use keys::Keys;
pub use store::{Applied, LAYOUT, LiveState, LiveStateError, StateDigest, differences};
pub use trend::{SYSTEM_SCOPE, TrendHistory, TrendPoint, TrendSettings};
