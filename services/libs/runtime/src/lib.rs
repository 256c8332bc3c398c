//! What every Patient Flow service shares.
//!
//! # Layout
//! - [`config`]: reading settings from the environment with local defaults
//!   and errors that name the variable.
//! - [`telemetry`]: `tracing` set-up (`RUST_LOG`, `PF_LOG_FORMAT=json`).
//! - [`shutdown`]: a [`CancellationToken`](tokio_util::sync::CancellationToken)
//!   cancelled on SIGTERM or Ctrl-C, so every task stops cleanly.
//! - [`ops`]: `/healthz`, `/readyz` (with the active/standby role, if any)
//!   and `/metrics`, and per-route HTTP
//!   request metrics, merged into each service's router.
//! - [`redact`]: server URLs without their passwords, for errors and logs.
//! - [`redis`]: the Redis connection every service uses: one server, or the
//!   primary the Sentinels name (`redis+sentinel://`), followed on failover.
#![forbid(unsafe_code)]

pub mod config;
pub mod ops;
pub mod redact;
pub mod redis;
pub mod shutdown;
pub mod telemetry;

pub use config::{ConfigError, env_or};
pub use ops::{HttpMetrics, Readiness};
pub use redact::redact_url;
pub use redis::{RedisConnection, RedisTarget};
