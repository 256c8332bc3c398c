//! The live state of the system, held in Redis.
//!
//! The projection writes it, the gateway reads it. Both go through this
//! crate so the key layout and the scripts exist once.
//!
//! # Layout
//! - [`keys`]: every Redis key, under a configurable prefix.
//! - [`scripts`]: the Lua scripts. `APPLY_BED` applies one bed event
//!   atomically: ignores it unless its entity version is newer, moves the
//!   bed between the ward/site/system counters, and appends a change with the
//!   next change version to the change log. `SNAPSHOT` reads every ward's
//!   counters, every care home's record and the change version in one atomic
//!   step. `APPLY_RECORD` replaces a care home's or a discharge's record and moves its
//!   contributions to the care-home totals, and keeps the geo index the
//!   distance search uses.
//! - [`store`]: [`LiveState`], the typed way to apply updates, take
//!   snapshots, follow the change log, wipe and compare state.
//! - [`change`]: [`Change`], one entry of the change log, and [`Counters`].
//! - [`trend`]: the occupancy history `APPLY_BED` keeps per site and for
//!   the system (bucketed by the events' own time, bounded), and
//!   [`TrendHistory`], what [`LiveState::trend_history`] reads back.
#![forbid(unsafe_code)]

pub mod change;
pub mod keys;
pub mod scripts;
pub mod store;
pub mod trend;

pub use change::{
    BedUpdate, CareHomeUpdate, Change, Counters, DischargeUpdate, Snapshot, Update, WardKey,
};
pub use keys::Keys;
pub use store::{Applied, LiveState, LiveStateError, StateDigest, differences};
pub use trend::{SYSTEM_SCOPE, TrendHistory, TrendPoint, TrendSettings};
