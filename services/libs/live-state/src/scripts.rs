//! The Lua scripts run atomically inside Redis, each in its own file under
//! `lua/`, loaded here by name. Each file's header says its KEYS and ARGV;
//! one Rust builder passes them to each (for `apply.lua`,
//! [`Plan::push_onto`](crate::fold::Plan::push_onto)).

/// Applies a batch of updates of any kind, in order and atomically: checks
/// each entity's version and writes what [`fold`](crate::fold::fold)
/// decided (`lua/apply.lua`).
pub const APPLY: &str = include_str!("../lua/apply.lua");

/// Reads occupancy history, read-only (`lua/read_trends.lua`).
pub const READ_TRENDS: &str = include_str!("../lua/read_trends.lua");

/// Reads every ward's counters, every care home's record and every
/// discharge's summary with the change version, read-only
/// (`lua/snapshot.lua`).
pub const SNAPSHOT: &str = include_str!("../lua/snapshot.lua");

/// Announces that the state was rebuilt (`lua/announce_reset.lua`).
pub const ANNOUNCE_RESET: &str = include_str!("../lua/announce_reset.lua");

/// Raises a stream's applied-through watermark, never lowers it
/// (`lua/raise_watermark.lua`).
pub const RAISE_WATERMARK: &str = include_str!("../lua/raise_watermark.lua");
