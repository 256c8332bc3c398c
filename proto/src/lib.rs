//! Patient Flow events, defined once in `proto/patientflow/v1/*.proto`.
//!
//! # Layout
//! - [`v1`]: the generated protobuf types: [`v1::EventEnvelope`] and the bed
//!   payloads ([`v1::BedOpened`], [`v1::BedStateChanged`], [`v1::BedWithdrawn`]).
//! - [`envelope`]: building an envelope (UUIDv7 id, timestamps) and reading
//!   its payload back with clear errors.
//!
//! The envelope is the contract between producers, the event log (NATS
//! JetStream), the projection and the audit trail: every event, whatever its
//! payload, says what changed (entity id and version), when, by whom and where
//! it came from.
#![forbid(unsafe_code)]

/// Generated protobuf types, package `patientflow.v1`.
#[allow(missing_docs, clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/patientflow.v1.rs"));
}

pub mod envelope;

pub use envelope::{EnvelopeError, NewEvent};
