//! The audit trail: every accepted change and every refused attempt, with
//! who (person and organisation), what, when, from where and the outcome,
//! kept in an append-only JetStream stream apart from the operational events.
//!
//! Services record before they report success:
//! `AuditLog::record(AuditRecord::accepted(..))` returns once JetStream has
//! stored the record. Administrators query by person, organisation, entity
//! and time, and export CSV or JSON. The trail never holds patient data:
//! records that look like they carry an NHS number are refused.
//!
//! # Layout
//! - [`record`]: the record, [`AuditRecord`], and its parts (stored as
//!   JSON), and [`AuditRecord::check`], which refuses malformed records and
//!   any that look like they hold an NHS number.
//! - [`guard`]: spotting NHS-number-like digit runs in text.
//! - [`stream`]: the `PF_AUDIT` stream (file storage, retention from
//!   [`AuditRetention`], default 8 years, no deletes or purges), the
//!   `pf.audit.{organisation}.{actor}` subjects, and [`stream::ensure`].
//! - [`log`]: the writer and reader, [`AuditLog`], which stores a record
//!   with its id as `Nats-Msg-Id`, waits for the acknowledgement, and runs
//!   queries within a time limit.
//! - [`query`]: what to read, [`AuditQuery`], and how it reads the stream.
//! - [`export`]: CSV with a guard against formula injection
//!   ([`export::to_csv`]) and JSON ([`export::to_json`]).
//! - [`error`]: what went wrong, [`AuditError`].
#![forbid(unsafe_code)]

pub mod error;
pub mod export;
pub mod guard;
pub mod log;
pub mod query;
pub mod record;
pub mod stream;

pub use error::AuditError;
pub use log::AuditLog;
pub use query::AuditQuery;
pub use record::{ActorKind, AuditActor, AuditRecord, AuditSource, Outcome, RecordError};
pub use stream::{AuditConfig, AuditRetention};
