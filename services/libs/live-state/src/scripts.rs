//! The Lua scripts run atomically inside Redis, each in its own file under
//! `lua/`, loaded here by name. Each file's header says its KEYS and ARGV.
//! Applying events needs none but the rare [`CLOSE_BUCKET`]: the
//! [`writer`](crate::writer) decides in Rust and sends plain commands.

/// Closes a scope's newest occupancy-history bucket inside a batch's
/// transaction (`lua/close_bucket.lua`).
pub const CLOSE_BUCKET: &str = include_str!("../lua/close_bucket.lua");

/// Reads occupancy history, read-only (`lua/read_trends.lua`).
pub const READ_TRENDS: &str = include_str!("../lua/read_trends.lua");

/// Reads every ward's counters, every care home's record and every
/// discharge's summary with the change version, read-only
/// (`lua/snapshot.lua`).
pub const SNAPSHOT: &str = include_str!("../lua/snapshot.lua");

/// Announces that the state was rebuilt (`lua/announce_reset.lua`).
pub const ANNOUNCE_RESET: &str = include_str!("../lua/announce_reset.lua");
