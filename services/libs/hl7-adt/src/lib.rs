//! HL7 v2 ADT messages for Patient Flow: from the bytes a trust's
//! integration engine sends to the bed changes they mean.
//!
//! # Layout
//! - [`message`]: parsing a message (2.3–2.8, `\r`/`\n`/`\r\n` segment ends,
//!   repeats, Z-segments ignored) into an [`AdtMessage`]: header, trigger,
//!   EVN times, PID-3 identifiers with the NHS number apart (authority `NHS`,
//!   type `NH`/`HN`, modulus-11 checked), PV1/PV2 locations and visit number,
//!   A17's two patients, A20's NPU, A40's MRG.
//! - [`escape`]: HL7 escape sequences, both ways.
//! - [`timestamp`]: HL7 timestamps; without an offset they are Europe/London
//!   (the UK summer-time rule carried here, changeover hours tested).
//! - [`ack`]: building the ACK (`AA`/`AE`/`AR`, MSA-3, ERR).
//! - [`mapping`]: the feeds file: which feed a message is from and where its
//!   locations are in the catalogue (wildcards, a default, unknown refused).
//! - [`rules`]: the state machine from a mapped message, the visit index and
//!   the beds' records to bed changes, with who owns which state.
//! - [`discharge`]: where a discharged patient went (PV1-36/PV1-37, NHS
//!   discharge destination codes), for joining the discharge list.
//! - [`ed`]: which messages are ED attendance events (patient class `E`):
//!   arrival, departure admitted/discharged/transferred.
#![forbid(unsafe_code)]

pub mod ack;
pub mod discharge;
pub mod ed;
pub mod escape;
pub mod mapping;
pub mod message;
pub mod rules;
pub mod timestamp;

pub use message::{AdtMessage, MessageError, Trigger, parse};
