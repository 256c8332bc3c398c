//! Why recording or reading the audit trail failed.

use crate::record::RecordError;

/// Recording or reading the audit trail failed.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The record may not be stored (see [`RecordError`]); nothing was sent.
    #[error(transparent)]
    Invalid(#[from] RecordError),
    /// JetStream did not confirm in time or could not be reached. The record
    /// may or may not be stored; sending the same record again within the
    /// duplicate window (2 minutes) is safe.
    #[error("the audit trail did not confirm the record: {0}")]
    Unconfirmed(String),
    /// JetStream refused the record or the query.
    #[error("the audit trail refused: {0}")]
    Refused(String),
    /// The audit trail could not be read.
    #[error("the audit trail could not be read: {0}")]
    Unavailable(String),
    /// A stored record does not decode. Only this crate writes the stream,
    /// so this means the stream was written by something else.
    #[error("the audit record at stream sequence {sequence} is unreadable: {cause}")]
    Corrupt {
        /// Its stream sequence.
        sequence: u64,
        /// Why it does not decode.
        cause: String,
    },
    /// The query ran out of time before reaching its end; narrow it by
    /// person, organisation or time range.
    #[error("the audit query took too long; narrow it by person, organisation or time")]
    TimedOut,
}
