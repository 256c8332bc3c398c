//! The audit trail: every accepted change and every refused attempt, with
//! who (person and organisation), what, when, from where and the outcome,
//! kept in an append-only JetStream stream apart from the operational events.
//!
//! An action that cannot be audited does not happen: services record the
//! attempt first ([`AuditLog::attempt`]), act only once JetStream has stored
//! it, then record the outcome; when the attempt cannot be stored the
//! caller gets [`AuditUnavailable`] (503 with its sentence) and nothing
//! changes. Reads that must be audited (opening a patient's record) use
//! [`AuditLog::required`] the same way. Administrators query by person,
//! organisation, entity and time, and export CSV or JSON.
//!
//! The trail never holds patient data: records that look like they carry
//! an NHS number are refused. What a caller sends (user agent, address,
//! path segments, origins quoted in a reason) is cut and redacted
//! ([`guard::redact`]) when the record is made, so the guard only ever
//! refuses a bug in our own code, never what a caller sent.
//!
//! The stream is bounded by bytes and refuses records when full (never
//! dropping old ones); services export its usage and warn well before
//! ([`usage`]). Refusals are recorded within a per-client budget and
//! aggregated with a count beyond it ([`refusals`]).
//!
//! # Layout
//! - [`record`]: the record, [`AuditRecord`], and its parts (stored as
//!   JSON), and [`AuditRecord::check`], which refuses malformed records and
//!   any that look like they hold an NHS number.
//! - [`guard`]: spotting NHS-number-like digit runs in text, and
//!   [`guard::redact`], which cuts and redacts text from callers.
//! - [`stream`]: the `PF_AUDIT` stream (file storage, retention from
//!   [`AuditRetention`], default 8 years, no deletes or purges, bounded by
//!   [`AuditConfig::max_bytes`] with discard `new`), the
//!   `pf.audit.{organisation}.{actor}` subjects, and [`stream::ensure`].
//! - [`log`]: the writer and reader, [`AuditLog`], which stores a record
//!   with its id as `Nats-Msg-Id`, waits for the acknowledgement, and runs
//!   queries within a time limit; [`AuditLog::attempt`] and [`Attempt`]
//!   (attempt, act, outcome) and [`AuditUnavailable`].
//! - [`usage`]: the stream's used and maximum bytes as metrics, and a
//!   warning past [`usage::WARN_FRACTION`] of the bound.
//! - [`refusals`]: [`RefusalAudit`], refusals within a per-client budget,
//!   aggregated with a count (and 429) beyond it; [`TrustedProxies`], whose
//!   forwarded address names the client.
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
pub mod refusals;
pub mod stream;
pub mod usage;

pub use error::AuditError;
pub use log::{AUDIT_UNAVAILABLE, Attempt, AuditLog, AuditUnavailable, Audited};
pub use query::AuditQuery;
pub use record::{ActorKind, AuditActor, AuditRecord, AuditSource, Outcome, RecordError};
pub use refusals::{RefusalAudit, RefusalBudget, RefusalKind, TOO_MANY_REFUSALS, TrustedProxies};
pub use stream::{AuditConfig, AuditRetention};
