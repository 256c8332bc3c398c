//! The event log: Patient Flow's events on NATS JetStream.
//!
//! # Layout
//! - [`connection`]: [`NatsSettings`]: connecting as the service's own
//!   NATS user.
//! - [`streams`]: the streams (`PF_BEDS`, `PF_CARE_HOMES`, `PF_DISCHARGES`,
//!   `PF_TASKS`, `PF_URGENT_CARE`, `PF_DEAD_LETTERS`, `PF_SYSTEM`, `PF_ALERTS`), their subjects and
//!   durability settings; [`streams::ensure`], which only their owner
//!   (`pf-streams`) calls, and [`streams::wait_for`], which services call.
//! - [`publisher`]: [`EventPublisher`] publishes an envelope and waits for
//!   JetStream's acknowledgement, with the event id as `Nats-Msg-Id` and,
//!   when asked, the entity's expected last sequence (optimistic concurrency).
//! - [`entity`]: reading an entity's newest event back from its subject.
//! - [`change`]: [`EntityLog::change`], the one read-decide-publish loop
//!   every producer changes its entities with: read the newest event, let
//!   the caller decide, publish with the expected last sequence, decide again
//!   when another change got in first, give up as contended past a limit.
//! - [`dead_letter`]: parking an event that cannot be used, with its reason.
#![forbid(unsafe_code)]

pub mod change;
pub mod connection;
pub mod dead_letter;
pub mod entity;
pub mod publisher;
pub mod streams;

pub use change::{ChangeError, Changed, ContentionLimit, Decision, EntityLog, StoredEvent};
pub use connection::{NatsSettings, NatsSettingsError};
pub use dead_letter::DeadLetters;
pub use entity::{LatestEvent, latest_event};
pub use publisher::{EventPublisher, PublishFailure, Published};
pub use streams::{Durability, StreamSpec};
