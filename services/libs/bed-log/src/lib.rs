//! A bed's events: what a bed is now and how it may change, for every
//! producer of bed events (the hospital-beds HTTP API, hospital feeds).
//!
//! The bed's newest event is the truth about it: every bed event carries the
//! bed's whole resulting record. A change is decided against that record and
//! published with the sequence it was decided from, through
//! [`pf_event_log::EntityLog::change`]; when another change to the bed got
//! in first, it is decided again.
//!
//! # Layout
//! - [`record`]: [`BedRecord`], a bed's current record read from its newest
//!   event, [`BedChange`], and [`decide`], which turns a requested change into
//!   an event payload or a [`BedChangeError`] saying why it may not be made.
//! - [`log`]: [`BedLog`], reading a bed's record and making a change (or,
//!   with [`BedLog::change_at_version`], a change made against a version), with
//!   [`BedChanged`] (what was stored) and [`BedLogError`].
#![forbid(unsafe_code)]

pub mod log;
pub mod record;

pub use log::{BedChanged, BedLog, BedLogError, CONFLICT_ATTEMPTS, subject};
pub use record::{BedChange, BedChangeError, BedRecord, decide};
